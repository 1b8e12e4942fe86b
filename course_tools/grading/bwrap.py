"""bubblewrap: the command line that runs a grading kernel in a sandbox of its own, and the
probe that says, once per run, whether this machine can make one (and how to fix it if not).

What the kernel sees (``INSIDE``): the system (``/usr`` and its links, a few ``/etc`` files
the dynamic loader and Python need) and the grading environment with its interpreter, all
read-only; the submission's work folder ``/autograder/submission``, a size-capped tmpfs that
is its cwd and ``$HOME`` (the prepared files are copied in from a read-only ``source``
before otter's first cell); a private size-capped ``/tmp`` and ``/dev/shm``; its own
``/proc`` and a minimal ``/dev``. Nothing else of the host: no home, no checkout, no other
submission, no results. Every namespace is new (no network, its own PID namespace: the
kernel is PID 2 under bwrap's PID 1, and every process it starts dies with it), the
session is new (no terminal to inject into), and no capability is left.

The process cap (``RLIMIT_NPROC``, set by the launcher) counts the processes of one user:
* not root: bwrap makes a user namespace, and since Linux 5.14 the count is per
  namespace, so the cap is the sandbox's own;
* root: the kernel ignores ``RLIMIT_NPROC`` for uid 0 whatever the capabilities, so bwrap
  runs privileged without a user namespace and ``setpriv`` drops the kernel to a uid of its
  own (a random one in a range no account uses) with no capability and no new privileges.

The kernel's ZeroMQ sockets are Unix sockets in its private ``/autograder/ipc`` (there is no
network to use); the tool reaches them through ``/proc/<sandbox pid>/root``, so no folder of
the host is writable from inside.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..exits import CannotRun

INSIDE = Path("/autograder")
SUBMISSION = INSIDE / "submission"   # tmpfs: cwd and $HOME
SOURCE = INSIDE / "source"           # the prepared submission, read-only, copied into SUBMISSION
GRADER = INSIDE / "grader"           # the launcher, the guard, the connection file (read-only)
IPC = INSIDE / "ipc"                 # the kernel's ZeroMQ sockets (tmpfs)
IPC_PREFIX = IPC / "kernel"

# uids no account uses (above systemd's, the container subuid ranges and sssd's default idmap)
SANDBOX_UIDS = (2_130_706_432, 2_147_000_000)
SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime",
             "nsswitch.conf", "fonts", "mime.types")

FIXES = """\
How to fix it:
  * bubblewrap missing: `sudo apt install bubblewrap` (Debian/Ubuntu), `sudo dnf install bubblewrap`
    (Fedora), `sudo pacman -S bubblewrap` (Arch).
  * Ubuntu 23.10/24.04 and later restrict unprivileged user namespaces with AppArmor
    (kernel.apparmor_restrict_unprivileged_userns=1). Ubuntu's documented fix is a profile that
    lets bwrap alone create them: write /etc/apparmor.d/bwrap with
        abi <abi/4.0>,
        include <tunables/global>
        profile bwrap /usr/bin/bwrap flags=(unconfined) {
          userns,
          include if exists <local/bwrap>
        }
    then `sudo apparmor_parser -r /etc/apparmor.d/bwrap`. (Or, until the next boot and for every
    program: `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`.) Older Debian
    kernels: `sudo sysctl kernel.unprivileged_userns_clone=1`.
  * Inside a container (Docker, Podman, CI runners), the default seccomp profile blocks the
    namespaces bubblewrap needs: run the container with `--security-opt seccomp=unconfined`
    (or a profile that allows clone/unshare of namespaces and mount), or grade outside it.
  * macOS, Windows (WSL1) or no namespaces at all: grade with `--docker` (otter grade, one
    container per submission).
  * Or, knowing that each submission then runs with your rights, `--no-sandbox`."""


class SandboxUnavailable(CannotRun):
    """bubblewrap cannot make a sandbox on this machine (the message says how to fix it)."""


@dataclass(frozen=True)
class Mounts:
    """What a sandbox binds: host paths (read-only) and the sizes of its tmpfs."""
    env_root: Path                 # the grading venv
    interpreter_prefixes: tuple[Path, ...]
    grader_dir: Path               # host side of GRADER
    source_dir: Path               # host side of SOURCE
    disk_bytes: int                # each of: the work folder, /tmp, /dev/shm


def privileged() -> bool:
    return os.geteuid() == 0


def sandbox_uid() -> int:
    """The uid a root-run kernel gets: fresh per sandbox, so the process cap is its own."""
    lo, hi = SANDBOX_UIDS
    return lo + secrets.randbelow(hi - lo)


def interpreter_prefixes(python: Path) -> tuple[Path, ...]:
    """Where a venv's interpreter lives (``home`` in pyvenv.cfg and the executable's real
    path), outside ``/usr``: those folders must be visible for the interpreter to start."""
    out = []
    cfg = python.parent.parent / "pyvenv.cfg"
    homes = []
    try:
        for line in cfg.read_text().splitlines():
            k, _, v = line.partition("=")
            if k.strip() == "home":
                homes.append(Path(v.strip()))
    except OSError:
        pass
    homes.append(Path(os.path.realpath(python)).parent)
    for home in homes:
        prefix = Path(os.path.realpath(home)).parent
        if prefix == Path("/") or str(prefix).startswith("/usr"):
            continue
        if prefix not in out:
            out.append(prefix)
    return tuple(out)


def _system_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in SYSTEM_LINKS:
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    args += ["--perms", "0755", "--dir", "/etc"]  # as made for a bind, it would be 0700
    for name in ETC_FILES:
        p = Path("/etc") / name
        if p.exists():
            args += ["--ro-bind", str(p), str(p)]
    return args


def command(m: Mounts, *, env: dict[str, str], argv: list[str], info_fd: int, uid: int | None) -> list[str]:
    """The bwrap command line that runs ``argv`` in the sandbox. ``env`` is the whole
    environment inside (nothing else passes); ``info_fd`` gets bwrap's JSON with the
    sandbox's PID; ``uid`` is the uid to drop to when this tool runs as root."""
    bwrap = shutil.which("bwrap") or "bwrap"
    root = uid is not None
    ns = (["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
          if root else ["--unshare-all"])
    args = [bwrap, *ns, "--die-with-parent", "--new-session", "--info-fd", str(info_fd)]
    args += _system_args()
    made: set[Path] = {Path("/")}
    for p in (m.env_root, *m.interpreter_prefixes):
        # bwrap would make the missing parents 0700 (root's, when it runs as root): make them
        # 0755, so the kernel's uid can reach what is bound there
        for parent in reversed(p.parents):
            if parent not in made and not str(parent).startswith("/usr"):
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(p), str(p)]
    args += ["--ro-bind", str(m.grader_dir / "passwd"), "/etc/passwd",
             "--ro-bind", str(m.grader_dir / "group"), "/etc/group"]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "0755", "--dir", str(INSIDE)]
    size = str(m.disk_bytes)
    for tmp in ("/tmp", "/dev/shm", str(SUBMISSION)):
        args += ["--perms", "1777", "--size", size, "--tmpfs", tmp]
    args += ["--perms", "1777", "--size", str(4 * 2**20), "--tmpfs", str(IPC)]
    args += ["--ro-bind", str(m.grader_dir), str(GRADER), "--ro-bind", str(m.source_dir), str(SOURCE)]
    args += ["--chdir", str(SUBMISSION), "--clearenv"]
    for k, v in env.items():
        args += ["--setenv", k, v]
    if root:
        setpriv = shutil.which("setpriv") or "setpriv"
        args += ["--", setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    else:
        args += ["--cap-drop", "ALL", "--"]
    return args + list(argv)


def write_identity(grader_dir: Path, uid: int) -> None:
    """The passwd and group files the sandbox sees: one user, at home in the work folder."""
    (grader_dir / "passwd").write_text(f"student:x:{uid}:{uid}:student:{SUBMISSION}:/bin/sh\n"
                                       "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (grader_dir / "group").write_text(f"student:x:{uid}:\nnogroup:x:65534:\n")


_PROBED: dict[str, str | None] = {}


def probe(python: str | Path | None = None) -> None:
    """Can this machine make the sandbox? Runs ``python`` (this interpreter by default)
    inside one with the namespaces and the uid drop grading uses; raises
    ``SandboxUnavailable`` with the cause and the fixes. Cached for the process."""
    python = str(python or sys.executable)
    if python in _PROBED:
        if _PROBED[python]:
            raise SandboxUnavailable(_PROBED[python])
        return
    _PROBED[python] = None
    problem = _probe(Path(python))
    if problem:
        _PROBED[python] = problem
        raise SandboxUnavailable(problem)


def _probe(python: Path) -> str | None:
    if not sys.platform.startswith("linux"):
        return (f"the grading sandbox needs Linux namespaces (bubblewrap); this is {sys.platform}.\n"
                + FIXES)
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed: the grading sandbox needs it.\n" + FIXES
    uid = sandbox_uid() if privileged() else None
    if uid is not None and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is missing: as root, the sandbox drops the kernel's uid with it.\n" + FIXES
    import tempfile
    with tempfile.TemporaryDirectory(prefix="acgrade-probe-") as tmp:
        grader, source = Path(tmp) / "grader", Path(tmp) / "source"
        grader.mkdir()
        source.mkdir()
        write_identity(grader, uid if uid is not None else os.getuid())
        for d in (tmp, grader, source):
            os.chmod(d, 0o755)
        os.chmod(grader / "passwd", 0o644)
        os.chmod(grader / "group", 0o644)
        check = ("import os, socket\n"
                 "s = socket.socket()\n"
                 "try:\n    s.connect(('127.0.0.1', 9)); print('network')\nexcept OSError:\n    pass\n"
                 "open('/autograder/submission/x', 'w').write('x')\n"
                 "print('ok', os.getpid())\n")
        r, w = os.pipe()
        try:
            argv = command(Mounts(env_root=python.parent.parent, interpreter_prefixes=interpreter_prefixes(python),
                                  grader_dir=grader, source_dir=source, disk_bytes=2**20),
                           env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                           argv=[str(python), "-I", "-S", "-c", check], info_fd=w, uid=uid)
            proc = subprocess.run(argv, pass_fds=(w,), capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"bubblewrap could not start a sandbox ({e}).\n" + FIXES
        finally:
            os.close(w)
            os.close(r)
    out = proc.stdout.split()
    if proc.returncode != 0 or out[:1] != ["ok"]:
        err = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bubblewrap could not make the grading sandbox here: {err}\n" + FIXES
    if "network" in out or out[1:2] != ["2"]:
        return "bubblewrap ran, but the sandbox it made has network access or no PID namespace.\n" + FIXES
    return None
