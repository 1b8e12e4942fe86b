"""Timing helpers shared by the benchmarks, the machine they ran on, and the reference
implementations read from the generated solution notebooks (``autograder/<hw>/<hw>.ipynb``)."""
from __future__ import annotations

import ast
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from ..exits import Problems
from ..processes import subprocess_env
from ..settings import course


def median_time(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_command(cmd: list[str], **kw) -> float:
    """Wall seconds of one command, which must succeed (``Problems`` otherwise)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=subprocess_env(bin_dir=Path(sys.executable).parent), capture_output=True,
                          text=True, **kw)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise Problems(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def with_cpu(fn: Callable[[], float]) -> tuple[float, float]:
    """(wall, CPU) seconds of one timed command: CPU is user + system time of every process it
    started and waited for (the tool's kernels and otter's included)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = fn()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def spread(values: list[float]) -> str:
    return f"{min(values):.3g}-{max(values):.3g}" if values else ""


def paired_runs(fns: dict[str, Callable[[], float]], repeat: int, warmup: int) -> dict[str, list]:
    """``repeat`` rounds of every command, one after the other (the order flips each round),
    so that each round is a pair measured under the same load. Returns each command's
    (wall, CPU) per round."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    runs: dict[str, list] = {k: [] for k in fns}
    names = list(fns)
    for i in range(repeat):
        for k in (names if i % 2 == 0 else names[::-1]):
            runs[k].append(with_cpu(fns[k]))
    return runs


def _graded_code_cells(nb: dict):
    """Every code cell but otter's own (grader set-up, checks, export) and the demo cells
    that grading skips too (tagged otter_ignore)."""
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] != "code" or "otter_ignore" in tags or "grader" in src or "import otter" in src:
            continue
        yield src


def solution_namespace(hw: str) -> dict:
    """Execute the graded cells of ``autograder/<hw>/<hw>.ipynb`` and return their namespace."""
    nb = json.loads(course().solution_notebook(hw).read_text())
    ns: dict = {"__name__": f"{hw}_solution"}
    for src in _graded_code_cells(nb):
        exec(compile(src, f"<{hw} solution>", "exec"), ns)
    return ns


def notebook_setup(hw: str, name: str, ns: dict) -> dict:
    """Run, in ``ns``, the statements of the solution notebook's cell that assigns ``name``
    up to (not including) the first that uses it: e.g. hw3's comparison cell gives its
    ``factories``, ``SEEDS`` and ``EPOCHS`` without training. Returns ``ns``."""
    nb = json.loads(course().solution_notebook(hw).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse("".join(cell["source"]))
        assigned = [i for i, node in enumerate(tree.body) if isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)]
        if not assigned:
            continue
        upto = assigned[0] + 1
        while upto < len(tree.body) and not any(isinstance(n, ast.Name) and n.id == name
                                                for n in ast.walk(tree.body[upto])):
            upto += 1
        module = ast.Module(body=tree.body[:upto], type_ignores=[])
        exec(compile(module, f"<{hw} {name}>", "exec"), ns)
        return ns
    raise Problems(f"{course().solution_notebook(hw)} has no code cell that assigns {name!r}")


def machine() -> dict[str, str]:
    """The machine, the interpreter and the libraries the numbers were measured with."""
    import numpy as np
    import torch
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {
        "cores": str(os.cpu_count()),
        "CPU": cpu,
        "Python": platform.python_version(),
        "numpy": np.__version__,
        "torch": f"{torch.__version__} ({'CUDA ' + str(torch.version.cuda) if torch.version.cuda else 'CPU build'})",
        "torch threads": f"intra-op {torch.get_num_threads()}, inter-op {torch.get_num_interop_threads()}",
        "GPU": gpu,
    }
