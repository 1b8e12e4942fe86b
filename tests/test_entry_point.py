"""The instructor tools' one entry point (``python -m course_tools COMMAND``): its commands,
its exit-code convention (``course_tools.exits``), its course root (``--root`` /
``$COURSE_ROOT``, so a throwaway course in a temporary folder can be assigned, released
and graded), and the torch pin written once (``settings.TORCH_PIN``)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_tools import cli, settings
from course_tools.exits import CANNOT_RUN, PROBLEMS

REPO = Path(__file__).resolve().parent.parent


def test_help_names_every_command_and_the_exit_codes():
    proc = subprocess.run([sys.executable, "-m", "course_tools", "--help"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in cli.COMMANDS:
        assert name in proc.stdout
    assert "2 usage or environment error" in proc.stdout.replace("\n", " ")


def test_bad_arguments_exit_2():
    proc = subprocess.run([sys.executable, "-m", "course_tools", "grade"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == CANNOT_RUN and "usage:" in proc.stderr


def throwaway_course(tmp_path: Path, points: str) -> Path:
    """A course folder holding only hw1's master, its question q2's points set to ``points``."""
    nb = json.loads(settings.course(REPO).master("hw1").read_text())
    cell = next(c for c in nb["cells"] if "name: q2_sigmoid" in "".join(c["source"]))
    cell["source"] = [re.sub(r"points: \d+", f"points: {points}", line) for line in cell["source"]]
    master = tmp_path / "solutions" / "hw1" / "hw1.ipynb"
    master.parent.mkdir(parents=True)
    master.write_text(json.dumps(nb))
    return tmp_path


def test_the_course_root_comes_from_root_or_the_environment(tmp_path, monkeypatch):
    assert settings.course().root == REPO.resolve() or "COURSE_ROOT" in __import__("os").environ
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    assert settings.course().root == tmp_path.resolve()
    assert settings.course().autograder_zip("hw4") == tmp_path.resolve() / "autograder" / "hw4" / "hw4-autograder.zip"
    assert settings.course(REPO).root == REPO.resolve()


def test_assign_finds_problems_in_another_courses_master_exit_1(tmp_path, monkeypatch, capsys):
    root = throwaway_course(tmp_path, points="16")   # its tests still sum to 14
    monkeypatch.delenv("COURSE_ROOT", raising=False)
    assert cli.main(["--root", str(root), "assign"]) == PROBLEMS
    err = capsys.readouterr().err
    assert "q2_sigmoid" in err and str(root) in err
    assert not (root / "assignments").exists()         # refused before otter ran


def test_unknown_assignment_and_missing_zip_exit_2(tmp_path, monkeypatch, capsys):
    root = throwaway_course(tmp_path, points="14")
    monkeypatch.delenv("COURSE_ROOT", raising=False)
    assert cli.main(["--root", str(root), "assign", "hw9"]) == CANNOT_RUN
    assert "hw9" in capsys.readouterr().err
    assert cli.main(["--root", str(root), "grade", "hw1", str(root)]) == CANNOT_RUN
    assert f"{root.resolve()}/autograder/hw1/hw1-autograder.zip" in capsys.readouterr().err


def test_the_makefile_reads_the_torch_pin_from_settings():
    line = next(ln for ln in (REPO / "course_tools" / "settings.py").read_text().splitlines()
                if ln.startswith("TORCH_PIN = "))
    assert line == f'TORCH_PIN = "{settings.TORCH_PIN}"'   # the form the Makefile's sed reads
    out = subprocess.run(["make", "-n", "-B", ".venv/.installed"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert f'"{settings.TORCH_PIN}"' in out and f"--extra-index-url {settings.TORCH_INDEX}" in out


@pytest.mark.parametrize("doc", ["README.md", "CONTRIBUTING.md", "Makefile", "requirements.txt",
                                 "course_tools/edition/README.md", "course_tools/edition/requirements.txt"])
def test_no_other_torch_pin_is_written(doc):
    path = REPO / doc
    if not path.exists():
        pytest.skip(f"no {doc}")
    pins = set(re.findall(r"torch==[0-9][\w.+]*", path.read_text()))
    assert pins <= {settings.TORCH_PIN}, f"{doc} writes {sorted(pins)}; the pin is settings.TORCH_PIN"
