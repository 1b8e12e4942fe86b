"""The grading environment: the packages an autograder zip's ``environment.yml`` declares,
built once into a cached virtual environment (keyed by that file's hash), and the short,
fixed environment of a grading kernel (``kernel_env``). (Every other process the tools
start gets ``course_tools.processes.subprocess_env``.)

Gradescope builds a conda environment from ``environment.yml`` and runs the kernel there;
the course package is not installed, the checkout is not on the path. This module does the
same with a venv: the conda dependencies that are pip-installable (``jupyter_server``) and
every ``pip:`` entry, with ``ipykernel`` added when the file leaves it to conda
(``nb_conda_kernels`` on Gradescope). torch is installed first as the pinned CPU build
(``settings.TORCH_PIN``) so that a range like ``torch>=2.3,<3`` does not pull a CUDA build.

Python: the interpreter of the declared version when one is installed and pip can resolve
the packages for it; otherwise the interpreter this tool runs on (the README says which).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..exits import CannotRun
from ..processes import THREAD_VARS, subprocess_env
from ..settings import GRADING_ENV_CACHE, GRADING_TORCH_INDEX, GRADING_TORCH_SPEC

MANIFEST = "acgrade-env.json"
# conda-only packages with no pip counterpart worth installing in a venv
CONDA_ONLY = {"python", "pip", "nb_conda_kernels", "mamba", "conda"}
log = logging.getLogger(__name__)


class EnvError(CannotRun):
    """The grading environment cannot be built."""


# The only variables a grading kernel gets (with the tool's own ACGRADE_* ones): none of the
# instructor's environment reaches a submission.
SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")


def kernel_env(*, bin_dir: Path | str, home: Path | str, threads: int, **extra: str) -> dict[str, str]:
    """The whole environment of a grading kernel: PATH (the grading environment's scripts,
    then the system's), HOME (the work folder), LANG, the thread counts, and ``extra``."""
    env = {"PATH": os.pathsep.join([str(bin_dir), *SYSTEM_PATH]), "HOME": str(home), "LANG": "C.UTF-8",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1", "JUPYTER_PLATFORM_DIRS": "1", "PYTHONNOUSERSITE": "1"}
    for var in THREAD_VARS:
        env[var] = str(threads)
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


@dataclass(frozen=True)
class GradingEnv:
    """A built grading environment: its interpreter and what a guard needs to know of it."""
    root: Path
    python: Path
    python_version: str
    declared_python: str | None
    top_level: frozenset[str]          # importable top-level names (stdlib and site-packages)
    packages: dict                     # distribution name (normalised) -> version

    @property
    def bin_dir(self) -> Path:
        return self.python.parent

    def has_module(self, name: str) -> bool:
        return name.split(".")[0] in self.top_level


@dataclass(frozen=True)
class Spec:
    """What ``environment.yml`` asks for, as pip requirements."""
    python: str | None
    requirements: list[str]
    pip_options: list[str]
    digest: str


def read_spec(text: str) -> Spec:
    data = yaml.safe_load(text) or {}
    python, reqs, opts = None, [], []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict):
            for item in dep.get("pip") or []:
                item = str(item).strip()
                (opts if item.startswith("-") else reqs).append(item)
            continue
        dep = str(dep).strip()
        name = re.split(r"[=<>!~ ]", dep, maxsplit=1)[0]
        if name == "python":
            m = re.search(r"(\d+\.\d+)", dep)
            python = m.group(1) if m else None
        elif name not in CONDA_ONLY:
            reqs.append(dep.replace("=", "==", 1) if re.search(r"[^=<>!]=[^=]", dep) else dep)
    if not any(re.match(r"ipykernel\b", r) for r in reqs):
        reqs.append("ipykernel")  # conda's nb_conda_kernels brings it on Gradescope
    return Spec(python=python, requirements=reqs, pip_options=opts,
                digest=hashlib.sha256(text.encode()).hexdigest()[:16])


def _candidates(declared: str | None) -> list[str]:
    """Interpreters to try: the declared version first (when installed), then this one."""
    out = []
    if declared:
        exe = shutil.which(f"python{declared}")
        if exe:
            out.append(exe)
    base = getattr(sys, "_base_executable", None) or sys.executable
    out.append(base)
    return list(dict.fromkeys(out))


def _pip(python: Path, args: list[str], log, env: dict) -> int:
    log.write(f"$ {python} -m pip {' '.join(args)}\n".encode())
    log.flush()
    return subprocess.run([str(python), "-m", "pip", *args], stdout=log, stderr=subprocess.STDOUT,
                          env=env).returncode


def _resolvable(python: str, spec: Spec, log, env: dict) -> bool:
    """Can pip install the packages for this interpreter (a dry run, wheels only)?"""
    if python == (getattr(sys, "_base_executable", None) or sys.executable):
        return True
    log.write(f"# probing {python}\n".encode())
    opts = [o for line in spec.pip_options for o in line.split(None, 1)]
    proc = subprocess.run([python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--only-binary=:all:", GRADING_TORCH_SPEC, *opts, *spec.requirements],
                          stdout=log, stderr=subprocess.STDOUT, env=env, timeout=600)
    return proc.returncode == 0


def _describe(python: Path) -> dict:
    code = ("import sys, json, pkgutil, importlib.metadata as md\n"
            "names = set(sys.stdlib_module_names) | set(sys.builtin_module_names)\n"
            "names |= {m.name for m in pkgutil.iter_modules()}\n"
            "pk = {d.metadata['Name'].lower(): d.version for d in md.distributions() if d.metadata['Name']}\n"
            "print(json.dumps({'version': '%d.%d.%d' % sys.version_info[:3], 'top_level': sorted(names),"
            " 'packages': pk}))")
    out = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True,
                         env=subprocess_env(drop_python_vars=True), cwd="/", check=True).stdout
    return json.loads(out)


def _load(root: Path) -> GradingEnv | None:
    try:
        m = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    python = root / "bin" / "python"
    if not python.exists():
        return None
    packages = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in m.get("packages", {}).items()}
    return GradingEnv(root=root, python=python, python_version=m["version"],
                      declared_python=m.get("declared_python"), top_level=frozenset(m["top_level"]),
                      packages=packages)


def ensure_env(environment_yml: str, cache: Path | None = None, announce=print) -> GradingEnv:
    """The grading environment for this ``environment.yml`` text: built on first use
    (with a progress message), reused afterwards; safe against two builds at once."""
    spec = read_spec(environment_yml)
    cache = Path(cache or GRADING_ENV_CACHE)
    root = cache / spec.digest
    env = _load(root)
    if env is not None:
        log.debug("grading environment: Python %s in %s (cached)", env.python_version, root)
        return env
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{spec.digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        env = _load(root)
        if env is not None:
            return env
        return _build(spec, environment_yml, root, announce)


def _build(spec: Spec, text: str, root: Path, announce) -> GradingEnv:
    t0 = time.monotonic()
    tmp = root.with_name(root.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    log_path = root.with_name(root.name + ".build.log")
    announce(f"building the grading environment from the autograder's environment.yml "
             f"(once; cached in {root}; log: {log_path}); this takes a few minutes...")
    pip_env = subprocess_env(drop_python_vars=True, PIP_RETRIES="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
    with open(log_path, "wb") as log:
        chosen = None
        for cand in _candidates(spec.python):
            if _resolvable(cand, spec, log, pip_env):
                chosen = cand
                break
            announce(f"  python {spec.python} is installed but pip cannot resolve the packages "
                     "for it here; falling back to the interpreter this tool runs on")
        if chosen is None:
            raise EnvError("no interpreter can host the grading environment")
        if subprocess.run([chosen, "-m", "venv", str(tmp)], stdout=log, stderr=subprocess.STDOUT).returncode:
            raise EnvError(f"could not create a venv with {chosen} (see {log_path})")
        py = tmp / "bin" / "python"
        # as conda does with a pip: section: one requirements file, options lines included
        req_file = tmp / "acgrade-requirements.txt"
        req_file.write_text("\n".join([*spec.pip_options, *spec.requirements]) + "\n")
        steps = [["install", "--quiet", "-r", str(req_file)]]
        if any(re.match(r"torch\b", r) for r in spec.requirements):
            steps.insert(0, ["install", "--quiet", GRADING_TORCH_SPEC, "--extra-index-url", GRADING_TORCH_INDEX])
        for i, args in enumerate(steps, 1):
            announce(f"  [{i}/{len(steps)}] pip {' '.join(a for a in args if a != '--quiet')[:150]}")
            if _pip(py, args, log, pip_env):
                raise EnvError(f"pip failed while building the grading environment (see {log_path})")
    desc = _describe(py)
    (tmp / MANIFEST).write_text(json.dumps({
        "version": desc["version"], "declared_python": spec.python, "environment_yml": text,
        "top_level": desc["top_level"], "packages": desc["packages"],
        "build_seconds": round(time.monotonic() - t0, 1)}, indent=1))
    # a venv's scripts hard-code its path: rebuild under the final name rather than move
    if root.exists():
        shutil.rmtree(root)
    os.replace(tmp, root)
    _fix_paths(tmp, root)
    env = _load(root)
    announce(f"grading environment ready: Python {env.python_version} in {root} "
             f"({time.monotonic() - t0:.0f} s)")
    return env


def _fix_paths(old: Path, new: Path) -> None:
    """Point a moved venv's config and scripts at its new folder."""
    old_s, new_s = str(old), str(new)
    for f in [new / "pyvenv.cfg", *(new / "bin").iterdir()]:
        if f.is_symlink() or not f.is_file():
            continue
        try:
            data = f.read_bytes()
        except OSError:
            continue
        if old_s.encode() in data[:4096] or (f.name == "pyvenv.cfg" and old_s.encode() in data):
            f.write_bytes(data.replace(old_s.encode(), new_s.encode()))
