"""A question's points are stated once (its config); every other statement must agree,
or `make assign` refuses and names the question."""

from __future__ import annotations

import copy
import json
import re

import pytest

from course_tools import assign, points
from course_tools.exits import Problems

MASTERS = assign.masters()


def _load(hw: str) -> dict:
    return json.loads(MASTERS[hw].read_text())


def _cell_index(nb: dict, pattern: str) -> int:
    for i, cell in enumerate(nb["cells"]):
        if re.search(pattern, "".join(cell["source"]), re.S):
            return i
    raise LookupError(pattern)


def _replace(nb: dict, pattern: str, old: str, new: str) -> dict:
    nb = copy.deepcopy(nb)
    i = _cell_index(nb, pattern)
    src = "".join(nb["cells"][i]["source"])
    assert old in src, (old, src[:200])
    nb["cells"][i]["source"] = src.replace(old, new, 1)
    return nb


@pytest.mark.parametrize("hw", sorted(MASTERS))
def test_every_master_agrees_with_itself(hw):
    questions, _ = points.read_questions(_load(hw))
    assert questions, f"{hw}: no questions found"
    assert all(q.points for q in questions)
    assert points.problems(_load(hw)) == []


def test_hw1_totals_100_from_the_configs():
    # the configs alone, read independently of the checker's parser
    nb = _load("hw1")
    total = sum(int(m) for c in nb["cells"] if c["cell_type"] == "raw"
                for m in re.findall(r"^points:\s*(\d+)", "".join(c["source"]), re.M)
                if "# BEGIN QUESTION" in "".join(c["source"]))
    assert total == 100


def test_raising_a_question_config_is_refused_naming_it():
    nb = _replace(_load("hw1"), r"# BEGIN QUESTION\nname: q2_sigmoid", "points: 14", "points: 16")
    found = points.problems(nb)
    assert any("q2_sigmoid" in p and "sum to 14" in p for p in found), found
    assert any("q2_sigmoid" in p and "heading says 14" in p for p in found), found
    assert all("q2_sigmoid" in p for p in found), found


def test_a_test_cell_changed_alone_is_refused():
    nb = _load("hw1")
    i = _cell_index(nb, r"# BEGIN QUESTION\nname: q3_relu")
    j = next(k for k in range(i, len(nb["cells"]))
             if "BEGIN TEST CONFIG" in "".join(nb["cells"][k]["source"]))
    nb = copy.deepcopy(nb)
    nb["cells"][j]["source"] = "".join(nb["cells"][j]["source"]).replace("points: 2", "points: 3", 1)
    found = points.problems(nb)
    assert found and all("q3_relu" in p for p in found) and "sum to 9" in found[0], found


def test_heading_and_points_paragraph_are_checked():
    nb = _replace(_load("hw1"), r"## Question 4", "(8 points)", "(9 points)")
    assert any("q4_leaky_relu" in p and "heading says 9" in p for p in points.problems(nb))
    nb = _replace(_load("hw1"), r"\*\*Points\.\*\* Public check \(2\): values, \$f'\(0\) = 1\$, float32 kept\. Hidden: `relu`",
                  "contract of both (2)", "contract of both (3)")
    assert any("q3_relu" in p and "**Points.** paragraph adds up to 9" in p for p in points.problems(nb))


def test_overview_paragraph_is_checked():
    nb = _replace(_load("hw2"), r"\*\*Points \(100 in total\)", "Q3 gradient norms (4)", "Q3 gradient norms (5)")
    found = points.problems(nb)
    assert found == ["introduction: gives Q3 (q3_grad_norms) 5 points, its config 4"], found


def test_partial_test_points_are_refused():
    """One test cell of q1 written otter's other way, ``# HIDDEN`` without points, beside cells with points."""
    nb = _load("hw3")
    i = _cell_index(nb, r"# BEGIN QUESTION\nname: q1_swish_function")
    j = next(k for k in range(i, len(nb["cells"])) if "hidden: true" in "".join(nb["cells"][k]["source"]))
    nb = copy.deepcopy(nb)
    body = "".join(nb["cells"][j]["source"]).split("# END TEST CONFIG\n", 1)[1]
    nb["cells"][j]["source"] = "# HIDDEN\n" + body
    assert any("q1_swish_function" in p and "in all or in none" in p for p in points.problems(nb))


def test_assign_refuses_before_running_otter(tmp_path):
    nb = _replace(_load("hw1"), r"# BEGIN QUESTION\nname: q2_sigmoid", "points: 14", "points: 16")
    master = tmp_path / "hw1.ipynb"
    master.write_text(json.dumps(nb))
    with pytest.raises(Problems) as err:   # exit status 1 from `python -m course_tools assign`
        assign.generate("hw1", master, tmp_path / "student", tmp_path / "autograder")
    assert "q2_sigmoid" in str(err.value)
    assert not (tmp_path / "student").exists() and not (tmp_path / "autograder").exists()
