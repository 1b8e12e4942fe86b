"""The sandbox: one spawn spec for a grading kernel, its own process group, limits, and
cleanup that kills everything it started on timeout, on error and on Ctrl-C.

The kernel is the grading environment's interpreter running ``LAUNCHER``, which sets the
limits (address space, file size, no core dumps) on itself before ipykernel starts, so
every process the submission starts inherits them. jupyter_client starts it with
``start_new_session=True``: the kernel leads its own process group. ``Sandbox.kill``
SIGKILLs that group and every descendant of the kernel still alive (a child that called
``setsid`` left the group but not the tree). A watchdog timer kills the sandbox when the
wall-clock limit is reached; ``kill_all`` (Ctrl-C) kills every live sandbox.
"""
from __future__ import annotations

import json
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

KERNEL_NAME = "acgrade-python3"

LAUNCHER = '''\
"""Start an IPython kernel under the grading limits (written by the course's grading tool)."""
import os, resource, sys
for var, res in (("ACGRADE_LIMIT_AS", resource.RLIMIT_AS), ("ACGRADE_LIMIT_FSIZE", resource.RLIMIT_FSIZE)):
    value = os.environ.pop(var, None)
    if value:
        resource.setrlimit(res, (int(value), int(value)))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
# as ipykernel_launcher does for the current folder: the launcher's folder is no import root
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]
# What otter's first grading cell and the guard import anyway (no student code runs yet),
# imported while the tool prepares the notebook: import has no side effect they depend on.
for name in filter(None, os.environ.pop("ACGRADE_PRELOAD", "").split(",")):
    try:
        __import__(name)
    except Exception:
        pass
from ipykernel import kernelapp
kernelapp.launch_new_instance()
'''


@dataclass(frozen=True)
class Limits:
    timeout: float = 600.0
    memory_mb: int = 4096
    max_output_mb: int = 64
    threads: int = 1


@dataclass(frozen=True)
class SpawnSpec:
    """Everything about how a grading kernel is started, in one place."""
    python: Path
    cwd: Path
    env: dict[str, str]
    limits: Limits
    grader_dir: Path            # the launcher and the guard (library code, not the submission's)
    log: Path
    # the heavy, IPython-free part of what otter imports (importing otter itself before
    # ipykernel starts would leave doctest with a pdb that IPython later breaks)
    preload: tuple[str, ...] = ("nbformat", "nbconvert", "pandas", "numpy")

    def kernel_env(self) -> dict[str, str]:
        env = dict(self.env)
        env["ACGRADE_LIMIT_AS"] = str(self.limits.memory_mb * 2**20)
        env["ACGRADE_LIMIT_FSIZE"] = str(self.limits.max_output_mb * 2**20)
        env["ACGRADE_PRELOAD"] = ",".join(self.preload)
        return env

    def write_kernelspec(self) -> Path:
        """A kernelspec folder naming the launcher; returns the folder that holds it."""
        self.grader_dir.mkdir(parents=True, exist_ok=True)
        launcher = self.grader_dir / "acgrade_kernel.py"
        launcher.write_text(LAUNCHER)
        kdir = self.grader_dir / "kernels" / KERNEL_NAME
        kdir.mkdir(parents=True, exist_ok=True)
        (kdir / "kernel.json").write_text(json.dumps({
            "argv": [str(self.python), str(launcher), "-f", "{connection_file}"],
            "display_name": "Python 3 (grading environment)", "language": "python",
            "metadata": {"debugger": False}}))
        return kdir.parent


def start_kernel(spec: SpawnSpec, sandbox: "Sandbox"):
    """Spawn the kernel now (jupyter_client only: no nbformat, no otter in this process
    yet) and hand its pid to the sandbox; returns the kernel manager for nbclient."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    km = AsyncKernelManager(kernel_name=KERNEL_NAME,
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.write_kernelspec())]))
    km.connection_file = str(spec.grader_dir / "connection.json")
    with open(spec.log, "wb") as log:  # the kernel keeps its own copy of the descriptor
        run_sync(km.start_kernel)(env=spec.kernel_env(), cwd=str(spec.cwd), stdout=log, stderr=log)
    proc = getattr(km.provisioner, "process", None)
    if proc is not None:
        sandbox.started(proc.pid)
    return km


def descendants(pid: int) -> list[int]:
    """Every live process whose parent chain leads to ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


ACTIVE: set["Sandbox"] = set()
_ACTIVE_LOCK = threading.Lock()


@dataclass(eq=False)
class Sandbox:
    """One kernel's life: ``started(pid)`` once it runs, ``kill()`` at the end whatever happened."""
    spec: SpawnSpec
    pid: int | None = None
    timed_out: bool = False
    killed: bool = False
    _timer: threading.Timer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __enter__(self) -> "Sandbox":
        with _ACTIVE_LOCK:
            ACTIVE.add(self)
        self._timer = threading.Timer(self.spec.limits.timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.kill()
        with _ACTIVE_LOCK:
            ACTIVE.discard(self)

    def started(self, pid: int) -> None:
        with self._lock:
            self.pid = pid
            late = self.killed
        if late:  # killed (timeout, Ctrl-C) while the kernel was starting
            self.kill()

    def _expire(self) -> None:
        self.timed_out = True
        self.kill()

    def kill(self) -> None:
        with self._lock:
            self.killed = True
            pid = self.pid
        if not pid:
            return
        tree = descendants(pid)
        for target in [("group", pid), *[("pid", p) for p in [pid, *tree]]]:
            try:
                if target[0] == "group":
                    if os.getpgid(pid) == pid and pid != os.getpgrp():
                        os.killpg(pid, signal.SIGKILL)
                else:
                    os.kill(target[1], signal.SIGKILL)
            except (ProcessLookupError, PermissionError, OSError):
                pass


def kill_all() -> None:
    """Ctrl-C: kill every running sandbox (kernels, their groups and their children)."""
    with _ACTIVE_LOCK:
        live = list(ACTIVE)
    for sb in live:
        sb.kill()
