"""Assignment 2 through the real autograder: ``otter run`` with the committed zip.

Every wrong implementation of ``hw2_variants.WRONG`` must lose points on its own
question, and a notebook may lose points only on the questions its mistakes aim at or
may propagate to; the solution and each correct alternative of ``hw2_variants.RIGHT``
must keep full marks. The mistakes are graded in groups (see ``OTTER_GROUPS``); all
notebooks are graded once, in parallel, by a module-scoped fixture.
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hw2_variants import OTTER_GROUPS, RIGHT, WRONG  # noqa: E402
from otter_support import autograder_zip, otter_run_many, solution_notebook  # noqa: E402

HW = "hw2"
pytestmark = pytest.mark.slow


def _full_marks() -> dict[str, float]:
    """Points per question from the zip's exception-based test files (name, points)."""
    out = {}
    with zipfile.ZipFile(autograder_zip(HW)) as z:
        for name in z.namelist():
            if name.startswith("tests/") and name.endswith(".py"):
                mod: dict = {}
                exec(z.read(name).decode(), mod)
                out[mod["name"]] = float(mod["points"])
    return out


def variant(code: str, dest: Path) -> Path:
    """The solution notebook with ``code`` inserted before every ``grader.check`` cell.

    ``otter run`` grades a question when the notebook reaches its ``grader.check`` cell
    and keeps that result, so a redefinition appended at the end of the notebook would
    never be graded. Inserting the code before each check puts the variant in force at
    every check, after the solution cells it overrides.
    """
    nb = nbformat.read(solution_notebook(HW), as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "grader.check(" in cell.source:
            cells.append(nbformat.v4.new_code_cell(code))
        cells.append(cell)
    nb.cells = cells
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest / f"{HW}.ipynb")
    return dest / f"{HW}.ipynb"


@pytest.fixture(scope="module")
def full():
    return _full_marks()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hw2-variants")
    notebooks = {"solution": solution_notebook(HW)}
    for group, names in OTTER_GROUPS.items():
        notebooks[group] = variant("\n\n".join(WRONG[n][2] for n in names), root / group)
    for name, code in RIGHT.items():
        notebooks[f"right-{name}"] = variant(code, root / f"right-{name}")
    graded = otter_run_many(HW, notebooks)
    # The score table, for `pytest -s` and for the report of a run.
    questions = sorted(graded["solution"])
    print("\n" + " ".join(["notebook".ljust(24)] + [q.split("_")[0].rjust(4) for q in questions]))
    for name, scores in graded.items():
        print(" ".join([name.ljust(24)] + [f"{scores[q]:4g}" for q in questions]))
    return graded


def test_groups_cover_every_mistake_once_and_are_attributable():
    listed = [n for names in OTTER_GROUPS.values() for n in names]
    assert sorted(listed) == sorted(WRONG) and len(WRONG) >= 10 and len(RIGHT) >= 3
    for names in OTTER_GROUPS.values():
        aims = [WRONG[n][0] for n in names]
        assert len(set(aims)) == len(aims), f"two mistakes aim at the same question: {names}"
        reach = {q for n in names for q in WRONG[n][1]}
        assert not reach & set(aims), f"a mistake in {names} can reach another's question"


def test_solution_scores_full_marks(graded, full):
    assert sum(full.values()) == 77  # + 23 points of written answers = 100
    assert graded["solution"] == full


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_implementation_loses_points_on_its_question(graded, full, name):
    group = next(g for g, names in OTTER_GROUPS.items() if name in names)
    question = WRONG[name][0]
    scores = graded[group]
    assert scores[question] < full[question], f"{name}: full marks on {question}: {scores}"
    allowed = {q for n in OTTER_GROUPS[group] for q in (WRONG[n][0], *WRONG[n][1])}
    unexpected = {q: s for q, s in scores.items() if s < full[q] and q not in allowed}
    assert not unexpected, f"{group} ({', '.join(OTTER_GROUPS[group])}) also loses points on {unexpected}"


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_correct_alternative_keeps_full_marks(graded, full, name):
    assert graded[f"right-{name}"] == full
