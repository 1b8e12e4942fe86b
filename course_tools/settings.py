"""The facts every instructor tool reads, each written once: where a course's pieces live
(``Course``), the torch pin, and the grading limits' defaults (``Limits``).

**The course root.** Every tool works on one course folder: ``course()`` is the checkout
these tools live in, unless ``$COURSE_ROOT`` names another folder (``python -m course_tools
--root DIR`` sets it, and tools started from there inherit it). A test can so lay out a
throwaway course in a temporary folder (``solutions/hw4/hw4.ipynb``, the course package,
the book's files) and run ``assign``, ``release`` and ``grade`` on it.

**The torch pin.** ``TORCH_PIN`` is the one place the course's torch version is written:
the Makefile reads it from this file (``make install``), ``make release`` writes it into
the edition's ``requirements.txt``, and the grading environment installs it first.
Keep it on one line of the form ``TORCH_PIN = "torch==X.Y.Z"`` (the Makefile's ``sed``
reads that line).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# ---------------------------------------------------------------- where things live
TOOLS = Path(__file__).resolve().parent           # course_tools/
CHECKOUT = TOOLS.parent                           # the checkout the tools run from
EDITION_TEMPLATE = TOOLS / "edition"              # the student edition's own files (README, requirements)
ROOT_VARIABLE = "COURSE_ROOT"


@dataclass(frozen=True)
class Course:
    """One course folder and where its pieces live. Assignment ``hw`` is the folder
    ``solutions/<hw>/`` holding its master ``<hw>.ipynb``; ``make assign`` generates
    ``assignments/<hw>/`` and ``autograder/<hw>/`` from it."""
    root: Path

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def assignments(self) -> Path:
        return self.root / "assignments"

    @property
    def autograder(self) -> Path:
        return self.root / "autograder"

    @property
    def package(self) -> Path:
        """The student and reader package (copied whole into the edition)."""
        return self.root / "activation_course"

    @property
    def book(self) -> Path:
        return self.root / "book"

    @property
    def release_dest(self) -> Path:
        """``make release``'s default destination."""
        return self.root / "_release"

    @property
    def book_build(self) -> Path:
        """Where ``make book`` builds (its execution cache is ``.jupyter_cache`` inside)."""
        return self.root / "_build"

    @property
    def bench_results(self) -> Path:
        """``make bench``'s Markdown report (its JSON beside it)."""
        return self.root / "bench" / "results.md"

    def master(self, hw: str) -> Path:
        return self.solutions / hw / f"{hw}.ipynb"

    def student_dir(self, hw: str) -> Path:
        return self.assignments / hw

    def autograder_dir(self, hw: str) -> Path:
        return self.autograder / hw

    def autograder_zip(self, hw: str) -> Path:
        """The zip for ``otter run``, ``otter grade``, Gradescope and ``grade``."""
        return self.autograder / hw / f"{hw}-autograder.zip"

    def solution_notebook(self, hw: str) -> Path:
        """The generated solution notebook, for instructors (``autograder/<hw>/<hw>.ipynb``)."""
        return self.autograder / hw / f"{hw}.ipynb"

    def masters(self) -> dict[str, Path]:
        """Map assignment name -> master notebook, for every ``solutions/<hw>/<hw>.ipynb``."""
        if not self.solutions.is_dir():
            return {}
        return {sub.name: self.master(sub.name) for sub in sorted(self.solutions.iterdir())
                if sub.is_dir() and self.master(sub.name).is_file()}


def course(root: Path | str | None = None) -> Course:
    """The course the tools work on: ``root``, else ``$COURSE_ROOT``, else the checkout."""
    chosen = root or os.environ.get(ROOT_VARIABLE) or CHECKOUT
    return Course(Path(chosen).resolve())


# ------------------------------------------------------------------------- pins
TORCH_PIN = "torch==2.13.0"
# The CPU wheels, as an *extra* index: on Linux pip takes the CPU build, elsewhere PyPI's.
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
# What the grading environment installs first (overridable for a test or a GPU grader).
GRADING_TORCH_SPEC = os.environ.get("ACGRADE_TORCH_SPEC", TORCH_PIN)
GRADING_TORCH_INDEX = os.environ.get("ACGRADE_TORCH_INDEX", TORCH_INDEX)

# Cached grading environments: outside the checkout (a venv inside it would be read by the
# book build as sources).
GRADING_ENV_CACHE = Path(os.environ.get("ACGRADE_ENV_CACHE")
                         or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                         / "activation-course" / "grading-envs")


# ------------------------------------------------------------------- the limits
@dataclass(frozen=True)
class Limits:
    """What one submission may use while it is graded; the defaults are ``grade``'s."""
    timeout: float = 600.0        # wall-clock seconds before its whole process tree is killed
    memory_mb: int = 4096         # address space of each process (runner and kernel), MiB
    max_output_mb: int = 64       # output kept, and any file written, MiB
    threads: int = 1              # BLAS/OpenMP threads of the kernel
    max_procs: int = 256          # processes and threads of one submission (RLIMIT_NPROC)
    disk_mb: int = 512            # each of the work folder, /tmp and /dev/shm (tmpfs), MiB

    @property
    def cpu_seconds(self) -> int:
        """RLIMIT_CPU of each process: more than the wall-clock limit allows at the thread cap."""
        return int(self.timeout * max(1, self.threads)) + 30


# The least ``grade`` accepts for each (below these a correct submission cannot run).
LIMIT_MINIMUMS = {"memory_mb": 256, "max_procs": 32, "disk_mb": 16}
