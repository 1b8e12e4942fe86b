"""Assignment 2 through the real autograder (``otter run`` with the committed zip), with
the harness every assignment's suite shares (``otter_support.Catalogue``).

Every wrong implementation of ``hw2_variants.WRONG`` must lose points on its own
question, and a notebook may lose points only on the questions its mistakes aim at:
each mistake is graded in its own copy of the notebook's globals, on its own question
(Q8's tests would also call a broken forward or backward; that propagation is the
in-process suite's subject, ``test_hw2_notebook.py``). Each correct alternative of
``hw2_variants.RIGHT`` and the solution keep full marks. All notebooks are graded once,
in parallel.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hw2_variants import RIGHT, WRONG  # noqa: E402
from otter_support import Catalogue, Mutant, Rewrite, max_scores  # noqa: E402

HW = "hw2"
pytestmark = pytest.mark.slow

MUTANTS = [Mutant(name, question, name.replace("_", " "), code) for name, (question, _, code) in sorted(WRONG.items())]
ALL_QUESTIONS = tuple(sorted({q for q, _, _ in WRONG.values()} | {q for _, r, _ in WRONG.values() for q in r}))
REWRITES = [Rewrite(f"right-{name}", ALL_QUESTIONS, name.replace("_", " "), code) for name, code in RIGHT.items()]
CATALOGUE = Catalogue(HW, MUTANTS, REWRITES)


@pytest.fixture(scope="module")
def full():
    return max_scores(HW)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return CATALOGUE.grade(tmp_path_factory.mktemp("hw2-variants"), with_solution=True)


def test_packing_keeps_every_lost_point_attributable(full):
    assert len(WRONG) >= 10 and len(RIGHT) >= 3
    assert set(ALL_QUESTIONS) <= set(full)
    packed = [m.id for r in CATALOGUE.mutant_rounds for m in r]
    assert sorted(packed) == sorted(WRONG)
    for members in CATALOGUE.mutant_rounds:
        aims = [m.question for m in members]
        assert len(set(aims)) == len(aims), f"two mistakes aim at the same question: {members}"


def test_solution_scores_full_marks(graded, full):
    assert sum(full.values()) == 77  # + 23 points of written answers = 100
    assert graded["solution"] == full


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_wrong_implementation_loses_points_on_its_question(graded, full, mutant):
    assert CATALOGUE.mutant_score(graded, mutant) < full[mutant.question], mutant.id


@pytest.mark.parametrize("i", range(len(CATALOGUE.mutant_rounds)))
def test_questions_no_mistake_aims_at_or_reaches_keep_full_marks(graded, full, i):
    lost = CATALOGUE.lost_elsewhere(graded, full, i)
    assert not lost, f"round {i} also loses points on {lost}"


@pytest.mark.parametrize("rewrite", REWRITES, ids=[r.id for r in REWRITES])
def test_correct_alternative_keeps_full_marks(graded, full, rewrite):
    assert not CATALOGUE.rewrite_lost(graded, full, rewrite)
    assert graded[CATALOGUE.round_of[rewrite.id]] == full


def test_pasted_student_notebook_scores_full_marks(graded, full):
    assert graded["pasted-student"] == pytest.approx(full)
