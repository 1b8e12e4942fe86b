"""Reading an autograder zip (``assignment``): name, points per question, what the tests
reach, and the analysis deferred until a grading thread needs it."""
from __future__ import annotations

import pytest

from course_tools.grading.assignment import ToolError, load_assignment, open_assignment


def test_points_and_questions_of_the_fixture(fixhw):
    a = load_assignment("fixhw", fixhw["zip"])
    # the fixture master: q1 relu 2 pts, q2 sigmoid 2 pts, q3 softplus 1 pt
    assert a.questions == ["q1", "q2", "q3"] and a.max_points == {"q1": 2.0, "q2": 2.0, "q3": 1.0}
    assert a.total_max == 5.0
    assert "numpy" in a.candidates and "torch" in a.candidates
    assert "np" in a.bases["q1"]


def test_watch_keeps_what_the_grading_environment_has(fixhw):
    a = load_assignment("fixhw", fixhw["zip"], has_module=lambda name: name in ("numpy", "math", "otter"))
    assert "numpy" in a.watch and "torch" not in a.watch and "math" in a.watch


def test_analysis_waits_for_the_first_use(fixhw):
    a = open_assignment("fixhw", fixhw["zip"])
    a.defer_analysis(lambda name: True)
    assert a.max_points == {} and a.name == "fixhw" and "otter-grader" in a.environment_yml
    assert a.wait().max_points["q1"] == 2.0 and "torch" in a.watch


def test_a_zip_for_another_assignment_is_a_tool_error(fixhw):
    with pytest.raises(ToolError, match="autograder for 'fixhw', not 'hw9'"):
        open_assignment("hw9", fixhw["zip"])
