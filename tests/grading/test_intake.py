"""Intake (``intake``): finding submissions and checking them without running anything."""
from __future__ import annotations

import io
import zipfile

import nbformat
import pytest

from course_tools.grading import intake
from course_tools.grading.assignment import load_assignment
from course_tools.grading.intake import Invalid, Submission, prepare
from grading.grading_cases import notebook


def test_discover_recurses_and_skips_hidden(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.ipynb").write_text("{}")
    (tmp_path / "a" / "y.zip").write_bytes(b"")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")
    (tmp_path / "notes.md").write_text("")
    subs, ignored = intake.discover([str(tmp_path)])
    assert [s.id for s in subs] == ["a/b/x.ipynb", "a/y.zip"] and ignored == 1


def test_zip_bomb_and_size_limits(fixhw, tmp_path, monkeypatch):
    a = load_assignment("fixhw", fixhw["zip"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("fixhw.ipynb", "{}")
        z.writestr("zeros.bin", b"\0" * (intake.MAX_ZIP_TOTAL + 1))
    (tmp_path / "bomb.zip").write_bytes(buf.getvalue())
    with pytest.raises(Invalid, match="expands to more than"):
        prepare(Submission("bomb.zip", tmp_path / "bomb.zip"), a)
    monkeypatch.setattr(intake, "MAX_SUBMISSION_BYTES", 10)
    (tmp_path / "big.ipynb").write_text("{" + " " * 20 + "}")
    with pytest.raises(Invalid, match="too large"):
        prepare(Submission("big.ipynb", tmp_path / "big.ipynb"), a)


def test_prepare_rewrites_the_kernel_on_a_copy(fixhw, tmp_path):
    a = load_assignment("fixhw", fixhw["zip"])
    path = tmp_path / "k.ipynb"
    nbformat.write(notebook(fixhw["solution"], meta={"kernelspec": {"name": "ir", "language": "R"}}), path)
    before = path.read_bytes()
    prep = prepare(Submission("k.ipynb", path), a)
    assert prep.notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert any("'ir' replaced" in n for n in prep.notes)
    assert path.read_bytes() == before




def test_the_notebook_keeps_its_own_file_name(fixhw, tmp_path):
    """As on Gradescope: ``hw1 (1).ipynb`` stays ``hw1 (1).ipynb``; a zip's notebook keeps its name."""
    a = load_assignment("fixhw", fixhw["zip"])
    path = tmp_path / "fixhw (1).ipynb"
    nbformat.write(notebook(fixhw["solution"]), path)
    assert prepare(Submission(path.name, path), a).filename == "fixhw (1).ipynb"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("my work.ipynb", nbformat.writes(notebook(fixhw["solution"])))
        z.writestr("data.csv", "1,2\n")
    (tmp_path / "export.zip").write_bytes(buf.getvalue())
    prep = prepare(Submission("export.zip", tmp_path / "export.zip"), a)
    assert prep.filename == "my work.ipynb" and list(prep.extra_files) == ["data.csv"]


def test_shipped_files_that_shadow_the_grading_environment_are_dropped(fixhw, tmp_path):
    a = load_assignment("fixhw", fixhw["zip"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("fixhw.ipynb", nbformat.writes(notebook(fixhw["solution"])))
        z.writestr("torch.py", "x = 1\n")
        z.writestr("helpers.py", "x = 1\n")
    (tmp_path / "s.zip").write_bytes(buf.getvalue())
    prep = prepare(Submission("s.zip", tmp_path / "s.zip"), a, has_module=lambda n: n in ("torch", "numpy"))
    assert prep.shadowing == ["torch.py"] and list(prep.extra_files) == ["helpers.py"]
