"""The sandbox: one spawn spec for a grading kernel, the bubblewrap sandbox it runs in
(``bwrap``), its limits, and cleanup that kills everything it started on timeout, on error
and on Ctrl-C.

The kernel is the grading environment's interpreter running ``LAUNCHER``, which sets the
limits (address space, file size, processes, CPU time, no core dumps) on itself before
ipykernel starts, so every process the submission starts inherits them. In the sandbox
(the default) it is PID 2 of a PID namespace of its own: when the sandbox's PID 1 dies,
the kernel and everything it started die with it, daemons included. ``Sandbox.kill``
SIGKILLs bwrap, the sandbox's PID 1, the process group and every descendant still alive
(the last two are what ``--no-sandbox`` has). A watchdog kills the sandbox when the
wall-clock limit is reached, or when the submission keeps half its process cap or more
alive for most of three seconds (a fork bomb: the cap stops it growing, this stops it spinning);
``kill_all`` (Ctrl-C) kills every live sandbox.
"""
from __future__ import annotations

import json
import os
import select
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..settings import Limits   # the limits and their defaults
from . import bwrap

KERNEL_NAME = "acgrade-python3"

LAUNCHER = '''\
"""Start an IPython kernel under the grading limits (written by the course's grading tool)."""
import os, resource, sys
for var, res in (("ACGRADE_LIMIT_AS", resource.RLIMIT_AS), ("ACGRADE_LIMIT_FSIZE", resource.RLIMIT_FSIZE),
                 ("ACGRADE_LIMIT_NPROC", resource.RLIMIT_NPROC), ("ACGRADE_LIMIT_CPU", resource.RLIMIT_CPU)):
    value = os.environ.pop(var, None)
    if value:
        soft, _, hard = value.partition(":")
        resource.setrlimit(res, (int(soft), int(hard or soft)))
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
class SpawnSpec:
    """Everything about how a grading kernel is started, in one place."""
    python: Path
    cwd: Path                   # the prepared submission (host side)
    env: dict[str, str]         # the kernel's whole environment (the limits are added)
    limits: Limits
    grader_dir: Path            # the launcher and the guard (library code, not the submission's)
    log: Path
    isolate: bool = False       # in bubblewrap (``bwrap``)
    env_root: Path | None = None
    uid: int | None = None      # root only: the uid the sandboxed kernel gets
    # the heavy, IPython-free part of what otter imports (importing otter itself before
    # ipykernel starts would leave doctest with a pdb that IPython later breaks)
    preload: tuple[str, ...] = ("nbformat", "nbconvert", "pandas", "numpy")

    @property
    def kernel_cwd(self) -> Path:
        """The submission folder as the kernel sees it."""
        return bwrap.SUBMISSION if self.isolate else self.cwd

    @property
    def kernel_grader_dir(self) -> Path:
        return bwrap.GRADER if self.isolate else self.grader_dir

    def kernel_env(self) -> dict[str, str]:
        env = dict(self.env)
        env["ACGRADE_LIMIT_AS"] = str(self.limits.memory_mb * 2**20)
        env["ACGRADE_LIMIT_FSIZE"] = str(self.limits.max_output_mb * 2**20)
        env["ACGRADE_LIMIT_NPROC"] = str(self.limits.max_procs)
        env["ACGRADE_LIMIT_CPU"] = f"{self.limits.cpu_seconds}:{self.limits.cpu_seconds + 5}"
        env["ACGRADE_PRELOAD"] = ",".join(self.preload)
        return env

    def mounts(self) -> bwrap.Mounts:
        return bwrap.Mounts(env_root=self.env_root or self.python.parent.parent,
                            interpreter_prefixes=bwrap.interpreter_prefixes(self.python),
                            grader_dir=self.grader_dir, source_dir=self.cwd,
                            disk_bytes=self.limits.disk_mb * 2**20)

    def write_kernelspec(self, info_fd: int | None = None) -> Path:
        """A kernelspec folder naming the launcher (in the sandbox when ``isolate``);
        returns the folder that holds it."""
        self.grader_dir.mkdir(parents=True, exist_ok=True)
        launcher = self.grader_dir / "acgrade_kernel.py"
        launcher.write_text(LAUNCHER)
        inside = self.kernel_grader_dir
        argv = [str(self.python), str(inside / "acgrade_kernel.py"), "-f",
                str(inside / "connection.json") if self.isolate else "{connection_file}"]
        if self.isolate:
            bwrap.write_identity(self.grader_dir, self.uid if self.uid is not None else os.getuid())
            argv = bwrap.command(self.mounts(), env=self.kernel_env(), argv=argv,
                                 info_fd=-1 if info_fd is None else info_fd, uid=self.uid)
        kdir = self.grader_dir / "kernels" / KERNEL_NAME
        kdir.mkdir(parents=True, exist_ok=True)
        (kdir / "kernel.json").write_text(json.dumps({
            "argv": argv, "display_name": "Python 3 (grading environment)", "language": "python",
            "metadata": {"debugger": False}}))
        return kdir.parent


def _read_info(fd: int, timeout: float = 60.0) -> dict:
    """bwrap's --info-fd JSON (the sandbox's PID 1 as the host sees it); {} if bwrap failed."""
    buf, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            try:
                return json.loads(buf)
            except ValueError:
                continue
    finally:
        os.close(fd)
    return {}


def start_kernel(spec: SpawnSpec, sandbox: "Sandbox", pass_fds: tuple[int, ...] = ()):
    """Spawn the kernel now (jupyter_client only: no nbformat, no otter in this process
    yet) and hand its pid to the sandbox; returns the kernel manager for nbclient.
    ``pass_fds``: descriptors the kernel inherits (the guard's channel)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    class GradingKernelManager(AsyncKernelManager):
        def write_connection_file(self, **kw):
            super().write_connection_file(**kw)
            if spec.uid is not None:  # the sandboxed kernel runs as another uid
                os.chmod(self.connection_file, 0o644)

        def cleanup_ipc_files(self):
            if not spec.isolate:  # the sockets vanish with the sandbox's tmpfs; its PID may be reused
                super().cleanup_ipc_files()

    info_r = info_w = None
    if spec.isolate:
        info_r, info_w = os.pipe()
        os.set_inheritable(info_w, True)
    try:
        kdirs = [str(spec.write_kernelspec(info_w))]
        km = GradingKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=kdirs))
        km.connection_file = str(spec.grader_dir / "connection.json")
        if spec.isolate:  # no network inside: Unix sockets in the sandbox's own ipc folder
            km.transport = "ipc"
            km.ip = str(bwrap.IPC_PREFIX)
            km.shell_port, km.iopub_port, km.stdin_port, km.control_port, km.hb_port = 1, 2, 3, 4, 5
        fds = tuple(pass_fds) + ((info_w,) if info_w is not None else ())
        with open(spec.log, "wb") as log:  # the kernel keeps its own copy of the descriptor
            run_sync(km.start_kernel)(env=spec.kernel_env(), cwd=str(spec.cwd), stdout=log, stderr=log,
                                      pass_fds=fds)
    finally:
        if info_w is not None:
            os.close(info_w)
    proc = getattr(km.provisioner, "process", None)
    inner = None
    if info_r is not None:
        inner = _read_info(info_r).get("child-pid")
        if inner:  # the tool reaches the sockets through the sandbox's root
            km.ip = f"/proc/{inner}/root{bwrap.IPC_PREFIX}"
    if proc is not None:
        sandbox.started(proc.pid, inner)
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


def namespace_pid(pid: int) -> int:
    """``pid``'s number in its innermost PID namespace (the last ``NSpid`` of its status), 0
    if it is gone. PIDs in a fresh namespace are handed out in order, processes and threads
    alike, so the largest one seen says how many a sandbox has started."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


ACTIVE: set["Sandbox"] = set()
_ACTIVE_LOCK = threading.Lock()


@dataclass(eq=False)
class Sandbox:
    """One kernel's life: ``started(pid)`` once it runs, ``kill()`` at the end whatever happened."""
    spec: SpawnSpec
    pid: int | None = None
    inner: int | None = None        # the sandbox's PID 1 (bwrap), as the host sees it
    timed_out: bool = False
    killed: bool = False
    procs_capped: int = 0           # the process count when the watchdog stopped a fork bomb
    procs_peak: int = 0             # the most processes seen at once
    procs_started: int = 0          # processes and threads started in the sandbox (its largest live PID seen)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _watch: threading.Thread | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    POLL = 0.5          # seconds between two looks at the process count
    BOMB_POLLS = (4, 6)  # half the cap or more in 4 of the last 6 looks: a fork bomb
    # ... or this many times the cap started in all: a bomb whose processes die as fast as
    # it makes them (a shell bomb at the cap) never stays above the half-cap line.
    BOMB_STARTS = 16

    def __enter__(self) -> "Sandbox":
        with _ACTIVE_LOCK:
            ACTIVE.add(self)
        self._watch = threading.Thread(target=self._watchdog, daemon=True)
        self._watch.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.kill()
        self._reap()
        with _ACTIVE_LOCK:
            ACTIVE.discard(self)

    def _reap(self) -> None:
        """Collect the killed kernel (bwrap) so that no zombie stays behind per submission."""
        if not self.pid:
            return
        for _ in range(50):
            try:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # not our child, or already collected
                return
            if done:
                return
            time.sleep(0.01)

    def started(self, pid: int, inner: int | None = None) -> None:
        with self._lock:
            self.pid, self.inner = pid, inner
            late = self.killed
        if late:  # killed (timeout, Ctrl-C) while the kernel was starting
            self.kill()

    def _watchdog(self) -> None:
        deadline = time.monotonic() + self.spec.limits.timeout
        recent: list[bool] = []
        while not self._stop.wait(min(self.POLL, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                self.timed_out = True
                self.kill()
                return
            root = self.inner or self.pid
            if root is None or not self.spec.isolate:
                continue
            tree = descendants(root)
            n = len(tree)
            self.procs_peak = max(self.procs_peak, n)
            self.procs_started = max([self.procs_started, *map(namespace_pid, tree)])
            recent = [*recent, n >= self.spec.limits.max_procs // 2][-self.BOMB_POLLS[1]:]
            if sum(recent) >= self.BOMB_POLLS[0] or \
                    self.procs_started >= self.BOMB_STARTS * self.spec.limits.max_procs:
                self.procs_capped = max(n, 1)
                self.kill()
                return

    def kill(self) -> None:
        with self._lock:
            self.killed = True
            pid, inner = self.pid, self.inner
            self.inner = None  # once is enough (and its PID may be reused once it is reaped)
        if not pid:
            return
        if inner:  # the sandbox's PID 1 first: its namespace dies with it
            try:
                os.kill(inner, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, OSError):
                pass
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
