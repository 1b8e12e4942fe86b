"""The student edition in a student's hands: a clean venv, the assignment folder, a renamed notebook.

Everything runs in ``student_venv`` (``pip install -r requirements.txt`` of the edition
in a new venv; nothing of the checkout on the path), on a copy of the edition's
``assignments/<hw>/`` folder, which still holds the blank ``<hw>.ipynb``.

The completed notebook is what a student hands in after answering everything: the
generated solution notebook's cells with the student notebook's metadata (its
public tests; the hidden ones and their support files stay with the autograder).
It is saved as ``<hw> (1).ipynb``, as a second browser download would name it, and
executed with nbconvert. The kernel gets ``JPY_SESSION_NAME``, as jupyter_server
gives it to every kernel it starts for a notebook; JupyterLab itself is exercised
in ``test_jupyterlab.py``.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from course_tools.assign import masters
from course_tools.written import master as written_master
from edition_support import REPO, TIMINGS, run_in_venv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

HWS = sorted(masters())  # every assignment in solutions/
IMPORT_OR_FILE_ERRORS = ("ImportError", "ModuleNotFoundError", "FileNotFoundError")


def completed_notebook(hw: str) -> dict:
    solution = json.loads((REPO / "autograder" / hw / f"{hw}.ipynb").read_text())
    student = json.loads((REPO / "assignments" / hw / f"{hw}.ipynb").read_text())
    solution["metadata"] = student["metadata"]
    return solution


def source(cell) -> str:
    return "".join(cell["source"])


def text_of(output) -> str:
    if output.get("output_type") == "stream":
        return "".join(output.get("text", ""))
    if output.get("output_type") == "error":
        return f"{output['ename']}: {output['evalue']}"
    return "".join(output.get("data", {}).get("text/plain", ""))


def execute(bin_dir: Path, folder: Path, name: str, out_dir: Path, *, session: bool = True,
            allow_errors: bool = False) -> tuple[dict, float]:
    extra = {"JPY_SESSION_NAME": str(folder / name)} if session else {}
    args = ["jupyter", "nbconvert", "--to", "notebook", "--execute", name, "--output-dir", str(out_dir),
            "--ExecutePreprocessor.timeout=900"]
    if allow_errors:
        args.append("--allow-errors")
    start = time.monotonic()
    proc = run_in_venv(bin_dir, args, cwd=folder, timeout=1100, **extra)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, f"{name} did not execute in the clean venv:\n{proc.stderr[-6000:]}"
    return json.loads((out_dir / name).read_text()), seconds


def assignment_copy(release_dir: Path, hw: str, tmp_path: Path) -> Path:
    folder = tmp_path / hw
    shutil.copytree(release_dir / "assignments" / hw, folder)
    return folder


@pytest.mark.parametrize("hw", HWS)
def test_completed_notebook_renamed_checks_pass_and_exports_itself(hw, release_dir, student_venv, tmp_path):
    folder = assignment_copy(release_dir, hw, tmp_path)
    name = f"{hw} (1).ipynb"
    (folder / name).write_text(json.dumps(completed_notebook(hw), indent=1))
    assert (folder / f"{hw}.ipynb").is_file()  # the blank copy is still there
    nb, seconds = execute(student_venv, folder, name, tmp_path / "out")
    TIMINGS[f"{hw}: completed notebook executed"] = seconds

    checks = [(source(c), "".join(text_of(o) for o in c.get("outputs", [])))
              for c in nb["cells"] if c["cell_type"] == "code" and source(c).startswith("grader.check(")]
    assert checks, f"{hw}: no grader.check cells ran"
    failing = [(cell, out[:300]) for cell, out in checks if "All test cases passed" not in out]
    assert not failing, f"{hw}: public checks fail in the clean venv: {failing}"

    zips = sorted(folder.glob(f"{hw} (1)_*.zip"))
    assert len(zips) == 1, f"{hw}: grader.export wrote {[z.name for z in folder.glob('*.zip')]}"
    with zipfile.ZipFile(zips[0]) as z:
        assert name in z.namelist(), f"{hw}: the export zipped {z.namelist()}, not {name}"
        assert z.read(name) == (folder / name).read_bytes()
        assert f"{hw}.ipynb" not in z.namelist()
    check_written_export(hw, nb, folder, zips[0].name)


def check_written_export(hw: str, nb: dict, folder: Path, zip_name: str) -> None:
    """The export cell also wrote the written answers beside the zip, for an assignment
    whose master has written (``manual``) questions: the HTML with MathJax inlined from the
    edition's copy, and the PDF printed by the Chromium on this machine, one question per
    page; an assignment without any (hw1) writes and says nothing of the kind."""
    export = next(c for c in nb["cells"] if c["cell_type"] == "code" and "grader.export(" in source(c))
    said = "".join(text_of(o) for o in export.get("outputs", []))
    timing = export.get("metadata", {}).get("execution", {})
    written = sorted(p.name for p in folder.glob("*-written.*"))
    if not written_master.written_questions(hw):
        assert written == [] and "written" not in said.lower(), (written, said)
        return
    headings = [re.search(r"^#+\s*(.+)$", "".join(c["source"]), re.M).group(1)
                for c in nb["cells"] if c["cell_type"] == "markdown" and "<!-- BEGIN QUESTION -->" in "".join(c["source"])]
    page = (folder / f"{hw}-written.html").read_text()
    assert not re.search(r"<script[^>]*\ssrc=", page), "MathJax must be inlined from the edition's copy"
    assert "MathJax" in page and len(page) > 1_000_000, "no MathJax in the written answers' page"
    assert page.count("class='page'") == len(headings) >= 2
    assert "Sample answer" in page and "grader.check(" not in page
    assert zip_name in said and f"{hw}-written" in said and "autograder" in said, said
    if shutil.which("chromium") and shutil.which("pdftotext"):
        assert written == [f"{hw}-written.html", f"{hw}-written.pdf"], (written, said)
        text = subprocess.run(["pdftotext", str(folder / f"{hw}-written.pdf"), "-"], capture_output=True,
                              text=True, check=True).stdout
        pages = text.split("\f")
        for h in headings:
            start = h.split("$")[0].strip()[:30]
            assert any(" ".join(" ".join(p.split("\n")[1:]).split()).startswith(start) for p in pages), \
                f"{hw}: {start!r} does not start a page of the PDF"
        assert "Sample answer" in text and "$" not in text and "\\sigma" not in text
        assert f"{hw}-written.pdf to the written assignment" in said, said
    else:
        assert "Save as PDF" in said, said
    if timing.get("iopub.execute_input") and timing.get("shell.execute_reply"):
        from datetime import datetime
        took = (datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
                - datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))).total_seconds()
        TIMINGS[f"{hw}: export cell (zip, local tests, written HTML and PDF)"] = took


@pytest.mark.parametrize("hw", HWS)
def test_blank_notebook_provided_cells_run(hw, release_dir, student_venv, tmp_path):
    """The blank notebook, run top to bottom: the stubs fail their checks, but nothing
    provided (imports, the grader, the course package, data) is missing."""
    folder = assignment_copy(release_dir, hw, tmp_path)
    nb, _ = execute(student_venv, folder, f"{hw}.ipynb", tmp_path / "out", session=False, allow_errors=True)
    errors = [(source(c)[:80], text_of(o)) for c in nb["cells"] for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    missing = [e for e in errors if e[1].split(":")[0] in IMPORT_OR_FILE_ERRORS]
    assert not missing, f"{hw}: provided cells cannot find a module or file: {missing}"
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert not [o for o in first.get("outputs", []) if o.get("output_type") == "error"], first


def test_export_refuses_when_copies_cannot_be_told_apart(release_dir, student_venv, tmp_path):
    """No front end says which notebook is open and two copies sit in the folder: the
    export says so and writes nothing, rather than zip the wrong file."""
    folder = assignment_copy(release_dir, "hw1", tmp_path)
    blank = json.loads((folder / "hw1.ipynb").read_text())
    code = [c for c in blank["cells"] if c["cell_type"] == "code"]
    blank["cells"] = [code[0], {**code[-1], "source": "grader.export(pdf=False)"}]
    (folder / "hw1 (1).ipynb").write_text(json.dumps(blank))
    nb, _ = execute(student_venv, folder, "hw1 (1).ipynb", tmp_path / "out", session=False, allow_errors=True)
    out = "\n".join(text_of(o) for c in nb["cells"] for o in c.get("outputs", []))
    assert "NotebookNotFound" in out and "cannot tell which notebook" in out, out[-2000:]
    assert not list(folder.glob("*.zip"))


def test_binder_environment_executes_a_chapter(release_dir, student_venv, tmp_path):
    """binder/requirements.txt on top of the student venv, then a chapter executed with
    jupytext as Binder's JupyterLab would run it, and binder/postBuild's viewer setting."""
    start = time.monotonic()
    proc = run_in_venv(student_venv, ["python", "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
                       cwd=release_dir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    book = tmp_path / "edition"
    shutil.copytree(release_dir, book)
    chapter = "book/01-why-activations.md"
    proc = run_in_venv(student_venv, ["jupytext", "--to", "ipynb", "--execute", chapter], cwd=book, timeout=900)
    assert proc.returncode == 0, f"{chapter} failed in the Binder environment:\n{proc.stderr[-6000:]}"
    nb = json.loads((book / chapter).with_suffix(".ipynb").read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the chapter drew no figure"
    assert not [o for o in outputs if o.get("output_type") == "error"]
    home = tmp_path / "home"
    proc = run_in_venv(student_venv, ["bash", str(release_dir / "binder" / "postBuild")], cwd=release_dir,
                       HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"))
    assert proc.returncode == 0, proc.stderr
    settings = "\n".join(p.read_text() for p in (home / ".jupyter").rglob("*.json"))
    assert "Jupytext Notebook" in settings, "postBuild did not make Markdown open as notebooks"
    TIMINGS["binder: requirements + chapter 1"] = time.monotonic() - start
