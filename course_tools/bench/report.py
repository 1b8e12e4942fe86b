"""The benchmark report: ``bench/results.md`` from the measured results (tables, the
targets met or not, and notes whose every number is read from those results)."""
from __future__ import annotations

# Goals (not measurements): what each measurement should stay within on the course's
# 2-core CPU machine. The report says which are met.
TARGETS = {
    "grade_one_numpy_s": 15.0,       # one submission of an assignment whose graded cells use numpy only
    "grade_one_torch_s": 45.0,       # ... whose graded cells import torch
    "grading_overhead_s": 5.0,       # grade one - the notebook's own work in a plain kernel
    "vs_otter_run": 0.6,             # grade one / otter run -a
    "sandbox_cost_s": 0.3,           # grade one - grade one --no-sandbox
    "jobs2_speedup": 1.6,            # batch with JOBS=1 / with JOBS=2
    "book_cached_s": 30.0,
    "book_cold_s": 300.0,
    "comparison_cpu_s": 120.0,       # Assignment 3's comparison on CPU
}

SECTIONS = [("grading", "1. Grading (the grading tool, `make grade`)"),
            ("training", "2. Training comparison (Assignment 3's harness)"),
            ("accuracy", "2b. Final test accuracy of the comparison (mean and std over seeds)"),
            ("book", "3. Book build"), ("chapters", "3b. Chapter execution times (myst-nb cache)"),
            ("activations", "4. Activations: numpy reference forward + derivative"),
            ("autograd", "4b. Activations: autograd Functions vs torch built-ins (forward + backward)")]


def fmt(v) -> str:
    """A table cell: floats to three significant digits (thousands separated), NaN as n/a."""
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def table(rows: list[dict]) -> str:
    """A Markdown table of every scalar column of ``rows``, in first-seen order."""
    if not rows:
        return "_(nothing measured)_\n"
    cols = list(dict.fromkeys(k for r in rows for k, v in r.items() if not isinstance(v, (dict, list))))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _uses_torch(row: dict) -> bool:
    """Whether the row's assignment imports torch in its graded cells (read from the solution
    notebook when an older results file does not say)."""
    if "uses torch" in row:
        return bool(row["uses torch"])
    from ..settings import course
    from .grading import uses_torch
    notebook = course().solution_notebook(row["assignment"])
    return notebook.is_file() and uses_torch(notebook)


def targets_table(results: dict) -> list[dict]:
    """Each measurement that has a goal: measured, goal, met."""
    rows = []

    def add(what, value, target, ok):
        rows.append({"target": what, "measured": value, "goal": target, "met": "yes" if ok else "NO"})

    for r in results.get("grading", []):
        hw = r["assignment"]
        goal = TARGETS["grade_one_torch_s"] if _uses_torch(r) else TARGETS["grade_one_numpy_s"]
        add(f"grade one {hw} submission (s)", r["grade one (s)"], f"<= {goal:g}", r["grade one (s)"] <= goal)
        add(f"grading overhead {hw} (s)", r["overhead (s)"], f"<= {TARGETS['grading_overhead_s']:g}",
            r["overhead (s)"] <= TARGETS["grading_overhead_s"])
        if "tool / otter run" in r:
            add(f"grade one {hw}: tool / otter run -a", r["tool / otter run"],
                f"<= {TARGETS['vs_otter_run']:g}", r["tool / otter run"] <= TARGETS["vs_otter_run"])
        if "sandbox cost (s)" in r:
            add(f"sandbox cost per {hw} submission (s)", r["sandbox cost (s)"],
                f"<= {TARGETS['sandbox_cost_s']:g}", r["sandbox cost (s)"] <= TARGETS["sandbox_cost_s"])
        add(f"JOBS=2 speedup {hw}", r["speedup"], f">= {TARGETS['jobs2_speedup']:g}",
            r["speedup"] >= TARGETS["jobs2_speedup"])
    for r in results.get("book", []):
        key = "book_cold_s" if r["build"].startswith("cold") else "book_cached_s"
        add(f"book {r['build']} (s)", r["seconds"], f"<= {TARGETS[key]:g}", r["seconds"] <= TARGETS[key])
    for r in results.get("training", []):
        if r["device"] == "cpu" and "comparison (s)" in r:
            add("Assignment 3 comparison on CPU (s)", r["comparison (s)"], f"<= {TARGETS['comparison_cpu_s']:g}",
                r["comparison (s)"] <= TARGETS["comparison_cpu_s"])
    return rows


def notes(results: dict) -> list[str]:
    """What the measurements say, each number read from ``results`` (a note whose numbers an
    older results file lacks is left out)."""
    out = []
    for r in results.get("grading", []):
        if {"tool / otter run", "CPU: tool (unsandboxed) / otter run", "ratio spread"} <= set(r):
            wall, cpu = r["tool / otter run"], r["CPU: tool (unsandboxed) / otter run"]
            why = ("below the CPU ratio: the tool starts the kernel first and imports nbformat and otter "
                   "while the kernel preloads, where otter run does one thing after the other"
                   if wall < cpu else
                   "not below the CPU ratio: the overlap of the tool's imports with the kernel's start-up "
                   "gained nothing here (the other cores were busy)")
            out.append(f"{r['assignment']}: the tool takes {fmt(wall)} of `otter run -a`'s wall time "
                       f"(paired rounds: {r['ratio spread']}; load {fmt(r['load (1 min)'])}) and {fmt(cpu)} "
                       f"of its CPU time; the wall ratio is {why}.")
        if {"sandbox cost (s)", "cost spread (s)", "overhead (s)"} <= set(r):
            out.append(f"{r['assignment']}: the sandbox costs {fmt(r['sandbox cost (s)'])} s per submission "
                       f"(paired with `--no-sandbox`, spread {r['cost spread (s)']} s); the grading overhead "
                       f"over the notebook's own work is {fmt(r['overhead (s)'])} s.")
    acts = [r for r in results.get("activations", []) if "numpy / bound" in r]
    if acts:
        shares = [r["numpy / bound"] for r in acts]
        out.append(f"Activations: the numpy reference reaches {min(shares):.1%}-{max(shares):.1%} of the copy "
                   "bound: it is compute-bound on transcendentals (exp, log1p, tanh) and each numpy operation "
                   "writes a full temporary array, where torch's built-ins fuse forward and backward.")
    for r in results.get("autograd", []):
        if "custom/built-in time" in r:
            out.append(f"Autograd Function {r['activation']} ({r['dtype']}, n = {r['n']:,}): "
                       f"{fmt(r['custom/built-in time'])} times the built-in's time.")
    for r in results.get("training", []):
        if {"comparison (s)", "runs", "epochs"} <= set(r):
            out.append(f"Training on {r['device']}: the whole comparison ({r['runs']} runs of {r['epochs']} "
                       f"epoch(s)) took {fmt(r['comparison (s)'])} s.")
    return out


def report(results: dict, smoke: bool) -> str:
    """The Markdown report of ``results`` (the machine, the targets, every section, notes)."""
    parts = ["# Benchmark results\n",
             "Produced by `make bench` (`python -m course_tools bench`). Medians of at least three runs "
             "after a warm-up; ratios are measured side by side in the same run.\n"]
    if smoke:
        parts.append("**Smoke run with tiny sizes: these numbers mean nothing.**\n")
    parts.append("## Machine\n\n" + table([{"item": k, "value": v} for k, v in results["machine"].items()]))
    parts.append("## Targets\n\n" + table(targets_table(results)))
    for key, title in SECTIONS:
        if key in results:
            parts.append(f"## {title}\n\n" + table(results[key]))
    written = notes(results)
    if written:
        parts.append("## Notes\n\n" + "\n".join(f"- {n}" for n in written) + "\n")
    return "\n".join(parts)
