"""The sandbox's command line (``bwrap``), without a kernel: what a process inside sees,
and that the process cap holds both for the user running these tests and, when that is
root, for an unprivileged user (``nobody`` via ``setpriv``), for whom bubblewrap takes the
other path (a user namespace instead of a privileged bwrap and a uid drop)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from course_tools.grading import bwrap

PY = Path("/usr/bin/python3")  # world-readable, so that nobody can run it too
pytestmark = pytest.mark.skipif(not PY.exists(), reason="needs the system's /usr/bin/python3")

PROBE = """
import json, os, resource, socket, sys, time
out = {"uid": os.getuid(), "pid": os.getpid(), "env": sorted(os.environ), "cwd": os.getcwd(),
       "procs": sorted(int(p) for p in os.listdir('/proc') if p.isdigit())}
s = socket.socket()
try:
    s.connect(('127.0.0.1', int(sys.argv[1]))); out["tcp"] = "connected"
except OSError as e:
    out["tcp"] = type(e).__name__
out["home_listing"] = [p for p in ('/root', '/home', sys.argv[2]) if os.path.isdir(p) and os.listdir(p)]
resource.setrlimit(resource.RLIMIT_NPROC, (int(sys.argv[3]), int(sys.argv[3])))
kids = []
try:
    for _ in range(200):
        pid = os.fork()
        if pid == 0:
            time.sleep(3); os._exit(0)
        kids.append(pid)
except OSError as e:
    out["fork_error"] = type(e).__name__
out["forked"] = len(kids)
print(json.dumps(out), flush=True)
"""


def _sandbox(tmp_path: Path, uid: int | None) -> bwrap.Mounts:
    grader, source = tmp_path / "grader", tmp_path / "source"
    for d in (grader, source):
        d.mkdir(exist_ok=True)
        d.chmod(0o755)
    tmp_path.chmod(0o755)
    bwrap.write_identity(grader, uid if uid is not None else os.getuid())
    (grader / "probe.py").write_text(PROBE)
    for f in grader.iterdir():
        f.chmod(0o644)
    m = bwrap.Mounts(env_root=Path("/usr"), interpreter_prefixes=(), grader_dir=grader, source_dir=source,
                     disk_bytes=2**20)
    return m


def _run(tmp_path, *, as_nobody: bool, port: int, cap: int = 40) -> dict:
    uid = bwrap.sandbox_uid() if (bwrap.privileged() and not as_nobody) else None
    m = _sandbox(tmp_path, uid)
    r, w = os.pipe()
    argv = bwrap.command(m, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "ACGRADE_X": "1"},
                         argv=[str(PY), "-I", str(bwrap.GRADER / "probe.py"), str(port), str(Path.home()), str(cap)],
                         info_fd=w, uid=uid)
    if as_nobody:
        argv = [shutil.which("setpriv"), "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
    env = dict(os.environ, INSTRUCTOR_TOKEN="secret")
    proc = subprocess.run(argv, pass_fds=(w,), capture_output=True, text=True, timeout=60, env=env)
    os.close(w)
    info = json.loads(os.read(r, 65536) or b"{}")
    os.close(r)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["info"] = info
    return out


@pytest.fixture
def shared_tmp():
    """A folder nobody can read (pytest's own tmp folders are private to this user)."""
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="acgrade-bwrap-test-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def listener():
    srv = socket.create_server(("127.0.0.1", 0))
    yield srv.getsockname()[1]
    srv.close()


def _check(out: dict, cap: int):
    assert out["tcp"] in ("ConnectionRefusedError", "OSError"), out   # the listener outside is unreachable
    assert out["pid"] == 2 and out["procs"] == [1, 2], out             # its own PID namespace
    assert out["env"] == sorted(["PATH", "LANG", "ACGRADE_X", "PWD"]) or \
        set(out["env"]) <= {"PATH", "LANG", "ACGRADE_X", "PWD", "LC_CTYPE"}, out
    assert out["cwd"] == str(bwrap.SUBMISSION) and out["home_listing"] == [], out
    assert out["fork_error"] == "BlockingIOError" and out["forked"] < cap, out
    assert out["info"].get("child-pid", 0) > 0


def test_probe_accepts_this_machine():
    bwrap.probe(PY)


def test_inside_the_sandbox_as_this_user(tmp_path, listener):
    out = _run(tmp_path, as_nobody=False, port=listener)
    _check(out, 40)
    if bwrap.privileged():  # root: the kernel got a uid of its own, not 0
        assert bwrap.SANDBOX_UIDS[0] <= out["uid"] < bwrap.SANDBOX_UIDS[1]


@pytest.mark.skipif(not bwrap.privileged() or shutil.which("setpriv") is None,
                    reason="needs root to become nobody (as an unprivileged user, the test above is that case)")
def test_inside_the_sandbox_as_nobody(shared_tmp, listener):
    out = _run(shared_tmp, as_nobody=True, port=listener)
    _check(out, 40)
    assert out["uid"] == 65534


def test_a_missing_bwrap_is_refused_with_the_fixes(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(bwrap, "_PROBED", {})
    with pytest.raises(bwrap.SandboxUnavailable) as e:
        bwrap.probe(sys.executable)
    text = str(e.value)
    for fix in ("apt install bubblewrap", "apparmor_restrict_unprivileged_userns", "seccomp", "--docker"):
        assert fix in text
