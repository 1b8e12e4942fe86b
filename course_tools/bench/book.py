"""The book build: cold and cached ``jupyter-book build`` into a scratch folder, and each
chapter's execution time from the myst-nb execution cache."""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from ..settings import course
from .measure import run_command


def chapter_times(build_dir: Path) -> dict[str, float]:
    """Seconds each chapter took to execute, from a build's ``.jupyter_cache``."""
    from jupyter_cache import get_cache
    cache = get_cache(str(build_dir / ".jupyter_cache"))
    return {Path(rec.uri).name: float(rec.data.get("execution_seconds", float("nan")))
            for rec in cache.list_cache_records()}


def bench_book(cold: bool) -> tuple[list[dict], dict[str, float]]:
    """Build times (cold: from no cache; then a cached rebuild) and the chapters' times."""
    root = course().root
    out = Path(tempfile.mkdtemp(prefix="bench-book-"))
    jb = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(root), "--path-output", str(out),
          "-n", "-W", "--keep-going"]
    rows = []
    try:
        if cold:
            rows.append({"build": "cold (no execution cache)", "seconds": run_command(jb, cwd=root)})
        else:  # seed the cache so the cached measurement is meaningful
            run_command(jb, cwd=root)
        rows.append({"build": "cached rebuild", "seconds": run_command(jb, cwd=root)})
        chapters = chapter_times(out / "_build")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return rows, chapters
