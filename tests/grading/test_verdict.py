"""The verdict (``verdict.decide``) on made-up observations: no kernel."""
from __future__ import annotations

from pathlib import Path

import pytest

from course_tools.grading.assignment import Assignment
from course_tools.grading.execute import RunReport
from course_tools.settings import Limits
from course_tools.grading.verdict import Observation, decide

A = Assignment(name="fixhw", zip_path=Path("fixhw-autograder.zip"), extract_dir=Path("."),
               questions=["q1", "q2"], max_points={"q1": 2.0, "q2": 3.0}, environment_yml="")


def final(scores, violations=0):
    return ("final", {"questions": [{"name": q, "score": s, "possible": A.max_points[q], "cases": []}
                                    for q, s in scores.items()], "violations": violations})


def obs(messages, **kw):
    return Observation(submission="s.ipynb", notes=[], shadowing=[], messages=messages,
                       channel_problems=kw.pop("problems", []), run=kw.pop("run", RunReport(finished=True)),
                       timed_out=kw.pop("timed_out", False), **kw)


def test_graded_with_lost_points():
    r = decide(obs([("armed", {}), final({"q1": 2, "q2": 1})]), A, Limits())
    assert (r.status, r.total, r.scores) == ("graded", 3.0, {"q1": 2.0, "q2": 1.0})
    assert "lost points on q2 1/3" in r.message


def test_a_violation_flags_and_names_what_was_done():
    r = decide(obs([("armed", {}), ("violation", {"reason": "assigned numpy.allclose"}),
                    final({"q1": 2, "q2": 3}, violations=1)]), A, Limits())
    assert r.status == "flagged" and "assigned numpy.allclose" in r.message and r.total == 5


def test_scores_are_capped_and_wrong_points_flagged():
    bad = ("final", {"questions": [{"name": "q1", "score": 99, "possible": 2.0},
                                   {"name": "q2", "score": 1, "possible": 30.0}], "violations": 0})
    r = decide(obs([("armed", {}), bad]), A, Limits())
    assert r.status == "flagged" and r.scores == {"q1": 2.0, "q2": 0.0}
    assert "wrong points for q2" in r.message


def test_missing_violation_reports_and_channel_problems_flag():
    r = decide(obs([("armed", {}), final({"q1": 2, "q2": 3}, violations=2)]), A, Limits())
    assert r.status == "flagged" and "went missing" in r.message
    r = decide(obs([("armed", {}), final({"q1": 2, "q2": 3})], problems=["a forged message"]), A, Limits())
    assert r.status == "flagged" and "forged" in r.message


@pytest.mark.parametrize("run, timed_out, status, says", [
    (RunReport(dead_kernel=True, dead_cell=4), False, "error", "kernel died in cell 4"),
    (RunReport(runner_error="ValueError: x"), False, "error", "could not execute"),
    (RunReport(), True, "timeout", "timed out after 600 s"),
])
def test_no_final_report(run, timed_out, status, says):
    r = decide(obs([("armed", {})], run=run, timed_out=timed_out), A, Limits())
    assert r.status == status and says in r.message and r.total == 0 and r.scores == {}


def test_a_fork_bomb_stopped_by_the_watchdog_is_an_error_that_says_so():
    r = decide(obs([("armed", {})], run=RunReport(dead_kernel=True, dead_cell=3), procs_capped=140),
               A, Limits(max_procs=256))
    assert r.status == "error" and "fork bomb" in r.message and "140 processes" in r.message and r.total == 0


def test_full_scratch_space_and_the_process_cap_are_named():
    run = RunReport(finished=True, cell_errors=[
        {"cell": 2, "ename": "OSError", "evalue": "[Errno 28] No space left on device"},
        {"cell": 3, "ename": "BlockingIOError", "evalue": "[Errno 11] Resource temporarily unavailable"}])
    r = decide(obs([("armed", {}), final({"q1": 2, "q2": 3})], run=run), A, Limits(disk_mb=64, max_procs=99))
    assert r.status == "graded" and r.total == 5
    assert "filled its scratch space" in r.message and "64 MiB" in r.message and "process cap (99" in r.message


def test_every_unsandboxed_row_says_so():
    for messages in ([("armed", {}), final({"q1": 2, "q2": 3})], [("armed", {})]):
        r = decide(obs(messages, sandboxed=False), A, Limits())
        assert r.message.endswith("; unsandboxed")
    assert "unsandboxed" not in decide(obs([("armed", {}), final({"q1": 2, "q2": 3})]), A, Limits()).message


def test_a_question_tainted_while_its_tests_ran_earns_nothing():
    """The guard reports otter's score and the violations seen during the question's run;
    the verdict zeroes that question only (the record keeps why)."""
    msgs = [("armed", {}), ("violation", {"reason": "replaced numpy.allclose (while its tests ran)",
                                          "question": "q2"}),
            ("final", {"questions": [
                {"name": "q1", "score": 2, "possible": 2.0, "cases": []},
                {"name": "q2", "score": 3, "possible": 3.0, "cases": [],
                 "violations": ["replaced numpy.allclose (while its tests ran)"]}], "violations": 1})]
    r = decide(obs(msgs), A, Limits())
    assert r.status == "flagged" and r.scores == {"q1": 2.0, "q2": 0.0} and r.total == 2
    q2 = [q for q in r.questions if q.name == "q2"][0]
    assert q2.score == 0 and q2.violations == ["replaced numpy.allclose (while its tests ran)"]
