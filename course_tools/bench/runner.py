"""The ``bench`` command: run the chosen benchmarks, keep the sections not re-run from the
last JSON, and write ``bench/results.md`` (and ``results.json``) from the measurements."""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from ..settings import course
from . import report

log = logging.getLogger(__name__)
# section -> the result keys it writes
SECTIONS = {"grading": ["grading"], "training": ["training", "accuracy"], "book": ["book", "chapters"],
            "activations": ["activations", "autograd"]}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``bench`` command's arguments."""
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check the benchmark code runs")
    p.add_argument("--out", default=None, help="Markdown report path (default: bench/results.md)")
    p.add_argument("--only", nargs="*", choices=list(SECTIONS), help="run only these sections")
    p.add_argument("--repeat", type=int, default=3, help="runs (grading: paired rounds) per timing")
    p.add_argument("--hw", nargs="*", help="grading: only these assignments (default: every master)")
    p.add_argument("--batch", type=int, default=16, help="grading: submissions in the JOBS=1/JOBS=2 batch")
    p.add_argument("--report-only", action="store_true", help="rewrite the Markdown report from the last JSON")


def _activations(args, repeat: int) -> dict:
    from .activations import bench_activations, bench_autograd_functions
    sizes = [10**3, 10**4] if args.smoke else [10**4, 10**6, 10**7]
    return {"activations": bench_activations(sizes, repeat),
            "autograd": bench_autograd_functions(10**4 if args.smoke else 10**6, repeat)}


def _training(args, repeat: int) -> dict:
    from .training import bench_training
    rows, accuracy = bench_training(repeat=1 if args.smoke else repeat, smoke=args.smoke)
    return {"training": rows, "accuracy": accuracy}


def _book(args, repeat: int) -> dict:
    from .book import bench_book, chapter_times
    if args.smoke:  # no build: read the chapter times of the book `make test` just built
        rows, chapters = [], chapter_times(course().book_build)
    else:
        rows, chapters = bench_book(cold=True)
    return {"book": rows, "chapters": [{"chapter": k, "execution (s)": v} for k, v in sorted(chapters.items())]}


def _grading(args, repeat: int) -> dict:
    from .grading import bench_grading
    known = course().masters()
    unknown = sorted(set(args.hw or []) - set(known))
    if unknown:
        from ..exits import CannotRun
        raise CannotRun(f"no master for {unknown}; have {sorted(known)}")
    hws = args.hw or (sorted(known)[:1] if args.smoke else sorted(known))
    return {"grading": bench_grading(hws, batch=2 if args.smoke else args.batch, repeat=repeat,
                                     warmup=0 if args.smoke else 1)}


RUNS = {"activations": _activations, "training": _training, "book": _book, "grading": _grading}


def run(args: argparse.Namespace) -> int:
    """``python -m course_tools bench``."""
    from .measure import machine

    out = Path(args.out) if args.out else course().bench_results
    previous = out.with_suffix(".json")
    if args.report_only:  # rebuild the Markdown from the last run's JSON
        out.write_text(report.report(json.loads(previous.read_text()), smoke=False))
        print(out.read_text())
        return 0
    chosen = set(args.only or SECTIONS)
    repeat = 1 if args.smoke else max(3, args.repeat)
    results: dict = {"machine": machine()}
    for name, fn in RUNS.items():
        if name not in chosen:
            continue
        log.info("[bench] %s ...", name)
        t0 = time.perf_counter()
        results.update(fn(args, repeat))
        log.info("[bench] %s done in %.0fs", name, time.perf_counter() - t0)
    if args.only and previous.exists():  # keep the sections not re-run from the last report
        kept = json.loads(previous.read_text())
        for name, keys in SECTIONS.items():
            if name not in chosen:
                results.update({k: kept[k] for k in keys if k in kept})
    text = report.report(results, args.smoke)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    previous.write_text(json.dumps(results, indent=1, default=str))
    log.info("[bench] wrote %s", out)
    return 0
