"""Generated files (assignments/, autograder/) match their masters in solutions/."""
import json
import re

import pytest

from course_tools import assign
from course_tools.settings import course
from otter_support import answer_pairs

HWS = sorted(assign.masters())
COURSE = course()


@pytest.mark.slow
def test_generated_files_are_fresh():
    problems = assign.stale_files()
    assert not problems, "stale generated files:\n" + "\n".join(problems)


def test_every_master_is_generated():
    for hw in HWS:
        assert COURSE.student_dir(hw).joinpath(f"{hw}.ipynb").exists(), f"assignments/{hw} missing: run make assign"
        assert COURSE.autograder_zip(hw).exists(), f"autograder/{hw} zip missing"


@pytest.mark.parametrize("hw", HWS)
def test_student_notebook_has_no_solutions_or_hidden_tests(hw):
    nb = json.loads(COURSE.student_dir(hw).joinpath(f"{hw}.ipynb").read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"])
    # otter 7 keeps <!-- BEGIN QUESTION --> comments around manual questions; those are fine.
    text = re.sub(r"<!-- (BEGIN|END) QUESTION -->", "", text)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "# SOLUTION", "BEGIN TESTS", "# HIDDEN", "BEGIN QUESTION"):
        assert marker not in text, f"{hw}: student notebook contains {marker!r}"
    tests = nb["metadata"].get("otter", {}).get("tests", {})
    shipped = "\n".join(t if isinstance(t, str) else
                         "\n".join(c["code"] for s in t["suites"] for c in s["cases"])
                         for t in tests.values())
    for q, t in tests.items():
        if isinstance(t, str):  # exception-based test file, kept as source
            assert "hidden=True" not in t, f"{hw}: hidden test of {q} shipped to students"
            continue
        for suite in t["suites"]:
            for case in suite["cases"]:
                assert not case.get("hidden"), f"{hw}: hidden test of {q} shipped to students"
    solution_nb = json.loads(COURSE.solution_notebook(hw).read_text())
    for t in solution_nb["metadata"]["otter"]["tests"].values():
        if isinstance(t, str):
            hidden = [chunk.split("\n", 1)[1] for chunk in t.split("@test_case(")[1:]
                      if "hidden=True" in chunk.split("\n", 1)[0]]
        else:
            hidden = [re.sub(r"^>>> |^\.\.\. ", "", case["code"].strip(), flags=re.M)
                      for s in t["suites"] for case in s["cases"] if case.get("hidden")]
        for body in hidden:
            assert body.strip() not in text and body.strip() not in shipped, \
                f"{hw}: a hidden test's code appears in the student notebook"


@pytest.mark.parametrize("hw", HWS)
def test_student_answer_cells_hold_no_solution_lines(hw):
    student = json.loads(COURSE.student_dir(hw).joinpath(f"{hw}.ipynb").read_text())
    solution = json.loads(COURSE.solution_notebook(hw).read_text())
    text = "\n".join("".join(c["source"]) for c in student["cells"])
    for ans, sol in (("".join(a["source"]), "".join(b["source"])) for a, b in answer_pairs(student, solution)):
        own = set(ans.splitlines())
        for line in sol.splitlines():
            s = line.strip()
            if line in own or len(s) < 12 or s.startswith(("#", "def ", "class ", "import ", "from ", '"""', "return ...")):
                continue
            assert line not in text, f"{hw}: solution line {s!r} appears in the student notebook"
