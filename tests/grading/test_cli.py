"""The command line (``cli``): usage errors, exit codes, timeouts and --docker."""
from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import nbformat
import pytest

from course_tools.grading import cli
from course_tools.grading.assignment import load_assignment
from course_tools.grading.intake import Submission
from course_tools.grading.record import header
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

    a = load_assignment("fixhw", fixhw["zip"])
    staged = {}
    results = []
    for name, passed in (("ann", [True, True, True]), ("bob", [True, False, False])):
        sub = Submission(f"{name}.ipynb", tmp_path / f"{name}.ipynb")
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
    recs = {r.submission: r for r in cli.from_otter_csv(csv_path, a, staged)}
    assert recs["ann.ipynb"].total == 5 and recs["ann.ipynb"].status == "graded"
    assert recs["bob.ipynb"].scores == {"q1": 2.0, "q2": 0.0, "q3": 0.0}
    assert header(a.questions) == ["submission", "status", "total", "max", "q1", "q2", "q3", "message"]
    assert recs["bob.ipynb"].row(a.questions)[:7] == ["bob.ipynb", "graded", "2", "5", "2", "0", "0"]




@pytest.mark.slow
def test_ctrl_c_kills_every_kernel_and_keeps_what_was_graded(fixhw, tmp_path):
    """SIGINT while two kernels loop: exit 130, and no process the tool started survives."""
    import signal
    import subprocess
    import sys

    from course_tools.grading.sandbox import descendants
    from grading.grading_cases import REPO, tool_env

    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("a", "b"):
        nbformat.write(notebook(fixhw["solution"], append=["import subprocess, sys\n"
                                                           "subprocess.Popen([sys.executable, '-c', "
                                                           "'import time; time.sleep(600)'], start_new_session=True)\n"
                                                           "while True:\n    pass"]), subs / f"{name}.ipynb")
    proc = subprocess.Popen([sys.executable, "-m", "course_tools", "grade", "fixhw", str(subs), "--autograder",
                             str(fixhw["zip"]), "--out", str(tmp_path / "gb.csv"), "--jobs", "2",
                             "--no-progress"], cwd=REPO, env=tool_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    started = []
    for _ in range(120):  # two kernels, each with its runaway child
        started = descendants(proc.pid)
        if len(started) >= 4:
            break
        time.sleep(0.5)
    assert len(started) >= 4, started
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    time.sleep(0.5)
    alive = []
    for pid in started:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    assert not alive, alive
    assert read_gradebook(tmp_path / "gb.csv") == {}  # nothing finished: an empty gradebook, no crash
