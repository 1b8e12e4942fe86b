"""The sandbox (``sandbox``): killing a kernel kills its process group and every
descendant, including one that left the group with setsid; the watchdog fires."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from course_tools.grading.sandbox import LAUNCHER, Sandbox, SpawnSpec, descendants, kill_all
from course_tools.settings import Limits

TREE = """
import os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])           # same group
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)  # left it
time.sleep(300)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def spec(tmp_path, timeout=60.0) -> SpawnSpec:
    return SpawnSpec(python=Path(sys.executable), cwd=tmp_path, env={}, limits=Limits(timeout=timeout),
                     grader_dir=tmp_path / "grader", log=tmp_path / "log")


def start_tree():
    proc = subprocess.Popen([sys.executable, "-c", TREE], start_new_session=True)
    for _ in range(100):
        if len(descendants(proc.pid)) >= 2:
            break
        time.sleep(0.05)
    return proc


def test_kill_takes_the_group_and_the_runaways(tmp_path):
    proc = start_tree()
    kids = descendants(proc.pid)
    assert len(kids) == 2
    with Sandbox(spec(tmp_path)) as sb:
        sb.started(proc.pid)
    proc.wait(timeout=10)
    time.sleep(0.2)
    assert not [k for k in kids if alive(k)]


def test_the_watchdog_kills_on_timeout(tmp_path):
    proc = start_tree()
    with Sandbox(spec(tmp_path, timeout=0.5)) as sb:
        sb.started(proc.pid)
        assert proc.wait(timeout=10) == -9
        assert sb.timed_out


def test_kill_all_is_ctrl_c(tmp_path):
    procs = [start_tree() for _ in range(2)]
    boxes = [Sandbox(spec(tmp_path)).__enter__() for _ in procs]
    for sb, p in zip(boxes, procs):
        sb.started(p.pid)
    kill_all()
    assert [p.wait(timeout=10) for p in procs] == [-9, -9]
    for sb in boxes:
        sb.__exit__(None, None, None)


def test_a_kernel_killed_before_it_started_dies_when_it_starts(tmp_path):
    sb = Sandbox(spec(tmp_path))
    sb.kill()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    sb.started(proc.pid)
    assert proc.wait(timeout=10) == -9


def test_the_kernelspec_names_the_launcher_with_limits(tmp_path):
    s = spec(tmp_path)
    kdir = s.write_kernelspec()
    argv = __import__("json").loads((kdir / "acgrade-python3" / "kernel.json").read_text())["argv"]
    assert argv[0] == sys.executable and argv[1].endswith("acgrade_kernel.py")
    assert (s.grader_dir / "acgrade_kernel.py").read_text() == LAUNCHER
    env = s.kernel_env()
    assert env["ACGRADE_LIMIT_AS"] == str(4096 * 2**20) and env["ACGRADE_LIMIT_FSIZE"] == str(64 * 2**20)
    assert "RLIMIT_CORE" in LAUNCHER and os.path.basename(argv[1]) == "acgrade_kernel.py"


def test_the_sandboxed_kernelspec_runs_bwrap_with_only_the_kernels_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTRUCTOR_TOKEN", "secret")
    (tmp_path / "sub").mkdir()
    s = SpawnSpec(python=Path(sys.executable), cwd=tmp_path / "sub", limits=Limits(max_procs=99, disk_mb=64),
                  env={"PATH": "/usr/bin", "HOME": "/autograder/submission"}, grader_dir=tmp_path / "grader",
                  log=tmp_path / "log", isolate=True)
    kdir = s.write_kernelspec(info_fd=7)
    argv = __import__("json").loads((kdir / "acgrade-python3" / "kernel.json").read_text())["argv"]
    assert os.path.basename(argv[0]) == "bwrap"
    for flag in ("--die-with-parent", "--new-session", "--clearenv", "--info-fd"):
        assert flag in argv, flag
    assert "--unshare-all" in argv or {"--unshare-net", "--unshare-pid"} <= set(argv)
    names = {argv[i + 1] for i, a in enumerate(argv) if a == "--setenv"}
    assert names == {"PATH", "HOME", "ACGRADE_LIMIT_AS", "ACGRADE_LIMIT_FSIZE", "ACGRADE_LIMIT_NPROC",
                     "ACGRADE_LIMIT_CPU", "ACGRADE_PRELOAD"}
    assert "secret" not in " ".join(argv)
    assert argv[-3:] == ["/autograder/grader/acgrade_kernel.py", "-f", "/autograder/grader/connection.json"]
    # the work folder is a tmpfs of the given size; the tool's folders are bound read-only
    i = argv.index("/autograder/submission")
    assert argv[i - 1] == "--tmpfs" and argv[i - 2] == str(64 * 2**20)
    assert ["--ro-bind", str(tmp_path / "sub"), "/autograder/source"] == argv[argv.index("/autograder/source") - 2:
                                                                              argv.index("/autograder/source") + 1]
    assert s.kernel_env()["ACGRADE_LIMIT_NPROC"] == "99"


def test_namespace_pid_reads_the_innermost_number():
    """Outside a PID namespace a process's innermost number is its own PID; a gone one is 0."""
    import os

    from course_tools.grading.sandbox import namespace_pid
    assert namespace_pid(os.getpid()) == os.getpid()
    assert namespace_pid(2 ** 22 + 12345) == 0
