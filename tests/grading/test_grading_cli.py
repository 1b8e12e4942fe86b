"""The command line: usage errors, exit codes, timeouts, --docker, and the pieces that
need no kernel (intake of broken files, the verdict channel's checks)."""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import shlex
import socket
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from course_tools.grading import cli, core
from grading.grading_cases import notebook, read_gradebook, run_tool


def test_help():
    proc = run_tool("--help")
    assert proc.returncode == 0
    for word in ("--jobs", "--timeout", "--memory-mb", "--redo", "--docker", "flagged", "Exit status"):
        assert word in proc.stdout


def test_unknown_assignment_is_a_tool_error(tmp_path):
    (tmp_path / "a.ipynb").write_text("{}")
    proc = run_tool("hw404", tmp_path)
    assert proc.returncode == 2
    assert "no autograder zip" in proc.stderr


def test_no_submissions_is_a_tool_error(fixhw, tmp_path):
    (tmp_path / "readme.txt").write_text("no notebooks here")
    proc = run_tool("fixhw", tmp_path, "--autograder", fixhw["zip"])
    assert proc.returncode == 2
    assert "no submissions" in proc.stderr and "1 other files ignored" in proc.stderr
    proc = run_tool("fixhw", tmp_path / "missing", "--autograder", fixhw["zip"])
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr


def test_bad_arguments(fixhw, tmp_path):
    assert run_tool("fixhw", tmp_path, "--jobs", 0).returncode == 2
    assert run_tool("fixhw", tmp_path, "--dry-run").returncode == 2


def test_a_bad_batch_still_exits_zero(fixhw, tmp_path):
    """Only invalid submissions (no kernel started): rows, exit 0; an explicit odd file too."""
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "x.ipynb").write_text("nope")
    essay = tmp_path / "essay.txt"
    essay.write_text("I did not do the homework")
    out = tmp_path / "gb.csv"
    proc = run_tool("fixhw", tmp_path / "subs", essay, "--autograder", fixhw["zip"], "--out", out)
    assert proc.returncode == 0, proc.stderr
    rows = read_gradebook(out)
    assert rows["x.ipynb"]["status"] == rows["essay.txt"]["status"] == "invalid"
    assert "0 graded" in proc.stdout and "2 invalid" in proc.stdout


@pytest.mark.slow
def test_infinite_loop_times_out_and_everything_dies(fixhw, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(notebook(fixhw["solution"], append=["while True:\n    pass"]), subs / "loop.ipynb")
    out = tmp_path / "gb.csv"
    t0 = time.monotonic()
    proc = run_tool("fixhw", subs, "--autograder", fixhw["zip"], "--out", out, "--timeout", 25,
                    "--no-progress")
    assert time.monotonic() - t0 < 120
    assert proc.returncode == 0, proc.stderr
    row = read_gradebook(out)["loop.ipynb"]
    assert row["status"] == "timeout" and float(row["total"]) == 0
    assert "timed out after 25 s" in row["message"]
    # nothing of it is left running: no process has the work folder as its cwd
    rec = json.loads(next((tmp_path / "results").glob("*.json")).read_text())
    assert rec["timed_out"] is True
    assert rec["kernel_pid"]
    status = Path(f"/proc/{rec['kernel_pid']}/status")  # the kernel died with its process group
    if status.exists():  # gone, or a zombie waiting for init to reap it
        state = [line for line in status.read_text().splitlines() if line.startswith("State:")]
        assert state and "Z" in state[0].split()[1], state


def test_docker_dry_run_prints_the_otter_grade_command(fixhw, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(notebook(fixhw["solution"]), subs / "good.ipynb")
    (subs / "bad.ipynb").write_text("not json")
    out = tmp_path / "grades" / "gb.csv"
    proc = run_tool("fixhw", subs, "--autograder", fixhw["zip"], "--out", out, "--docker", "--dry-run",
                    "--jobs", 3, "--timeout", 300)
    assert proc.returncode == 0, proc.stderr
    assert "would stage 1 notebook(s)" in proc.stdout and "1 invalid" in proc.stdout
    cmd = shlex.split(proc.stdout.strip().splitlines()[-1])
    assert cmd[1:4] == ["-m", "otter", "grade"]
    opts = dict(zip(cmd[4::1], cmd[5::1]))
    assert opts["-a"] == str(fixhw["zip"]) and opts["-n"] == "fixhw"
    assert opts["-o"] == str(out.parent / "docker-out")
    assert opts["--containers"] == "3" and opts["--timeout"] == "300" and opts["--ext"] == "ipynb"
    assert "--summaries" in cmd and cmd[-1] == str(out.parent / "docker-staging")
    assert not (out.parent / "docker-staging").exists()  # a dry run stages nothing


def test_docker_results_convert_to_the_same_gradebook(fixhw, tmp_path):
    """otter grade's final_grades.csv (built with otter's own merge) -> our rows."""
    from otter.grade.utils import merge_scores_to_df
    from otter.test_files import GradingResults
    from otter.test_files.abstract_test import TestCase, TestCaseResult
    from otter.test_files.ok_test import OKTestFile

    a = core.load_assignment("fixhw", fixhw["zip"])
    staged = {}
    results = []
    for name, passed in (("ann", [True, True, True]), ("bob", [True, False, False])):
        sub = core.Submission(f"{name}.ipynb", tmp_path / f"{name}.ipynb")
        staged[sub.slug] = (sub, None)
        files = []
        for q, ok in zip(a.questions, passed):
            tc = TestCase(q, ">>> True", False, a.max_points[q], None, None)
            tf = OKTestFile(q, f"tests/{q}.py", [tc], all_or_nothing=False)
            tf.test_case_results = [TestCaseResult(tc, "", ok)]
            files.append(tf)
        gr = GradingResults(files)
        gr.file = f"/autograder/submission/{sub.slug}.ipynb"
        results.append(gr)
    csv_path = tmp_path / "final_grades.csv"
    merge_scores_to_df(results).to_csv(csv_path, index=False)
    recs = {r["submission"]: r for r in cli.from_otter_csv(csv_path, a, staged)}
    assert recs["ann.ipynb"]["total"] == 5 and recs["ann.ipynb"]["status"] == "graded"
    assert recs["bob.ipynb"]["scores"] == {"q1": 2.0, "q2": 0.0, "q3": 0.0}
    header, rows = core.gradebook_rows([recs["ann.ipynb"], recs["bob.ipynb"]], a)
    assert header == ["submission", "status", "total", "max", "q1", "q2", "q3", "message"]
    assert rows[1][:7] == ["bob.ipynb", "graded", "2", "5", "2", "0", "0"]


# ------------------------------------------------------------------ no kernel
def test_discover_recurses_and_skips_hidden(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.ipynb").write_text("{}")
    (tmp_path / "a" / "y.zip").write_bytes(b"")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")
    (tmp_path / "notes.md").write_text("")
    subs, ignored = core.discover([str(tmp_path)])
    assert [s.id for s in subs] == ["a/b/x.ipynb", "a/y.zip"] and ignored == 1


def test_zip_bomb_and_size_limits(fixhw, tmp_path, monkeypatch):
    a = core.load_assignment("fixhw", fixhw["zip"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("fixhw.ipynb", "{}")
        z.writestr("zeros.bin", b"\0" * (core.MAX_ZIP_TOTAL + 1))
    (tmp_path / "bomb.zip").write_bytes(buf.getvalue())
    with pytest.raises(core.Invalid, match="expands to more than"):
        core.prepare(core.Submission("bomb.zip", tmp_path / "bomb.zip"), a)
    monkeypatch.setattr(core, "MAX_SUBMISSION_BYTES", 10)
    (tmp_path / "big.ipynb").write_text("{" + " " * 20 + "}")
    with pytest.raises(core.Invalid, match="too large"):
        core.prepare(core.Submission("big.ipynb", tmp_path / "big.ipynb"), a)


def test_prepare_rewrites_the_kernel_on_a_copy(fixhw, tmp_path):
    a = core.load_assignment("fixhw", fixhw["zip"])
    path = tmp_path / "k.ipynb"
    nbformat.write(notebook(fixhw["solution"], meta={"kernelspec": {"name": "ir", "language": "R"}}), path)
    before = path.read_bytes()
    prep = core.prepare(core.Submission("k.ipynb", path), a)
    assert prep.notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert any("'ir' replaced" in n for n in prep.notes)
    assert path.read_bytes() == before


def _channel_with(lines_for):
    key = b"k" * 32
    ch = core.Channel(key)
    ch.start()
    s = socket.create_connection(("127.0.0.1", ch.port))
    for line in lines_for(key):
        s.sendall(line)
    s.close()
    ch.join(timeout=5)
    return ch


def _msg(key, seq, kind, payload, forge=False):
    body = repr((seq, kind, payload)).encode()
    mac = hmac.new(b"x" * 32 if forge else key, body, hashlib.sha256).hexdigest()
    return (mac + " " + body.hex() + "\n").encode()


def test_channel_accepts_signed_messages_in_order():
    ch = _channel_with(lambda k: [_msg(k, 1, "armed", {}), _msg(k, 2, "final", {"questions": []})])
    assert [m[0] for m in ch.messages] == ["armed", "final"] and not ch.problems


def test_channel_reports_forged_reordered_and_malformed_messages():
    ch = _channel_with(lambda k: [_msg(k, 1, "armed", {}), _msg(k, 2, "final", {}, forge=True),
                                  _msg(k, 3, "final", {}), b"garbage\n"])
    assert "a forged message on the grader's channel" in ch.problems
    assert any("out of sequence" in p for p in ch.problems)
    assert "a malformed message on the grader's channel" in ch.problems


def test_channel_takes_one_connection_only():
    ch = core.Channel(b"k" * 32)
    ch.start()
    first = socket.create_connection(("127.0.0.1", ch.port))
    time.sleep(1.0)
    with pytest.raises(OSError):
        second = socket.create_connection(("127.0.0.1", ch.port), timeout=2)
        second.sendall(b"x\n")
        second.recv(1)  # refused or reset: the listener is gone
        raise OSError("second connection was served")
    first.close()
    ch.join(timeout=5)
