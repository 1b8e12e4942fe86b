"""The student edition's shape: what it holds, what it never holds, and that it is rewritten whole.

Also the student notebooks' cells: every cell a student must write in is editable.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from course_tools import release
from course_tools.settings import TORCH_PIN
from edition_support import REPO

HWS = release.assignment_names()


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_edition_holds_what_students_need(release_dir):
    names = set(files_of(release_dir))
    for needed in ("README.md", "requirements.txt", "pyproject.toml", "binder/requirements.txt",
                   "binder/postBuild", "_config.yml", "_toc.yml", "book/references.bib",
                   "activation_course/__init__.py", "activation_course/notebook.py", ".gitignore"):
        assert needed in names, f"{needed} missing from the student edition"
    for hw in HWS:
        assert f"assignments/{hw}/{hw}.ipynb" in names
        # the folder works on its own: the course package travels with the notebook
        assert f"assignments/{hw}/activation_course/notebook.py" in names
        assert f"assignments/{hw}/activation_course/training.py" in names
    chapters = {p.name for p in (REPO / "book").glob("*.md")}
    assert chapters <= {Path(n).name for n in names if n.startswith("book/")}


def test_edition_holds_nothing_of_the_instructors(release_dir):
    bad = [n for n in files_of(release_dir)
           if n.split("/")[0] in ("solutions", "autograder", "tests", "bench", "course_tools", ".ci")
           or n.endswith((".zip", ".pyc")) or "oracle" in n or "__pycache__" in n or "_vendor" in n]
    assert not bad, f"instructor files in the student edition: {bad}"
    # the student package is whole and is the only package
    assert {p.name for p in (release_dir / "activation_course").glob("*.py")} == \
        {p.name for p in (REPO / "activation_course").glob("*.py")}
    pyproject = tomllib.loads((release_dir / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["packages"]["find"]["include"] == ["activation_course*"]


def test_requirements_take_cpu_torch_and_no_test_tools(release_dir):
    req = (release_dir / "requirements.txt").read_text().splitlines()
    lines = [ln.split("#")[0].strip() for ln in req if ln.split("#")[0].strip()]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    # the pin is the course's one (course_tools/settings.py), written in by the release
    assert [ln for ln in lines if ln.startswith("torch")] == [TORCH_PIN], lines
    assert not any(ln.startswith(("--index-url", "-i ")) for ln in lines), "an index-url would hide PyPI"
    names = {ln.split("=")[0].split(">")[0].split("<")[0].strip().lower() for ln in lines if not ln.startswith("-")}
    assert {"torch", "numpy", "matplotlib", "scikit-learn", "otter-grader", "jupyterlab", "ipykernel", "."} <= names
    assert not names & {"pytest", "playwright", "jupyter-book", "pytest-timeout"}, names
    binder = (release_dir / "binder" / "requirements.txt").read_text()
    assert "-r ../requirements.txt" in binder and "jupytext" in binder and "pytest" not in binder


def test_make_install_takes_cpu_torch_from_an_extra_index():
    out = subprocess.run(["make", "-n", "-B", ".venv/.installed"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    torch_line = next(ln for ln in out.splitlines() if "TORCH_SPEC" not in ln and "torch==" in ln)
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in torch_line, torch_line
    assert "--index-url" not in torch_line.replace("--extra-index-url", "")


def test_release_is_idempotent_and_empties_dest(tmp_path):
    dest = tmp_path / "edition"
    release.write_edition(dest)
    first = files_of(dest)
    (dest / "stray.txt").write_text("left from an older release")
    (dest / "assignments" / "hw9").mkdir()
    release.write_edition(dest)
    assert files_of(dest) == first


def test_release_refuses_a_folder_that_is_not_an_edition(tmp_path):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("months of work")
    proc = subprocess.run([sys.executable, "-m", "course_tools", "release", str(precious)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not a student edition" in proc.stderr, proc.stderr
    assert (precious / "chapter1.tex").read_text() == "months of work"
    with pytest.raises(release.ReleaseError):
        release.write_edition(REPO)


# ----------------------------------------------------------------- the notebooks' cells
def cells(hw: str) -> list[dict]:
    return json.loads((REPO / "assignments" / hw / f"{hw}.ipynb").read_text())["cells"]


def source(cell) -> str:
    return "".join(cell["source"])


def student_cells(hw: str) -> list[tuple[int, dict]]:
    """The cells a student must write in: otter's answer cells, and every cell that asks
    for the student's text (a derivation, an answer placeholder) or holds a code stub."""
    found = []
    for i, cell in enumerate(cells(hw)):
        text = source(cell)
        if ("otter_answer_cell" in cell["metadata"].get("tags", [])
                or text.startswith(("*Your derivation:*", "_Type your answer here"))
                or (cell["cell_type"] == "code" and any(ln.strip() == "..." for ln in text.splitlines()))):
            found.append((i, cell))
    return found


@pytest.mark.parametrize("hw", HWS)
def test_every_cell_a_student_writes_in_is_editable(hw):
    locked = [f"cell {i}: {source(c)[:60]!r}" for i, c in student_cells(hw)
              if c["metadata"].get("editable") is False or c["metadata"].get("deletable") is False]
    assert not locked, f"{hw}: cells a student must write in are locked:\n" + "\n".join(locked)


def test_hw1_has_an_editable_derivation_cell_per_question():
    derivations = [c for _, c in student_cells("hw1") if source(c).startswith("*Your derivation:*")]
    assert len(derivations) == 9
    assert all(c["cell_type"] == "markdown" for c in derivations)


def test_the_locked_cell_detector_can_fail(monkeypatch):
    original = cells("hw1")
    i, cell = student_cells("hw1")[0]
    original[i] = {**cell, "metadata": {**cell["metadata"], "editable": False}}
    monkeypatch.setitem(globals(), "cells", lambda hw: original)
    with pytest.raises(AssertionError, match="locked"):
        test_every_cell_a_student_writes_in_is_editable("hw1")


@pytest.mark.parametrize("hw", HWS)
def test_first_code_cell_uses_the_course_notebook_with_a_fallback(hw):
    first = next(source(c) for c in cells(hw) if c["cell_type"] == "code")
    assert "from activation_course.notebook import Notebook" in first
    assert "except ImportError:\n    from otter import Notebook" in first
    assert f'grader = Notebook("{hw}.ipynb")' in first


def test_question_texts_agree():
    hw1_intro = source(cells("hw1")[0])
    assert "Later assignments import" not in hw1_intro
    hw2_text = "\n".join(source(c) for c in cells("hw2"))
    assert "do not need your\nAssignment 1 answers" in hw2_text or "do not need your Assignment 1 answers" in hw2_text


def test_book_launch_buttons_point_into_the_student_edition(release_dir):
    """Binder opens a chapter that exists in the edition (whose binder/ builds the
    environment); there is no Colab button, since Colab cannot open MyST Markdown."""
    html_dir = REPO / "_build" / "html"
    pages = sorted((html_dir / "book").glob("0[1-4]-*.html"))
    if not pages:
        pytest.skip("the book is not built (make book-fast builds it before the tests)")
    for page in pages:
        text = page.read_text()
        assert "colab.research.google.com" not in text, f"{page.name} has a Colab button"
        links = re.findall(r'href="https://mybinder\.org/v2/gh/[^"?]+\?urlpath=lab/tree/([^"]+)"', text)
        assert links, f"{page.name} has no Binder button"
        assert all((release_dir / path).is_file() for path in links), (page.name, links)
