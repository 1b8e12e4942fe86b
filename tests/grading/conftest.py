"""Fixtures for the grading tool's tests (the cases live in grading_cases.py)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from grading.grading_cases import MASTER, build_cases, read_gradebook, run_tool, tool_env


@pytest.fixture(scope="session")
def fixhw(tmp_path_factory) -> dict:
    """otter assign the fixture master: {'zip': Path, 'solution': Path, 'student': Path}."""
    out = tmp_path_factory.mktemp("fixhw-dist")
    proc = subprocess.run([sys.executable, "-m", "otter", "assign", "--no-pdfs", str(MASTER), str(out)],
                          cwd=MASTER.parent, env=tool_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    zips = list((out / "autograder").glob("fixhw-autograder*.zip"))
    assert len(zips) == 1
    return {"zip": zips[0], "solution": out / "autograder" / "fixhw.ipynb",
            "student": out / "student" / "fixhw.ipynb"}


@pytest.fixture(scope="session")
def batch(fixhw, tmp_path_factory):
    """Every case above, graded in one run of the tool (JOBS=2)."""
    root = tmp_path_factory.mktemp("batch")
    subs = root / "submissions"
    cases = build_cases(fixhw["solution"], subs)
    out = root / "out" / "gradebook.csv"
    t0 = time.monotonic()
    proc = run_tool("fixhw", subs, "--autograder", fixhw["zip"], "--out", out, "--jobs", 2,
                    "--timeout", 150, "--memory-mb", 2048, "--max-output-mb", 32, "--no-progress")
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"cases": {c.name: c for c in cases}, "rows": read_gradebook(out), "out": out,
            "results": out.parent / "results", "proc": proc, "wall": wall, "subs": subs}
