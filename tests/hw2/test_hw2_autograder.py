"""Assignment 2 through the real autograder: every variant graded by ``otter run``.

Each wrong implementation in ``hw2_variants.OTTER_WRONG`` must lose points on its own
question and on no question outside the ones it may propagate to; the solution and
each correct alternative in ``hw2_variants.RIGHT`` must keep full marks. All the
notebooks are graded once, in parallel, by a module-scoped fixture.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hw2_variants import OTTER_WRONG, RIGHT, WRONG  # noqa: E402
from otter_support import max_scores, otter_run_many, solution_notebook, variant  # noqa: E402

HW = "hw2"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hw2-variants")
    notebooks = {"solution": solution_notebook(HW)}
    for name in OTTER_WRONG:
        notebooks[name] = variant(HW, WRONG[name][2], root / name)
    for name, code in RIGHT.items():
        notebooks[f"right-{name}"] = variant(HW, code, root / f"right-{name}")
    return otter_run_many(HW, notebooks)


@pytest.fixture(scope="module")
def full():
    return max_scores(HW)


def test_solution_scores_full_marks(graded, full):
    assert graded["solution"] == full


def test_suite_size():
    assert len(OTTER_WRONG) >= 10 and len(RIGHT) >= 3


@pytest.mark.parametrize("name", OTTER_WRONG)
def test_wrong_implementation_loses_points_on_its_question(graded, full, name):
    question, may_also_lose, _ = WRONG[name]
    scores = graded[name]
    assert scores[question] < full[question], f"{name}: full marks on {question}: {scores}"
    unexpected = {q: s for q, s in scores.items() if s < full[q] and q != question and q not in may_also_lose}
    assert not unexpected, f"{name} also loses points on {unexpected}"


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_correct_alternative_keeps_full_marks(graded, full, name):
    assert graded[f"right-{name}"] == full
