"""Grade notebooks through the real autograder (``otter run`` with the committed zip).

The wrong-implementation suites build notebook variants from the generated
solution notebook and grade them exactly as an instructor would, so a test only
passes if the shipped autograder itself tells right from wrong.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent


def autograder_zip(hw: str) -> Path:
    return REPO / "autograder" / hw / f"{hw}-autograder.zip"


def solution_notebook(hw: str) -> Path:
    return REPO / "autograder" / hw / f"{hw}.ipynb"


def student_notebook(hw: str) -> Path:
    return REPO / "assignments" / hw / f"{hw}.ipynb"


def variant(hw: str, code: str, dest: Path, base: Path | None = None) -> Path:
    """The solution notebook with ``code`` appended as a last cell.

    The appended cell redefines one or more student functions. otter grades a
    question when its ``grader.check`` cell runs and keeps that result, so the
    notebook's own ``grader.check`` cells are removed: every question is then
    graded after the last cell, and sees the variant. The notebook is written to
    ``dest`` under the assignment's file name (otter expects it).
    """
    nb = nbformat.read(base or solution_notebook(hw), as_version=4)
    nb.cells = [c for c in nb.cells
                if not (c.cell_type == "code" and c.source.lstrip().startswith("grader.check("))]
    nb.cells.append(nbformat.v4.new_code_cell(code))
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{hw}.ipynb"
    nbformat.write(nb, out)
    return out


def otter_run(hw: str, notebook: Path, timeout: float = 600) -> dict[str, float]:
    """Grade one notebook with ``otter run``; return {question: score} (no 'Public Tests')."""
    with tempfile.TemporaryDirectory(prefix=f"otter-run-{hw}-") as out:
        env = dict(os.environ)
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        env.setdefault("MPLBACKEND", "Agg")
        proc = subprocess.run(
            [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(autograder_zip(hw)),
             "-o", out, str(notebook)],
            capture_output=True, text=True, timeout=timeout, env=env,
        )
        results = Path(out) / "results.json"
        if not results.exists():
            raise RuntimeError(f"otter run wrote no results for {notebook}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        data = json.loads(results.read_text())
    return {t["name"]: float(t.get("score") or 0.0) for t in data["tests"] if "max_score" in t}


def otter_run_many(hw: str, notebooks: dict[str, Path], jobs: int | None = None) -> dict[str, dict[str, float]]:
    """Grade several notebooks, ``jobs`` at a time (default: the number of cores)."""
    jobs = jobs or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {name: pool.submit(otter_run, hw, path) for name, path in notebooks.items()}
        return {name: f.result() for name, f in futures.items()}


def max_scores(hw: str) -> dict[str, float]:
    """Points per question, read from the autograder zip's test files."""
    import zipfile
    scores = {}
    with zipfile.ZipFile(autograder_zip(hw)) as z:
        for name in z.namelist():
            if name.startswith("tests/") and name.endswith(".py"):
                env: dict = {}
                exec(z.read(name).decode(), env)
                # OK-format files hold a `test` dict; exception-based ones define name/points at top level.
                t = env.get("test") or env
                scores[t["name"]] = float(t["points"])
    return scores
