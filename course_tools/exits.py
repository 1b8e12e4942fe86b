"""The instructor tools' one exit-code convention, and the two exceptions that choose it.

* ``0`` (``OK``): the job was done. For ``grade`` that holds whatever the submissions did:
  a submission that fails, errors, times out or is invalid is a row of the gradebook.
* ``1`` (``PROBLEMS``): the job ran and found problems: ``assign --check`` found stale
  generated files, ``assign`` found a master whose points disagree or that otter cannot
  assign, ``written`` could not print a PDF, a benchmark's command failed. Raise
  ``Problems``.
* ``2`` (``CANNOT_RUN``): a usage or environment error, before any work: bad arguments
  (argparse's own exit status), no such assignment or autograder zip, no submissions, a
  destination the release refuses, a grading environment that cannot be built, no
  bubblewrap sandbox on this machine. Raise ``CannotRun`` (or a subclass).
* ``130`` (``INTERRUPTED``): Ctrl-C; ``grade`` keeps what it graded.

``python -m course_tools`` turns these exceptions into the exit status and one line on
stderr; nothing else exits.
"""
from __future__ import annotations

OK, PROBLEMS, CANNOT_RUN, INTERRUPTED = 0, 1, 2, 130


class CannotRun(Exception):
    """A usage or environment error: the tool cannot do its job here (exit status 2)."""


class Problems(Exception):
    """The job ran and found problems, which the message lists (exit status 1)."""
