"""The environment of every process an instructor tool starts (pip, otter, a kernel, the
book build, the grading tool itself): ``subprocess_env``, the one helper that builds it.

A grading kernel's own, much shorter environment is ``grading.environment.kernel_env``.
"""
from __future__ import annotations

import os
from pathlib import Path

from .settings import CHECKOUT

# Variables that would put the checkout or another environment on a kernel's path.
DROP_VARS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV",
             "CONDA_PREFIX", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "IPYTHONDIR", "PYTHONSAFEPATH")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _in_checkout(path: str) -> bool:
    """Whether a PATH entry is a folder of the checkout (as written, or once links are
    resolved: a checkout's ``.venv`` may be a link to another's)."""
    repo = str(CHECKOUT) + os.sep
    return any((p + os.sep).startswith(repo) for p in (os.path.abspath(path), os.path.realpath(path)))


def subprocess_env(*, bin_dir: Path | str | None = None, threads: int | None = None,
                   drop_python_vars: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a process this tool starts (pip, a kernel, otter, the runner).

    Args:
        bin_dir: a folder put first on PATH (the interpreter's own scripts).
        threads: caps BLAS/OpenMP threads when given.
        drop_python_vars: removes what would put the checkout or another environment on a
            kernel's path (``DROP_VARS`` and the checkout's folders on PATH).
        extra: variables to set (``None`` removes one).

    Returns:
        A new dict, this process's environment with those changes.
    """
    env = dict(os.environ)
    if drop_python_vars:  # and the checkout's folders on PATH (its .venv/bin)
        for var in DROP_VARS:
            env.pop(var, None)
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if p and not _in_checkout(p))
    if bin_dir is not None:
        env["PATH"] = str(bin_dir) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYTHONNOUSERSITE"] = "1" if drop_python_vars else env.get("PYTHONNOUSERSITE", "")
    if not env["PYTHONNOUSERSITE"]:
        del env["PYTHONNOUSERSITE"]
    if threads is not None:
        for var in THREAD_VARS:
            env[var] = str(threads)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env
