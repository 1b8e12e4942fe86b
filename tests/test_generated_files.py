"""Generated files (assignments/, autograder/) match their masters in solutions/."""
import json
import re

import pytest

from activation_course import assign

HWS = sorted(assign.masters())


@pytest.mark.slow
def test_generated_files_are_fresh():
    problems = assign.stale_files()
    assert not problems, "stale generated files:\n" + "\n".join(problems)


def test_every_master_is_generated():
    for hw in HWS:
        assert (assign.ASSIGNMENTS / hw / f"{hw}.ipynb").exists(), f"assignments/{hw} missing: run make assign"
        assert (assign.AUTOGRADER / hw / f"{hw}-autograder.zip").exists(), f"autograder/{hw} zip missing"


@pytest.mark.parametrize("hw", HWS)
def test_student_notebook_has_no_solutions_or_hidden_tests(hw):
    nb = json.loads((assign.ASSIGNMENTS / hw / f"{hw}.ipynb").read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"])
    # otter 7 keeps <!-- BEGIN QUESTION --> comments around manual questions; those are fine.
    text = re.sub(r"<!-- (BEGIN|END) QUESTION -->", "", text)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "# SOLUTION", "BEGIN TESTS", "# HIDDEN", "BEGIN QUESTION"):
        assert marker not in text, f"{hw}: student notebook contains {marker!r}"
    tests = nb["metadata"].get("otter", {}).get("tests", {})
    for q, t in tests.items():
        for suite in t["suites"]:
            for case in suite["cases"]:
                assert not case.get("hidden"), f"{hw}: hidden test of {q} shipped to students"
    # No solution cell survives: every answer cell the master marks is emptied by otter.
    solution_nb = json.loads((assign.AUTOGRADER / hw / f"{hw}.ipynb").read_text())
    hidden = [case["code"] for t in solution_nb["metadata"]["otter"]["tests"].values()
              for s in t["suites"] for case in s["cases"] if case.get("hidden")]
    for code in hidden:
        body = re.sub(r"^>>> |^\.\.\. ", "", code.strip(), flags=re.M)
        assert body not in text, f"{hw}: a hidden test's code appears in the student notebook"


def _tagged(nb, tag):
    return ["".join(c["source"]) for c in nb["cells"] if tag in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("hw", HWS)
def test_student_answer_cells_hold_no_solution_lines(hw):
    student = json.loads((assign.ASSIGNMENTS / hw / f"{hw}.ipynb").read_text())
    solution = json.loads((assign.AUTOGRADER / hw / f"{hw}.ipynb").read_text())
    text = "\n".join("".join(c["source"]) for c in student["cells"])
    answers = _tagged(student, "otter_answer_cell")
    solutions = _tagged(solution, "otter_assign_solution_cell")
    assert answers and len(answers) == len(solutions), f"{hw}: answer cells and solution cells do not pair up"
    for ans, sol in zip(answers, solutions):
        own = set(ans.splitlines())
        for line in sol.splitlines():
            s = line.strip()
            if line in own or len(s) < 12 or s.startswith(("#", "def ", "class ", "import ", "from ", '"""', "return ...")):
                continue
            assert line not in text, f"{hw}: solution line {s!r} appears in the student notebook"
