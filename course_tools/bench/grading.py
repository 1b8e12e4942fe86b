"""Grading: one correct submission (the solution notebook) through ``grade`` in its sandbox,
through the anchor ``otter run -a <zip>`` and through ``grade --no-sandbox``, in paired
rounds (medians of the per-round ratios and differences, with their spread, wall and CPU
time); the notebook's own work in a plain kernel; a batch with JOBS=1 and JOBS=2."""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ..settings import course
from .measure import median_time, paired_runs, run_command, spread

GRADE_CMD = [sys.executable, "-m", "course_tools", "-q", "grade"]


def _grade(hw: str, subs: Path, jobs: int, out: Path, *extra: str) -> float:
    return run_command(GRADE_CMD + [hw, str(subs), "--out", str(out / "gradebook.csv"), "--jobs", str(jobs),
                                    "--redo", "--no-progress", *extra], cwd=course().root)


def _otter_run(hw: str, nb: Path, out: Path) -> float:
    """The anchor: ``otter run -a <zip>`` on one notebook, as an instructor would run it."""
    out.mkdir(parents=True, exist_ok=True)
    return run_command([sys.executable, "-m", "otter", "run", "--no-logo", "-a",
                        str(course().autograder_zip(hw)), "-o", str(out), str(nb)], cwd=course().root)


def _plain_execute(nb_path: Path) -> float:
    """Execute the cells grading executes, in a plain kernel with no otter at all.

    Grading skips cells tagged ``otter_ignore`` (demos, plots, the training
    comparison); otter's own cells (set-up, ``grader.check``, export) are the
    grading's work, not the notebook's. What is left is the notebook's own work.
    """
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells = [c for c in nb.cells if c.cell_type != "code" or not (
        "otter_ignore" in c.metadata.get("tags", []) or "grader" in c.source or "import otter" in c.source)]
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(nb_path.parent)}}).execute()
    return time.perf_counter() - t0


def uses_torch(notebook: Path) -> bool:
    """Whether the graded cells import torch (its goal allows for torch's import and work)."""
    import json
    nb = json.loads(notebook.read_text())
    return any("import torch" in "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
               and "otter_ignore" not in c.get("metadata", {}).get("tags", []))


def bench_one(hw: str, batch: int, repeat: int, warmup: int) -> dict:
    """The grading row of one assignment."""
    sol = course().solution_notebook(hw)
    with tempfile.TemporaryDirectory(prefix=f"bench-grade-{hw}-") as tmp:
        tmp = Path(tmp)
        one = tmp / "one"
        one.mkdir()
        shutil.copy(sol, one / f"{hw}.ipynb")
        # the first grading of an assignment may build its environment: not timed
        _grade(hw, one, 1, tmp / "out-one")
        load = os.getloadavg()[0]
        runs = paired_runs({"tool": lambda: _grade(hw, one, 1, tmp / "out-one"),
                            "otter": lambda: _otter_run(hw, one / f"{hw}.ipynb", tmp / "otter-out"),
                            "unsandboxed": lambda: _grade(hw, one, 1, tmp / "out-nosb", "--no-sandbox")},
                           repeat, warmup)
        wall = {k: [w for w, _ in v] for k, v in runs.items()}
        cpu = {k: [c for _, c in v] for k, v in runs.items()}
        ratios = [t / o for t, o in zip(wall["tool"], wall["otter"])]
        # CPU time of the unsandboxed tool: a sandboxed kernel is reaped by the sandbox's own
        # PID 1, which dies first, so its CPU time never reaches this process's children
        cpu_ratios = [t / o for t, o in zip(cpu["unsandboxed"], cpu["otter"])]
        costs = [t - u for t, u in zip(wall["tool"], wall["unsandboxed"])]
        t_plain = median_time(lambda: _plain_execute(one / f"{hw}.ipynb"), repeat, warmup)
        many = tmp / "batch"
        for i in range(batch):
            d = many / f"student{i:02d}"
            d.mkdir(parents=True)
            shutil.copy(sol, d / f"{hw}.ipynb")
        t1 = _grade(hw, many, 1, tmp / "out-j1")
        t2 = _grade(hw, many, 2, tmp / "out-j2")
    tool = statistics.median(wall["tool"])
    return {"assignment": hw, "rounds": repeat, "load (1 min)": load,
            "grade one (s)": tool, "spread (s)": spread(wall["tool"]),
            "otter run -a (s)": statistics.median(wall["otter"]),
            "tool / otter run": statistics.median(ratios), "ratio spread": spread(ratios),
            "CPU: tool (unsandboxed) / otter run": statistics.median(cpu_ratios),
            "unsandboxed (s)": statistics.median(wall["unsandboxed"]),
            "sandbox cost (s)": statistics.median(costs), "cost spread (s)": spread(costs),
            "plain execution (s)": t_plain, "overhead (s)": tool - t_plain,
            f"batch {batch}, JOBS=1 (s)": t1, f"batch {batch}, JOBS=2 (s)": t2,
            "per submission, JOBS=2 (s)": t2 / batch, "speedup": t1 / t2,
            "uses torch": uses_torch(sol),
            "pairs": {"wall": wall, "cpu": cpu}}


def bench_grading(hws: list[str], batch: int, repeat: int, warmup: int = 1) -> list[dict]:
    """``bench_one`` for each assignment."""
    return [bench_one(hw, batch, repeat, warmup) for hw in hws]
