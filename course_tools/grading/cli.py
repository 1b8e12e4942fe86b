"""The ``grade`` command: ``python -m course_tools grade HW SUBMISSIONS... [options]``."""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from ..exits import CannotRun, INTERRUPTED
from ..settings import LIMIT_MINIMUMS, Limits
from .assignment import Analysis, Assignment, ToolError, open_assignment
from .bwrap import probe
from .environment import ensure_env
from .intake import Invalid, discover, prepare
from .pipeline import grade_all
from .record import Result
from .store import Store, class_report, file_hash, summarize

log = logging.getLogger(__name__)
DEFAULT = Limits()

DESCRIPTION = """\
Grade a folder of student submissions (.ipynb notebooks and the zips that
grader.export() makes, found recursively) against autograder/<HW>/<HW>-autograder.zip,
as Gradescope grades them: in the environment the zip's environment.yml declares
(built once into a cached venv), each question at its grader.check cell. Writes a
gradebook CSV with one row per submission: submission, status (graded, flagged,
error, timeout, invalid), total, max, one column per question, message; per
submission a JSON result and a feedback file for the student (results/ next to the
CSV); a class summary (summary.md, summary.csv, histogram.png). Each kernel runs in
a bubblewrap sandbox of its own (no network, no view of this machine's files or
processes, a private work folder and /tmp) under a wall-clock timeout and caps on
memory, output, processes, CPU time and scratch disk; a guard inside the kernel
detects and neutralises tampering with the tests (status flagged). A re-run skips
submissions already graded (same file contents) unless --redo. Exit status: 0
whatever the submissions did (each is a row); 2 when the tool cannot run (no
bubblewrap sandbox, no autograder zip, no submissions); 130 when interrupted."""

EPILOG = """\
examples:
  python -m course_tools grade hw1 submissions/
  python -m course_tools grade hw2 submissions/ --out grades/hw2.csv --jobs 4 --timeout 300
  python -m course_tools grade hw3 submissions/ --docker --dry-run   # the otter grade command"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``grade`` command's arguments (the limits' defaults are ``settings.Limits``'s)."""
    p.description, p.epilog, p.formatter_class = DESCRIPTION, EPILOG, argparse.RawDescriptionHelpFormatter
    p.add_argument("hw", help="assignment name (a folder of solutions/): grades against autograder/HW/HW-autograder.zip")
    p.add_argument("submissions", nargs="+", help="submission files and/or folders (searched recursively)")
    p.add_argument("--out", "-o", help="gradebook CSV (default: grades/HW/gradebook.csv); "
                   "per-submission JSON goes to the CSV's folder/results/")
    p.add_argument("--jobs", "-j", type=int, default=None, help="submissions graded at once (default: number of cores)")
    p.add_argument("--timeout", "-t", type=float, default=DEFAULT.timeout,
                   help="wall-clock seconds per submission before its whole process tree is killed "
                        f"(default {DEFAULT.timeout:g})")
    p.add_argument("--memory-mb", type=int, default=DEFAULT.memory_mb,
                   help=f"address-space cap per process (runner and kernel), MiB (default {DEFAULT.memory_mb})")
    p.add_argument("--max-output-mb", type=int, default=DEFAULT.max_output_mb,
                   help=f"cap on the output kept and on any file written, MiB (default {DEFAULT.max_output_mb})")
    p.add_argument("--max-procs", type=int, default=DEFAULT.max_procs,
                   help=f"cap on the processes and threads of one submission (default {DEFAULT.max_procs})")
    p.add_argument("--disk-mb", type=int, default=DEFAULT.disk_mb,
                   help=f"size of each of the submission's work folder, /tmp and /dev/shm, MiB "
                        f"(default {DEFAULT.disk_mb})")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run kernels without bubblewrap, with your rights (every row then says unsandboxed)")
    p.add_argument("--redo", action="store_true", help="grade again submissions that already have a result")
    p.add_argument("--autograder", help="use this autograder zip instead of autograder/HW/HW-autograder.zip")
    p.add_argument("--docker", action="store_true",
                   help="delegate to `otter grade` (Docker containers), same gradebook and results folder")
    p.add_argument("--dry-run", action="store_true", help="with --docker: print the otter grade command only")
    p.add_argument("--env-cache", type=Path, default=None,
                   help="folder of cached grading environments (default: $ACGRADE_ENV_CACHE or "
                        "~/.cache/activation-course/grading-envs)")
    p.add_argument("--written", type=Path, default=None,
                   help="merge this written-scores.csv (from `make written`): a column per written question, "
                        "total out of autograded + written points; refused whole, before grading, if any score is bad")
    p.add_argument("--keep-work", action="store_true", help="keep each submission's work folder (debugging)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse (exit 2) values no submission could be graded under."""
    if args.jobs is not None and args.jobs < 1:
        raise CannotRun("--jobs must be at least 1")
    if args.timeout <= 0:
        raise CannotRun("--timeout must be positive")
    for name, least in LIMIT_MINIMUMS.items():
        if getattr(args, name) < least:
            raise CannotRun(f"--{name.replace('_', '-')} must be at least {least}")
    if args.dry_run and not args.docker:
        raise CannotRun("--dry-run goes with --docker")


def out_paths(args) -> tuple[Path, Path]:
    out = Path(args.out) if args.out else Path("grades") / args.hw / "gradebook.csv"
    if out.suffix.lower() != ".csv":
        out = out / "gradebook.csv"
    return out, out.parent / "results"


def run(args: argparse.Namespace) -> int:
    """``python -m course_tools grade``: grade, write the gradebook, print the summary."""
    check_arguments(args)
    z = open_assignment(args.hw, args.autograder)
    out, results_dir = out_paths(args)
    subs, ignored = discover(args.submissions, exclude=[
        results_dir, out.parent / "docker-staging", out.parent / "docker-out"])
    if not subs:
        raise ToolError(f"no submissions (.ipynb or .zip) found in {' '.join(args.submissions)}"
                        + (f" ({ignored} other files ignored)" if ignored else ""))
    written = None
    if args.written:  # checked whole before anything is graded: a bad sheet writes no gradebook
        from ..written.scores import read_scores
        written = read_scores(args.written, z.name, [s.id for s in subs])
    if args.docker:
        return docker(args, Assignment.analyse(z), subs, out, results_dir, written)
    env = ensure_env(z.environment_yml, cache=args.env_cache, announce=log.info)
    if args.no_sandbox:
        log.warning("--no-sandbox: every submission runs with your rights, your files and your "
                    "network; rows say unsandboxed")
    else:
        probe(env.python)  # once per run: refuses, with the fix, where no sandbox can be made
    return grade_here(args, z, env, subs, ignored, out, written)


def resume(subs, results_dir: Path, autograder: str, redo: bool) -> tuple[dict[str, Result], list]:
    """(the stored results of submissions already graded, the (submission, hash) pairs to grade)."""
    records: dict[str, Result] = {}
    todo = []
    for s in subs:
        digest = file_hash(s.path)
        old = None if redo else Store.previous_result(results_dir, s, digest, autograder)
        if old is not None:
            records[s.id] = old
        else:
            todo.append((s, digest))
    return records, todo


def limits_of(args, jobs: int, to_grade: int) -> Limits:
    """The limits of each kernel; its BLAS/OpenMP threads are the cores shared by the kernels
    that run at once."""
    running = max(1, min(jobs, to_grade))
    return Limits(timeout=args.timeout, memory_mb=args.memory_mb, max_output_mb=args.max_output_mb,
                  threads=max(1, (os.cpu_count() or 1) // running), max_procs=args.max_procs,
                  disk_mb=args.disk_mb)


def progress_bar(args, total: int, initial: int, name: str):
    """A tqdm bar on stderr, or None (``--no-progress``, no tqdm): then one log line each."""
    if args.no_progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, file=sys.stderr, unit="sub", desc=f"grading {name}",
                dynamic_ncols=True)


def grade_here(args, z, env, subs, ignored: int, out: Path, written) -> int:
    """Grade on this machine, each kernel in its sandbox; the gradebook is rewritten as each
    submission finishes, so an interrupted run keeps what it graded."""
    results_dir = out.parent / "results"
    # otter reads the tests (a second or two) once the first kernel is starting
    analysis = Analysis(z, env.has_module)
    jobs = args.jobs or os.cpu_count() or 1
    records, todo = resume(subs, results_dir, z.zip_path.name, args.redo)
    limits = limits_of(args, jobs, len(todo))
    skipped = len(subs) - len(todo)
    order = [s.id for s in subs]
    log.debug("%s: %d submission(s), %d to grade, %d job(s), %s, grading environment %s",
              z.name, len(subs), len(todo), jobs, limits, env.root)
    stores: list[Store] = []   # made once the tests are read (in ``started``)
    bar = progress_bar(args, len(subs), skipped, z.name)

    def flush():
        stores[0].write_gradebook([records[i] for i in order if i in records])

    def started():
        if not stores:
            stores.append(Store(out, analysis.result()))
        flush()

    def done(rec: Result, s, digest):
        rec.sha256, rec.autograder, rec.path = digest, z.zip_path.name, str(s.path)
        stores[0].save(s, rec)
        records[s.id] = rec
        flush()
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"{s.id[:30]}: {rec.status}")
        else:
            log.info("[%d/%d] %s: %s", len(records), len(subs), s.id, rec.status)

    t0 = time.monotonic()
    try:
        complete = grade_all(todo, analysis, env, limits, jobs, done, keep_work=args.keep_work, on_start=started,
                             isolate=not args.no_sandbox)
    finally:
        if bar is not None:
            bar.close()
    started()
    recs = [records[i] for i in order if i in records]
    print(summarize(recs, stores[0].a)
          + (f"; {skipped} already graded, skipped" if skipped else "")
          + (f"; {ignored} other files ignored" if ignored else "")
          + f"; {time.monotonic() - t0:.1f} s with {jobs} job(s)"
          + ("; UNSANDBOXED (--no-sandbox)" if args.no_sandbox else "; each in its bubblewrap sandbox"))
    return report(recs, stores[0].a, out, written, complete)


def report(recs: list[Result], a: Assignment, out: Path, written, complete: bool) -> int:
    """The class summary, the merged written scores, where everything is; the exit status."""
    print(class_report(recs, a, out.parent))
    if written is not None and complete:
        from ..written.scores import write_merged
        print(write_merged(out, recs, a, written))
    elif written is not None:
        log.warning("written scores not merged: grading was interrupted")
    print(f"gradebook: {out}   results and feedback: {out.parent / 'results'}/   "
          f"class summary: {out.parent}/summary.md, histogram.png")
    if not complete:
        log.warning("interrupted: graded submissions are saved; run again to continue")
        return INTERRUPTED
    return 0


# ----------------------------------------------------------------------- docker
def docker_command(args, a, staging: Path, docker_out: Path) -> list[str]:
    jobs = args.jobs or os.cpu_count() or 1
    return [sys.executable, "-m", "otter", "grade", "-n", a.name, "-a", str(a.zip_path),
            "-o", str(docker_out), "--ext", "ipynb", "--containers", str(jobs),
            "--timeout", str(int(args.timeout)), "--summaries", "--no-network", str(staging)]


def docker(args, a, subs, out: Path, results_dir: Path, written=None) -> int:
    """Stage valid notebooks under unique names, run ``otter grade``, convert its CSV.

    otter grade globs one extension at the top of a folder, so zips are unpacked
    here (their notebook only) and every notebook is copied to ``staging/<slug>.ipynb``;
    invalid submissions get their row without reaching Docker."""
    staging, docker_out = out.parent / "docker-staging", out.parent / "docker-out"
    cmd = docker_command(args, a, staging, docker_out)
    records, staged = {}, {}
    for s in subs:
        try:
            prep = prepare(s, a)
        except Invalid as e:
            records[s.id] = Result.invalid(s.id, a.total_max, str(e))
            continue
        staged[s.slug] = (s, prep)
    if args.dry_run:
        print(f"would stage {len(staged)} notebook(s) in {staging}/ "
              f"({len(records)} invalid submission(s) get their row directly) and run:")
        print(shlex.join(cmd))
        return 0
    staging.mkdir(parents=True, exist_ok=True)
    docker_out.mkdir(parents=True, exist_ok=True)
    for slug, (s, prep) in staged.items():
        (staging / f"{slug}.ipynb").write_text(json.dumps(prep.notebook))
    log.info("%s", shlex.join(cmd))
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise ToolError(f"otter grade failed (exit {proc.returncode}); is Docker running?")
    for rec in from_otter_csv(docker_out / "final_grades.csv", a, staged):
        records[rec.submission] = rec
    store = Store(out, a)
    for s in subs:
        rec = records.setdefault(s.id, Result.tool_error(s.id, a.total_max, "otter grade returned no row"))
        summary = docker_out / "grading-summaries" / f"{s.slug}.txt"
        if summary.exists():
            rec.otter_summary = summary.read_text()[:20000]
        store.save(s, rec)
    recs = [records[s.id] for s in subs]
    store.write_gradebook(recs)
    print(summarize(recs, a))
    if written is not None:
        from ..written.scores import write_merged
        print(write_merged(out, recs, a, written))
    print(f"gradebook: {out}   results: {results_dir}/")
    return 0


def from_otter_csv(path: Path, a, staged: dict) -> list[Result]:
    """Rows of otter grade's final_grades.csv as this tool's records."""
    recs = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            stem = Path(row.get("file", "")).stem
            if stem not in staged:
                continue  # otter's "points possible" row
            s, _ = staged[stem]
            ok = row.get("grading_status", "Completed") == "Completed"
            scores = {q: float(row[q]) for q in a.questions if row.get(q) not in (None, "")}
            total = float(row.get("total_points_earned") or row.get("total") or sum(scores.values()))
            recs.append(Result(submission=s.id, status="graded" if ok else "error",
                               total=total if ok else 0.0, max=a.total_max, scores=scores if ok else {},
                               message=(f"{total:g}/{a.total_max:g} (otter grade, Docker)" if ok
                                        else f"otter grade: {row.get('grading_status')}")))
    return recs
