"""An assignment is one folder: a throwaway hw4, end to end, in a copy of the course.

The test copies the repository's files (those git tracks or would track) into a temporary
folder, adds ``solutions/hw4/`` (a small master in the course's one test style: one question,
a public case that calls ``hw4_checks.py``, shipped to students, and hidden cases that call
the autograder-only ``hw4_oracle.py``), and then, in the copy,
with the copy's own code first on the path:

* ``assign hw4`` writes ``assignments/hw4/`` and ``autograder/hw4/hw4-autograder.zip``;
* ``assign --check hw4`` says they are fresh, and names the stale file once the master
  changes;
* the copy's own staleness and leak tests collect hw4 without being told (no list of names)
  and pass for it; the documentation test fails, naming the files that must list hw4;
* ``release`` puts hw4's student notebook in the edition and leaves its oracle out;
* ``grade hw4`` gives the solution full marks and a wrong submission less, one row each.

Nothing of the real checkout changes: the copy is removed with the temporary folder.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

FIRST_CELL = '''# Initialize Otter (the same first cell as every assignment's).
try:
    from activation_course.notebook import Notebook
except ImportError:
    from otter import Notebook
    import os
    if not os.path.exists("hw4.ipynb"):
        Notebook = lambda name, otter_notebook=Notebook: otter_notebook()
grader = Notebook("hw4.ipynb")'''

CHECKS = '''"""hw4's public checks (shipped beside the notebook and in the zip)."""
import numpy as np


def reference(z):
    """log(1 + e^z) in a form that never overflows (an independent closed form)."""
    x = np.asarray(z, dtype=float)
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


def check_softplus_near_zero(softplus):
    z = np.array([-1.0, 0.0, 1.0])
    got = softplus(z)
    assert np.allclose(got, reference(z)), f"softplus({z}) should be log(1 + e^z) = {reference(z)}; got {got}"
'''

ORACLE = '''"""hw4's hidden checks (autograder only)."""
import numpy as np

from hw4_checks import reference as _reference


def check_softplus_values(softplus):
    z = np.linspace(-30.0, 30.0, 61)
    got = softplus(z)
    assert np.allclose(got, _reference(z), rtol=1e-10, atol=1e-12), \\
        f"softplus(z) differs from log(1 + e^z) on [-30, 30]: largest error {np.max(np.abs(got - _reference(z))):.3g}"


def check_softplus_stable(softplus):
    z = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):
        try:
            got = softplus(z)
        except FloatingPointError as e:
            raise AssertionError(f"softplus overflows at |z| = 1000 ({e})") from None
    assert np.allclose(got, [0.0, 1000.0]), f"softplus([-1000, 1000]) should be about [0, 1000]; got {got}"
'''


def case_cell(points: int, hidden: bool, body: str) -> str:
    return f'""" # BEGIN TEST CONFIG\npoints: {points}\nhidden: {str(hidden).lower()}\n""" # END TEST CONFIG\n{body}'


def hw4_master() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"display_name": "Python 3", "language": "python",
                                                           "name": "python3"}})
    raw, md, code = nbformat.v4.new_raw_cell, nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb.cells = [
        raw("# ASSIGNMENT CONFIG\nname: hw4\ninit_cell: false\nrequirements: ../requirements.txt\n"
            "files:\n  - hw4_checks.py\nautograder_files:\n  - hw4_oracle.py\nexport_cell:\n  pdf: false\n  run_tests: true\n"
            "generate:\n  pdf: false"),
        md("# Assignment 4: softplus\n\nA throwaway assignment made by `tests/test_new_assignment.py`."),
        code(FIRST_CELL),
        code("import numpy as np"),
        raw("# BEGIN QUESTION\nname: q1_softplus\npoints: 10"),
        md("## Question 1: softplus (10 points)\n\nImplement `softplus(z)` $= \\log(1 + e^z)$ without overflow.\n\n"
           "**Points.** Public check (4): values near 0. Hidden: values on $[-30, 30]$ (3); $|z| = 1000$ (3)."),
        raw("# BEGIN SOLUTION"),
        code("def softplus(z):\n    \"\"\"log(1 + e^z), elementwise.\"\"\"\n    # BEGIN SOLUTION\n"
             "    z = np.asarray(z, dtype=np.float64)\n    positive_part = np.maximum(z, 0.0)\n"
             "    return positive_part + np.log1p(np.exp(-np.abs(z)))\n    # END SOLUTION"),
        raw("# END SOLUTION"),
        raw("# BEGIN TESTS"),
        code(case_cell(4, False, "from hw4_checks import check_softplus_near_zero\ncheck_softplus_near_zero(softplus)")),
        code(case_cell(3, True, "from hw4_oracle import check_softplus_values\ncheck_softplus_values(softplus)")),
        code(case_cell(3, True, "from hw4_oracle import check_softplus_stable\ncheck_softplus_stable(softplus)")),
        raw("# END TESTS"),
        raw("# END QUESTION"),
        code('grader.check("q1_softplus")'),
    ]
    return nb


def run(copy: Path, *args, timeout=900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(copy), "PIP_RETRIES": "0"}
    return subprocess.run([sys.executable, *map(str, args)], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=timeout)


def tool(copy: Path, command: str, *args, timeout=900) -> subprocess.CompletedProcess:
    """The copy's instructor tool (``python -m course_tools <command>``)."""
    return run(copy, "-m", "course_tools", command, *args, timeout=timeout)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A copy of the course with a fourth assignment, assigned."""
    copy = tmp_path_factory.mktemp("course") / "course"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / rel)
    for linked in ("node_modules", "book/_vendor"):  # ignored installs some tests read
        if (REPO / linked).exists():
            (copy / linked).parent.mkdir(parents=True, exist_ok=True)
            (copy / linked).symlink_to(REPO / linked)
    (copy / "solutions" / "hw4").mkdir()
    nbformat.write(hw4_master(), copy / "solutions" / "hw4" / "hw4.ipynb")
    (copy / "solutions" / "hw4" / "hw4_checks.py").write_text(CHECKS)
    (copy / "solutions" / "hw4" / "hw4_oracle.py").write_text(ORACLE)
    proc = tool(copy, "assign", "hw4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return copy


def test_assign_writes_the_new_assignment(course):
    assert (course / "assignments" / "hw4" / "hw4.ipynb").exists()
    assert (course / "autograder" / "hw4" / "hw4-autograder.zip").exists()
    assert (course / "assignments" / "hw4" / "hw4_checks.py").exists(), "the public checks did not ship"
    assert not (course / "assignments" / "hw4" / "hw4_oracle.py").exists(), "the oracle reached students"


def test_the_staleness_check_follows_the_master(course):
    proc = tool(course, "assign", "--check", "hw4")
    assert proc.returncode == 0 and "up to date" in proc.stdout, proc.stdout + proc.stderr
    master = course / "solutions" / "hw4" / "hw4.ipynb"
    original = master.read_text()
    try:
        master.write_text(original.replace("A throwaway assignment", "A changed throwaway assignment"))
        proc = tool(course, "assign", "--check", "hw4")
        assert proc.returncode == 1 and "assignments/hw4/hw4.ipynb: stale" in proc.stdout, proc.stdout + proc.stderr
    finally:
        master.write_text(original)


def test_the_suites_find_hw4_by_themselves(course):
    """The copy's own tests, unchanged, run hw4's cases: nothing lists the assignments."""
    files = ["tests/test_generated_files.py", "tests/release/test_no_leaks.py", "tests/test_points.py",
             "tests/test_test_style.py"]
    proc = run(course, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
               "-k", "hw4 or test_no_leaks", "-rA", *files)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    passed = [ln for ln in proc.stdout.splitlines() if ln.startswith("PASSED")]
    assert sum("[hw4]" in ln for ln in passed) >= 5, proc.stdout[-4000:]  # the per-assignment cases
    assert any("test_student_edition_gives_nothing_away" in ln for ln in passed), proc.stdout[-4000:]


def test_the_documentation_test_asks_for_hw4(course):
    """README, the edition README and the book's assignments page must list every assignment:
    the copy's documentation test fails for hw4 and names where it is missing."""
    proc = run(course, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_assignment_lists.py")
    assert proc.returncode == 1, proc.stdout[-4000:]
    for where in ("README.md", "05-assignments.md"):
        assert where in proc.stdout, (where, proc.stdout[-4000:])


def test_release_ships_hw4_without_its_oracle(course, tmp_path):
    dest = tmp_path / "edition"
    proc = tool(course, "release", dest)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (dest / "assignments" / "hw4" / "hw4.ipynb").exists()
    assert not list(dest.rglob("hw4_oracle.py")), "the oracle reached the student edition"
    assert "check_softplus_stable" not in (dest / "assignments" / "hw4" / "hw4.ipynb").read_text()


def test_grade_gives_each_submission_its_row(course, tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    solution = nbformat.read(course / "autograder" / "hw4" / "hw4.ipynb", as_version=4)
    nbformat.write(solution, subs / "right.ipynb")
    wrong = nbformat.read(course / "autograder" / "hw4" / "hw4.ipynb", as_version=4)
    cell = next(c for c in wrong.cells if c.cell_type == "code" and c.source.startswith("def softplus("))
    cell.source = "def softplus(z):\n    return np.log(1 + np.exp(z))\n"  # overflows at z = 1000
    nbformat.write(wrong, subs / "naive.ipynb")
    out = tmp_path / "gradebook.csv"
    proc = tool(course, "grade", "hw4", subs, "--out", out, "--jobs", 2, "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out, newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"right.ipynb", "naive.ipynb"}, rows
    assert rows["right.ipynb"]["status"] == "graded" and float(rows["right.ipynb"]["total"]) == 10.0, rows
    assert float(rows["naive.ipynb"]["q1_softplus"]) == 7.0, rows["naive.ipynb"]


def test_a_questions_points_change_in_one_place_and_the_zip_and_grade_follow(course, tmp_path):
    """Raise q1's points from 10 to 12: the question config alone is refused, naming the
    question; config, heading, prose and one test's points together reach the zip and the grade."""
    master = course / "solutions" / "hw4" / "hw4.ipynb"
    original = master.read_text()
    try:
        nb = nbformat.read(master, as_version=4)
        config = next(c for c in nb.cells if c.source.startswith("# BEGIN QUESTION"))
        config.source = config.source.replace("points: 10", "points: 12")
        nbformat.write(nb, master)
        proc = tool(course, "assign", "hw4")
        assert proc.returncode != 0 and "q1_softplus" in proc.stdout + proc.stderr, proc.stdout + proc.stderr

        prompt = next(c for c in nb.cells if c.source.startswith("## Question 1"))
        prompt.source = prompt.source.replace("(10 points)", "(12 points)").replace("|z| = 1000$ (3)", "|z| = 1000$ (5)")
        stable = next(c for c in nb.cells if "check_softplus_stable(softplus)" in c.source and "BEGIN TEST CONFIG" in c.source)
        stable.source = stable.source.replace("points: 3", "points: 5")
        nbformat.write(nb, master)
        proc = tool(course, "assign", "hw4")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        student = (course / "assignments" / "hw4" / "hw4.ipynb").read_text()
        assert "(12 points)" in student

        subs = tmp_path / "submissions"
        subs.mkdir()
        shutil.copy(course / "autograder" / "hw4" / "hw4.ipynb", subs / "right.ipynb")
        proc = tool(course, "grade", "hw4", subs, "--out", tmp_path / "gb.csv", "--no-progress")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        with open(tmp_path / "gb.csv", newline="") as f:
            row = next(csv.DictReader(f))
        assert (float(row["q1_softplus"]), float(row["max"])) == (12.0, 12.0), row
    finally:
        master.write_text(original)
        assert tool(course, "assign", "hw4").returncode == 0
