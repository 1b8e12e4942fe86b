"""The ``written`` command: ``python -m course_tools written HW SUBMISSIONS... [options]``."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..exits import PROBLEMS, CannotRun
from ..grading.assignment import open_assignment

log = logging.getLogger(__name__)

DESCRIPTION = """\
The written (hand-graded) answers of a folder of submissions (.ipynb notebooks and the
zips grader.export() makes, found recursively, read as `make grade` reads them):
OUT/pdf/<submission>.pdf, each submission's written answers one question per page
(printed by Chromium, for Gradescope); OUT/questions/<question>.html, the prompt, the
model answer from the master (for instructors only) and every submission's answer,
for grading question by question; OUT/written-scores.csv, a score sheet with one row
per submission and one column per question (its maximum in the header), to fill in
and merge with `make grade HW=... SUBMISSIONS=... WRITTEN=OUT/written-scores.csv`.
An existing score sheet is never overwritten (the new template goes beside it).
Exit status: 0 when every readable submission has its pages; 1 when a PDF could not
be printed; 2 when the tool cannot run."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``written`` command's arguments."""
    p.description, p.formatter_class = DESCRIPTION, argparse.RawDescriptionHelpFormatter
    p.add_argument("hw", help="assignment name (hw2, hw3): its master gives the written questions and points")
    p.add_argument("submissions", nargs="+", help="submission files and/or folders (searched recursively)")
    p.add_argument("--out", "-o", type=Path, help="output folder (default: grades/HW/written/)")
    p.add_argument("--anonymise", "--anonymize", action="store_true",
                   help="question pages name submissions S001, S002, ... (the score sheet's label column)")
    p.add_argument("--jobs", "-j", type=int, default=None, help="PDFs printed at once (default: number of cores)")
    p.add_argument("--no-pdf", action="store_true", help="write the HTML pages and the score sheet only")
    p.add_argument("--autograder", help="use this autograder zip instead of autograder/HW/HW-autograder.zip")


def run(args: argparse.Namespace) -> int:
    """``python -m course_tools written``: PDFs, question pages and the score sheet."""
    from .build import build

    if args.jobs is not None and args.jobs < 1:
        raise CannotRun("--jobs must be at least 1")
    a = open_assignment(args.hw, args.autograder)
    out = args.out or Path("grades") / a.name / "written"
    done = build(a, args.submissions, out, anonymised=args.anonymise, jobs=args.jobs, pdf=not args.no_pdf,
                 announce=log.info)
    n = len(done.entries)
    invalid = [e for e in done.entries if e.invalid]
    for e in done.entries:
        if e.invalid:
            log.warning("%s: invalid, no pages (%s)", e.sub.id, e.invalid)
        elif e.notes:
            log.warning("%s: %s", e.sub.id, "; ".join(e.notes))
    print(f"{a.name}: {n} submission{'' if n == 1 else 's'}, {len(invalid)} invalid; "
          f"{len(done.questions)} written questions ({', '.join(q.name for q in done.questions)}); "
          f"{done.printed} PDFs printed; {done.seconds:.1f} s"
          + (f" ({done.seconds / max(1, n):.2f} s per submission)" if n else ""))
    print(f"PDFs: {out}/pdf/   by question: {out}/questions/   score sheet: {done.scores_csv}")
    if done.kept_scores:
        log.warning("%s/written-scores.csv already exists and was kept; the new template is %s",
                    out, done.scores_csv.name)
    return PROBLEMS if done.print_errors else 0
