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
import time
from pathlib import Path

import pytest

from otter_support import (Catalogue, max_scores, otter_run_many,
                           questions_of)

HW = "hw1"
HERE = Path(__file__).resolve().parent

_spec = importlib.util.spec_from_file_location("hw1_catalogue", HERE / "hw1_catalogue.py")
catalogue = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = catalogue  # dataclasses look their module up there
_spec.loader.exec_module(catalogue)
MUTANTS, REWRITES = catalogue.MUTANTS, catalogue.REWRITES


CATALOGUE = Catalogue(HW, MUTANTS, REWRITES)
MUTANT_ROUNDS, REWRITE_ROUNDS, ROUND_OF = CATALOGUE.mutant_rounds, CATALOGUE.rewrite_rounds, CATALOGUE.round_of


@pytest.fixture(scope="module")
def maxima() -> dict[str, float]:
    return max_scores(HW)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict[str, float]]:
    root = tmp_path_factory.mktemp("hw1-graded")
    notebooks = CATALOGUE.notebooks(root)
    start = time.perf_counter()
    scores = otter_run_many(HW, notebooks)
    # shown with `pytest -s`: what each item scored on the question(s) it targets
    print(f"\nhw1: graded {len(notebooks)} notebooks in {time.perf_counter() - start:.1f} s")
    for item in MUTANTS + REWRITES:
        got = ", ".join(f"{q} {scores[ROUND_OF[item.id]][q]:g}" for q in questions_of(item))
        print(f"  {type(item).__name__.lower():8s} {item.id:30s} {got}")
    return scores


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
    score = graded[ROUND_OF[mutant.id]][mutant.question]
    assert score < maxima[mutant.question], (
        f"{mutant.id} ({mutant.mistake}) kept full marks on {mutant.question}")


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(MUTANT_ROUNDS)))
def test_questions_without_a_mutant_keep_full_marks(graded, maxima, i):
    targeted = {m.question for m in MUTANT_ROUNDS[i]}
    scores = graded[f"mutants-{i}"]
    lost = {q: s for q, s in scores.items() if q not in targeted and s < maxima[q]}
    assert not lost, f"questions no mutant targets lost points: {lost}"


@pytest.mark.slow
@pytest.mark.parametrize("rewrite", REWRITES, ids=[r.id for r in REWRITES])
def test_rewrite_keeps_full_marks(graded, maxima, rewrite):
    scores = graded[ROUND_OF[rewrite.id]]
    lost = {q: scores[q] for q in rewrite.questions if scores[q] < maxima[q]}
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
