"""Reading an autograder zip (``assignment``): name, points per question, what the tests
reach; an ``Assignment`` is complete when it exists, and ``Analysis`` makes it once, in
the first thread that asks."""
from __future__ import annotations

import pytest

import dataclasses
import threading

from course_tools.grading.assignment import Analysis, Assignment, ToolError, load_assignment, open_assignment


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


def test_an_assignment_is_complete_when_it_exists(fixhw):
    z = open_assignment("fixhw", fixhw["zip"])
    assert z.name == "fixhw" and "otter-grader" in z.environment_yml and not hasattr(z, "max_points")
    a = Assignment.analyse(z, lambda name: True)
    assert a.max_points["q1"] == 2.0 and "torch" in a.watch and a.zip_path == z.zip_path
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.max_points = {}
    with pytest.raises(TypeError):   # no half-built Assignment: its questions and points are required
        Assignment(name="x", zip_path=z.zip_path, extract_dir=z.extract_dir, environment_yml="")


def test_analysis_runs_once_in_the_first_thread_that_asks(fixhw, monkeypatch):
    from course_tools.grading import assignment
    calls = []
    real = assignment.analyze_tests
    monkeypatch.setattr(assignment, "analyze_tests", lambda d: calls.append(threading.get_ident()) or real(d))
    analysis = Analysis(open_assignment("fixhw", fixhw["zip"]), lambda name: True)
    assert calls == []                      # nothing read until asked
    got = []
    threads = [threading.Thread(target=lambda: got.append(analysis.result())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(g is got[0] for g in got) and got[0].total_max == 5.0


def test_a_zip_for_another_assignment_is_a_tool_error(fixhw):
    with pytest.raises(ToolError, match="autograder for 'fixhw', not 'hw9'"):
        open_assignment("hw9", fixhw["zip"])


def test_the_guard_watches_what_the_zips_helper_modules_reach(tmp_path):
    """Tests written as one call into a helper (``from hw_checks import check``) reach torch
    through the helper, and the helper's own helper: those modules are watched too (else a
    patched ``torch.allclose`` would survive into a check)."""
    from course_tools.grading.assignment import resolve_watch, with_support_imports
    files = tmp_path / "files"
    files.mkdir()
    (files / "hw_oracle.py").write_text("from hw_checks import close\n\ndef check(f):\n    assert close(f(1), 1)\n")
    (files / "hw_checks.py").write_text("import torch\nimport math as m\n\ndef close(a, b):\n"
                                        "    return torch.allclose(torch.as_tensor(a), torch.as_tensor(b))\n")
    reached = with_support_imports(["numpy", "hw_oracle"], files)
    watch, support = resolve_watch(reached, files, lambda name: name in ("numpy", "torch", "math"))
    assert support == ["hw_oracle", "hw_checks"] and {"numpy", "torch", "math"} <= set(watch), (watch, support)
    assert "hw_checks" not in watch
    # without the helpers' imports, torch is not reached at all: the test can fail
    assert "torch" not in resolve_watch(["numpy", "hw_oracle"], files, lambda name: True)[0]
