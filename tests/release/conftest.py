"""Fixtures for the student-edition tests: the release, and a clean venv built from it.

``student_venv`` is what a student has after following the edition's README: a new
``python -m venv`` outside the checkout with ``pip install -r requirements.txt`` run
from the edition's root. The interpreter is the one that created the course's
``.venv`` (its base Python), never the ``.venv`` itself, and no ``PYTHONPATH`` is
passed, so nothing of the checkout is importable from it. It is built once per test
session (about a minute here); ``STUDENT_VENV=/path`` reuses an existing one.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_tools import release
from edition_support import TIMINGS, clean_env


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("edition") / "student-edition"
    release.write_edition(dest)
    return dest


@pytest.fixture(scope="session")
def student_venv(release_dir, tmp_path_factory) -> Path:
    """The ``bin`` folder of a fresh venv with the edition's requirements installed."""
    if os.environ.get("STUDENT_VENV"):
        return Path(os.environ["STUDENT_VENV"]) / "bin"
    venv = tmp_path_factory.mktemp("student") / "venv"
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    start = time.monotonic()
    subprocess.run([str(base_python), "-m", "venv", str(venv)], check=True, env=clean_env())
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", "requirements.txt"],
                          cwd=release_dir, env=clean_env(), capture_output=True, text=True)
    TIMINGS["student venv install"] = time.monotonic() - start
    if proc.returncode != 0:
        pytest.fail(f"pip install -r requirements.txt failed in a clean venv:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return venv / "bin"


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_sep("-", "student edition timings")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name}: {seconds:.1f} s")
