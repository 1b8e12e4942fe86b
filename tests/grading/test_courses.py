"""A mixed batch against the course's real autograders (every assignment in solutions/): for every
assignment whose zip exists, a correct submission (the generated solution notebook),
a partially correct one (its first answer left unanswered) and a tampering one, mixed with broken
files, in one folder per assignment graded with JOBS=2.

Oracles: a correct notebook must get every question's full points as otter reads
them from the zip's test files (``full_points``: otter's own test-file classes, which
handle both OK-format and exception-format tests); the partial one must get, question
by question, exactly what otter's Gradescope entry point gives it in the same grading
environment (otter's own grading, run separately); the tampering one is the partial one plus a patched
``np.allclose``/``torch.allclose`` and must be flagged with the partial one's scores.
The unanswered cell stands where the answer was (test_parity.py covers redefinitions
after a check).
"""
from __future__ import annotations

import time

import nbformat
import pytest

import otter_support
from course_tools.assign import masters
from grading.grading_cases import read_gradebook, run_tool

pytestmark = pytest.mark.slow

# Every assignment the course has (solutions/*/), each with its generated zip.
HWS = sorted(masters())
TAMPER = ("import numpy as _np\nvars(_np)['isclose'] = lambda *a, **k: True\n"
          "try:\n    import torch as _t\n    vars(_t)['allclose'] = lambda *a, **k: True\n"
          "except ImportError:\n    pass\n"
          "_np.allclose = lambda *a, **k: True  # blocked: raises, so it comes last\n")

AVAILABLE = [hw for hw in HWS if otter_support.autograder_zip(hw).exists()
             and otter_support.solution_notebook(hw).exists()]


def full_points(hw: str) -> dict[str, float]:
    return otter_support.max_scores(hw)


def break_one(hw: str, extra: str = "") -> nbformat.NotebookNode:
    """The solution notebook with its first autograded answer cell left as the student
    notebook has it (the unanswered stub), plus ``extra``."""
    nb = nbformat.read(otter_support.solution_notebook(hw), as_version=4)
    student = nbformat.read(otter_support.student_notebook(hw), as_version=4)
    stub, answer = next((s, a) for s, a in otter_support.answer_pairs(student, nb) if a.cell_type == "code")
    answer.source = stub.source + extra
    return nb


@pytest.fixture(scope="module")
def courses(tmp_path_factory):
    if not AVAILABLE:
        pytest.skip("no course autograder zips yet (run `make assign`)")
    root = tmp_path_factory.mktemp("courses")
    out = {}
    for hw in AVAILABLE:
        subs = root / hw / "submissions"
        subs.mkdir(parents=True)
        nbformat.write(nbformat.read(otter_support.solution_notebook(hw), as_version=4), subs / "correct.ipynb")
        nbformat.write(break_one(hw), subs / "partial.ipynb")
        nbformat.write(break_one(hw, "\n" + TAMPER), subs / "tamper.ipynb")
        (subs / "garbage.ipynb").write_text("{{{")
        other = [h for h in AVAILABLE if h != hw]
        if other:
            nbformat.write(nbformat.read(otter_support.solution_notebook(other[0]), as_version=4),
                           subs / "wrong_assignment.ipynb")
        # the oracle for the partial one: otter's own grading, run separately
        oracle_dir = root / hw / "oracle"
        nbformat.write(break_one(hw), oracle_dir.mkdir(parents=True) or oracle_dir / f"{hw}.ipynb")
        t0 = time.monotonic()
        proc = run_tool(hw, subs, "--out", root / hw / "gradebook.csv", "--jobs", 2, "--timeout", 500,
                        "--no-progress")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out[hw] = {"rows": read_gradebook(root / hw / "gradebook.csv"), "wall": time.monotonic() - t0,
                   "other": other, "oracle_nb": oracle_dir / f"{hw}.ipynb"}
    oracle = {hw: otter_support.gradescope_run(otter_support.autograder_zip(hw), out[hw]["oracle_nb"],
                                               otter_support.grading_env(otter_support.autograder_zip(hw)))
              for hw in AVAILABLE}
    for hw in AVAILABLE:
        out[hw]["oracle"] = oracle[hw]
    return out


@pytest.mark.parametrize("hw", HWS)
def test_course_batch(courses, hw):
    if hw not in courses:
        pytest.skip(f"{hw}: autograder zip not generated yet")
    rows, full = courses[hw]["rows"], full_points(hw)
    good = rows["correct.ipynb"]
    assert good["status"] == "graded", good
    for q, pts in full.items():
        assert float(good[q]) == pytest.approx(pts), (q, good)
    assert float(good["total"]) == pytest.approx(sum(full.values())) == pytest.approx(float(good["max"]))

    part, oracle = rows["partial.ipynb"], courses[hw]["oracle"]
    assert part["status"] == "graded", part
    assert {q: float(part[q]) for q in full} == pytest.approx(oracle, abs=1e-4), (part, oracle)
    assert float(part["total"]) < sum(full.values())

    tamper = rows["tamper.ipynb"]
    assert tamper["status"] == "flagged" and "allclose" in tamper["message"], tamper
    assert {q: float(tamper[q]) for q in full} == pytest.approx(oracle, abs=1e-4), (tamper, oracle)

    assert rows["garbage.ipynb"]["status"] == "invalid"
    if courses[hw]["other"]:
        wrong = rows["wrong_assignment.ipynb"]
        assert wrong["status"] == "invalid" and f"not {hw!r}" in wrong["message"], wrong
    print(f"{hw}: batch of {len(rows)} graded in {courses[hw]['wall']:.0f} s with JOBS=2")
