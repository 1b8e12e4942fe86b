"""Assignment 1 through the real autograder (``otter run`` with the committed zip).

* Every mutant in ``hw1_catalogue.MUTANTS`` (a realistic wrong implementation)
  loses points on its own question.
* Every rewrite in ``hw1_catalogue.REWRITES`` (correct, written differently from
  the master solution) keeps full marks.
* The student notebook with the solution cells pasted into its answer cells
  scores 100.

Grading is slow (an ``otter run`` starts a kernel), so the submissions are
packed: each graded notebook is the solution notebook plus one appended cell per
mutant or rewrite. That cell executes the student code in a copy of the
notebook's globals and re-runs ``grader.check`` on the question(s) it targets
with that namespace; otter keeps the last check of each question, and the copy
keeps one item from leaking into another. Items that target the same question
go to different notebooks. All notebooks are graded in parallel, once per module.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from otter_support import Catalogue, max_scores, questions_of

HW = "hw1"
HERE = Path(__file__).resolve().parent

_spec = importlib.util.spec_from_file_location("hw1_catalogue", HERE / "hw1_catalogue.py")
catalogue = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = catalogue  # dataclasses look their module up there
_spec.loader.exec_module(catalogue)
MUTANTS, REWRITES = catalogue.MUTANTS, catalogue.REWRITES


CATALOGUE = Catalogue(HW, MUTANTS, REWRITES)
MUTANT_ROUNDS, REWRITE_ROUNDS = CATALOGUE.mutant_rounds, CATALOGUE.rewrite_rounds


@pytest.fixture(scope="module")
def maxima() -> dict[str, float]:
    return max_scores(HW)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict[str, float]]:
    return CATALOGUE.grade(tmp_path_factory.mktemp("hw1-graded"))


def test_catalogue_is_large_and_distinct(maxima):
    assert len(MUTANTS) >= 15 and len(REWRITES) >= 5
    for items in (MUTANTS, REWRITES):
        assert len({i.id for i in items}) == len(items), "duplicate ids"
        assert len({i.code.strip() for i in items}) == len(items), "duplicate code"
    for item in MUTANTS + REWRITES:
        for q in questions_of(item):
            assert q in maxima, f"{item.id}: unknown question {q}"
    assert set(maxima) == {m.question for m in MUTANTS}, "every question needs a mutant"
    assert sum(maxima.values()) == 100


@pytest.mark.slow
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_loses_points_on_its_question(graded, maxima, mutant):
    score = CATALOGUE.mutant_score(graded, mutant)
    assert score < maxima[mutant.question], (
        f"{mutant.id} ({mutant.mistake}) kept full marks on {mutant.question}")


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(MUTANT_ROUNDS)))
def test_questions_without_a_mutant_keep_full_marks(graded, maxima, i):
    lost = CATALOGUE.lost_elsewhere(graded, maxima, i)
    assert not lost, f"questions no mutant targets lost points: {lost}"


@pytest.mark.slow
@pytest.mark.parametrize("rewrite", REWRITES, ids=[r.id for r in REWRITES])
def test_rewrite_keeps_full_marks(graded, maxima, rewrite):
    lost = CATALOGUE.rewrite_lost(graded, maxima, rewrite)
    assert not lost, f"{rewrite.id} ({rewrite.style}) is correct but lost points: {lost}"


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(REWRITE_ROUNDS)))
def test_rewrite_notebooks_score_100(graded, i):
    assert sum(graded[f"rewrites-{i}"].values()) == pytest.approx(100)


@pytest.mark.slow
def test_pasted_student_notebook_scores_100(graded, maxima):
    scores = graded["pasted-student"]
    assert scores == pytest.approx(maxima)
    assert sum(scores.values()) == pytest.approx(100)
