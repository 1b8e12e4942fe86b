"""One batch of correct, partial, broken, misbehaving and tampering submissions of the
fixture assignment, graded once by the tool (``batch`` fixture); each row asserted."""
from __future__ import annotations

import json

import pytest


pytestmark = pytest.mark.slow

CASE_NAMES = [
    "good.ipynb", "partial.ipynb", "nested/alice_export.zip",
    "notjson.ipynb", "empty.ipynb", "blank.ipynb", "notnb.ipynb", "binary.ipynb", "badzip.zip",
    "nonb.zip", "twonb.zip", "escape.zip", "other.ipynb",
    "exception.ipynb", "sysexit.ipynb", "osexit.ipynb", "resources.ipynb",
    "t_numpy.ipynb", "t_testing.ipynb", "t_torch.ipynb", "t_builtins.ipynb", "t_otter.ipynb",
    "t_namespace.ipynb", "t_during.ipynb", "t_frames.ipynb", "t_escape.ipynb", "t_thread.ipynb",
    "t_finish.ipynb", "t_subprocess.ipynb", "t_system.ipynb", "t_closure.ipynb", "t_shadow.zip",
]


def test_one_row_per_submission(batch):
    assert sorted(batch["rows"]) == sorted(batch["cases"])
    assert sorted(CASE_NAMES) == sorted(batch["cases"])
    header = open(batch["out"]).readline().strip().split(",")
    assert header == ["submission", "status", "total", "max", "q1", "q2", "q3", "message"]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_row(batch, name):
    case, row = batch["cases"][name], batch["rows"][name]
    assert row["status"] == case.status, row
    assert float(row["max"]) == 5.0
    if case.total is not None:
        assert float(row["total"]) == pytest.approx(case.total), row
    for q, pts in (case.scores or {}).items():
        assert float(row[q]) == pytest.approx(pts), (q, row)
    for s in case.says:
        assert s in row["message"], (s, row["message"])
    assert "\n" not in row["message"]
    if case.status in ("invalid", "error", "timeout"):
        assert float(row["total"]) == 0 and row["q1"] == row["q2"] == row["q3"] == ""


def test_results_json_for_every_row(batch):
    files = list(batch["results"].glob("*.json"))
    assert len(files) == len(batch["cases"])
    for f in files:
        rec = json.loads(f.read_text())
        assert rec["status"] in ("graded", "flagged", "error", "timeout", "invalid")
        if rec["status"] in ("graded", "flagged") and rec.get("report"):
            # feedback: every question with its test cases and otter's messages
            assert [q["name"] for q in rec["report"]["questions"]] == ["q1", "q2", "q3"]
            assert all(q["cases"] for q in rec["report"]["questions"])


def test_summary_and_progress(batch):
    out = batch["proc"].stdout
    counts = {s: sum(r["status"] == s for r in batch["rows"].values())
              for s in ("graded", "flagged", "error", "timeout", "invalid")}
    assert f"{counts['graded']} graded, {counts['flagged']} flagged, {counts['error']} errors" in out
    assert "mean" in out and "median" in out
    assert f"[{len(batch['rows'])}/{len(batch['rows'])}]" in batch["proc"].stderr


def test_rerun_skips_then_redo(batch, fixhw):
    """A second run grades nothing new; a changed file is regraded; --redo regrades."""
    from grading.grading_cases import read_gradebook, run_tool

    before = read_gradebook(batch["out"])
    # only a fast, invalid submission changes: the re-run must not start any kernel
    (batch["subs"] / "empty.ipynb").write_bytes(b"[1, 2]")
    proc = run_tool("fixhw", batch["subs"], "--autograder", fixhw["zip"], "--out", batch["out"],
                    "--no-progress", "--timeout", 5)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(before) - 1} already graded, skipped" in proc.stdout
    after = read_gradebook(batch["out"])
    assert after["empty.ipynb"]["message"].startswith("not a notebook")
    for name in before:
        if name != "empty.ipynb":
            assert after[name] == before[name]
