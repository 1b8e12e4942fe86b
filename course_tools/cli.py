"""The instructor tools' one entry point: ``python -m course_tools [-v|-q] [--root DIR] COMMAND``.

Commands (each module gives ``add_arguments(parser)`` and ``run(args) -> int``):

* ``assign [HW...] [--check]``: student notebooks and autograder zips from the masters
  (``course_tools.assign``; ``make assign``, ``make assign-check``);
* ``release [DEST]``: the student edition (``course_tools.release``; ``make release``);
* ``grade HW SUBMISSIONS...``: a folder of submissions to a gradebook
  (``course_tools.grading.cli``; ``make grade``);
* ``written HW SUBMISSIONS...``: the written answers' PDFs, question pages and score sheet
  (``course_tools.written``; ``make written``);
* ``bench``: the benchmarks and ``bench/results.md`` (``course_tools.bench``; ``make bench``).

Exit status, the same for every command (``course_tools.exits``): 0 success; 1 the job ran
and found problems (stale generated files, a master otter cannot assign, a PDF not printed,
a failed benchmark); 2 a usage or environment error (bad arguments, no such assignment, no
bubblewrap sandbox); 130 interrupted. ``grade`` exits 0 whatever the submissions did: each
is a row of the gradebook.

Results go to stdout; progress and diagnostics go through ``logging`` to stderr:
``-v`` adds the debug messages (with each logger's name), ``-q`` keeps warnings and errors
only. ``--root DIR`` (or ``$COURSE_ROOT``) works on another course folder than this
checkout (``settings.course``).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .exits import CANNOT_RUN, INTERRUPTED, PROBLEMS, CannotRun, Problems
from .settings import ROOT_VARIABLE

# command -> (module, one line of help)
COMMANDS = {
    "assign": ("course_tools.assign", "generate assignments/ and autograder/ from the masters in solutions/"),
    "release": ("course_tools.release", "write the student edition (default: _release/)"),
    "grade": ("course_tools.grading.cli", "grade a folder of submissions against an autograder zip"),
    "written": ("course_tools.written.cli", "written answers: PDFs, question pages and a score sheet"),
    "bench": ("course_tools.bench.runner", "measure grading, training, the book build and activations"),
}
log = logging.getLogger("course_tools")


class _Formatter(logging.Formatter):
    """Info as the bare message; warnings and errors prefixed; with -v each logger's name."""

    def __init__(self, verbose: bool):
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info and self.verbose:
            msg += "\n" + self.formatException(record.exc_info)
        if self.verbose:
            return f"{record.levelname.lower()} {record.name}: {msg}"
        return msg if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {msg}"


def setup_logging(verbosity: int = 0, quiet: bool = False) -> None:
    """Once per run: the tools' loggers to stderr at INFO (``-v``: DEBUG; ``-q``: WARNING)."""
    level = logging.WARNING if quiet else logging.DEBUG if verbosity else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(verbose=bool(verbosity)))
    root = logging.getLogger("course_tools")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                   help="debug messages too, with each logger's name")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="warnings and errors only")
    p.add_argument("--root", default=argparse.SUPPRESS,
                   help=f"the course folder (default: ${ROOT_VARIABLE}, else this checkout)")
    return p


def _command_in(argv: list[str]) -> str | None:
    """The command named on the command line (its module alone is imported)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--root":
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def parser(argv: list[str] = ()) -> argparse.ArgumentParser:
    """The whole command line; only the named command's module is imported."""
    chosen = _command_in(list(argv))
    # (a parser of its own for each: set_defaults would change the actions they share)
    top = argparse.ArgumentParser(prog="python -m course_tools", parents=[_common()],
                                  description="The instructor tools of the activation-functions course module.",
                                  epilog="exit status: 0 success; 1 the job found problems; "
                                         "2 usage or environment error; 130 interrupted")
    top.set_defaults(verbose=0, quiet=False, root=None)
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_line) in COMMANDS.items():
        p = sub.add_parser(name, parents=[_common()], help=help_line, description=help_line,
                           prog=f"python -m course_tools {name}")
        if name == chosen or chosen not in COMMANDS:
            importlib.import_module(module).add_arguments(p)
    return top


def main(argv: list[str] | None = None) -> int:
    """Parse, set up logging, run the command; exceptions become the exit status."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser(argv).parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    before = os.environ.get(ROOT_VARIABLE)
    if args.root:
        os.environ[ROOT_VARIABLE] = os.path.abspath(args.root)  # and the tools it starts
    run = importlib.import_module(COMMANDS[args.command][0]).run
    try:
        return run(args)
    except CannotRun as e:
        log.error("%s", e, exc_info=True)
        return CANNOT_RUN
    except Problems as e:
        log.error("%s", e, exc_info=True)
        return PROBLEMS
    except KeyboardInterrupt:
        log.warning("interrupted")
        return INTERRUPTED
    finally:
        if args.root and before is None:   # as it was (main may run in a process that goes on)
            os.environ.pop(ROOT_VARIABLE, None)
        elif args.root:
            os.environ[ROOT_VARIABLE] = before
