"""Helpers for the student-edition tests (tests/release/): a student's shell environment."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMINGS: dict[str, float] = {}  # reported at the end of the session (tests/release/conftest.py)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a student's shell: no PYTHONPATH, no venv of ours on PATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "JPY_SESSION_NAME")
           and not k.startswith(("PYTEST", "COV_"))}
    venv_bin = str(REPO / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    # This machine reaches PyPI's mirror but not the PyTorch index: do not spend
    # minutes retrying an unreachable index (a student's machine reaches both).
    env.setdefault("PIP_RETRIES", "0")
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.update(extra)
    return env


def run_in_venv(bin_dir: Path, args: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """Run a command as a student with the venv activated (its bin first on PATH)."""
    full = clean_env(VIRTUAL_ENV=str(bin_dir.parent), **env)
    full["PATH"] = str(bin_dir) + os.pathsep + full["PATH"]
    exe = bin_dir / args[0]
    return subprocess.run([str(exe) if exe.exists() else args[0], *args[1:]], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=timeout)
