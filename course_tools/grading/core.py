"""Grade a batch of submissions: intake, one sandboxed run each, results and gradebook.

The tool never runs student code itself. For each submission it

1. checks the file here (readable, a notebook or an export zip, the right
   assignment, safe zip members) -- anything that fails is an ``invalid`` row;
2. lays out a private work folder (the notebook copy with the course's python3
   kernelspec, the autograder's tests and support files, the student's extra files);
3. starts ``python -m course_tools.grading.runner`` in a new session
   (``start_new_session=True``) with caps on address space, file size and core
   dumps, and waits for it under a wall-clock timeout; at the end (timeout or not)
   the whole process group, and the kernel's, are SIGKILLed;
4. listens on a loopback socket for the guard inside the kernel (one connection
   only) and verifies every message (HMAC key known only to this process and the
   guard; consecutive sequence numbers);
5. writes ``results/<slug>.json`` atomically as soon as the submission is done and
   rebuilds the gradebook CSV, so an interruption loses nothing already written.
"""
from __future__ import annotations

import ast
import atexit
import csv
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import shutil
import signal
import site
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parents[1]
STATUSES = ("graded", "flagged", "error", "timeout", "invalid")
MAX_SUBMISSION_BYTES = 100 * 2**20
MAX_ZIP_TOTAL = 200 * 2**20
MAX_ZIP_MEMBERS = 2000
MAX_CHANNEL_BYTES = 32 * 2**20
BASE_WATCH = ["numpy", "math", "cmath", "builtins", "operator", "functools", "itertools",
              "doctest", "otter", "inspect", "json", "pickle", "copy", "types", "abc",
              "dataclasses", "contextlib", "io", "re", "random", "threading", "traceback",
              "unittest", "hmac", "hashlib", "socket"]


class ToolError(Exception):
    """The tool itself cannot run (bad arguments, no assignment, no submissions)."""


# --------------------------------------------------------------------- assignment
@dataclass
class Assignment:
    name: str
    zip_path: Path
    questions: list[str]
    max_points: dict[str, float]
    watch: list[str]
    bases: dict[str, list[str]] = field(default_factory=dict)
    support: list[str] = field(default_factory=list)
    seed: int | None = None
    seed_variable: str | None = None
    extract_dir: Path | None = None

    @property
    def total_max(self) -> float:
        return float(sum(self.max_points.values()))


def _natural(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def load_assignment(hw: str | None, zip_path: str | Path | None = None) -> Assignment:
    """Read an autograder zip: assignment name, questions and points, what the tests import."""
    if zip_path is None:
        if not hw:
            raise ToolError("no assignment given (HW=hw1 or --autograder PATH)")
        zip_path = REPO / "autograder" / hw / f"{hw}-autograder.zip"
    zip_path = Path(zip_path).resolve()
    if not zip_path.is_file():
        have = sorted(p.name for p in (REPO / "autograder").glob("*") if p.is_dir())
        raise ToolError(f"no autograder zip at {zip_path} (assignments with a folder: {have}; "
                        "run `make assign` first)")
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    extract = Path(tempfile.mkdtemp(prefix="acgrade-ag-"))
    atexit.register(shutil.rmtree, extract, True)
    try:
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(extract)
    except zipfile.BadZipFile as e:
        raise ToolError(f"{zip_path} is not a zip: {e}") from None
    config = {}
    if (extract / "otter_config.json").exists():
        config = json.loads((extract / "otter_config.json").read_text())
    name = config.get("assignment_name") or hw or zip_path.stem.replace("-autograder", "")
    if hw and config.get("assignment_name") and config["assignment_name"] != hw:
        raise ToolError(f"{zip_path} is the autograder for {config['assignment_name']!r}, not {hw!r}")
    tests = sorted((extract / "tests").glob("*.py"))
    if not tests:
        raise ToolError(f"{zip_path} holds no tests/*.py")
    max_points, watch, bases = {}, list(BASE_WATCH), {}
    for t in tests:
        tf = create_test_file(str(t), NBMetadataConfig())
        max_points[tf.name] = float(tf.possible)
        srcs = [t.read_text()] + [c.body for c in tf.test_cases if isinstance(c.body, str)]
        found = set()
        for src in srcs:
            mods, names = _imports(src), _attribute_bases(src)
            found |= names
            for base in names:
                mod = ALIASES.get(base) or (base if _installed(base) else None)
                if mod:
                    mods.append(mod)
            for chain in _attribute_chains(src):
                root = ALIASES.get(chain[0]) or chain[0]
                if root in mods:  # np.testing.x -> numpy.testing (lazily loaded otherwise)
                    parts = root.split(".") + chain[1:]
                    for k in range(len(root.split(".")) + 1, len(parts)):
                        if _installed(".".join(parts[:k])):
                            mods.append(".".join(parts[:k]))
            for mod in mods:
                if mod not in watch:
                    watch.append(mod)
        bases[tf.name] = sorted(found)
    # Support modules the autograder ships in files/ (hw1_oracle.py): the tests import
    # them, so the guard imports and watches them too (the autograder's copy, always).
    files_dir = extract / "files"
    support = [m for m in watch if (files_dir / f"{m}.py").is_file() or (files_dir / m / "__init__.py").is_file()]
    watch = [m for m in watch if m not in support]
    questions = sorted(max_points, key=_natural)
    return Assignment(support=support, name=name, zip_path=zip_path, questions=questions, max_points=max_points,
                      watch=watch, bases=bases, seed=config.get("seed"), seed_variable=config.get("seed_variable"),
                      extract_dir=extract)


# Conventional names under which tests find modules in the student's namespace.
ALIASES = {"np": "numpy", "torch": "torch", "math": "math", "F": "torch.nn.functional",
           "nn": "torch.nn", "pd": "pandas", "plt": "matplotlib.pyplot", "sp": "scipy",
           "scipy": "scipy", "random": "random", "numpy": "numpy"}


def _installed(name: str) -> bool:
    import importlib.util

    if not all(p.isidentifier() for p in name.split(".")) or name in ("self", "test"):
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return False
    if spec is None or spec.origin in (None, "namespace"):
        return False
    if spec.origin in ("built-in", "frozen"):
        return True
    origin = os.path.realpath(spec.origin)
    return any(origin.startswith(root + os.sep) for root in library_roots())


def _doctest_source(src: str) -> str:
    return "\n".join(re.sub(r"^\s*(>>>|\.\.\.) ?", "", line) for line in src.splitlines()
                     if re.match(r"^\s*(>>>|\.\.\.)", line) or ">>>" not in src)


def _attribute_bases(src: str) -> set[str]:
    """Names the test code uses as ``name.attr`` without assigning them itself."""
    try:
        tree = ast.parse(_doctest_source(src))
    except SyntaxError:
        return set()
    used, assigned = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            used.add(node.value.id)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            assigned.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            assigned.update((al.asname or al.name).split(".")[0] for al in node.names)
    return used - assigned


def _attribute_chains(src: str) -> list[list[str]]:
    """Dotted names in test code: ``np.testing.assert_allclose`` -> ['np', 'testing', ...]."""
    try:
        tree = ast.parse(_doctest_source(src))
    except SyntaxError:
        return []
    chains = []
    for node in ast.walk(tree):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if parts and isinstance(node, ast.Name):
            chains.append([node.id] + parts[::-1])
    return chains


def _imports(src: str) -> list[str]:
    """Top-level module names imported by a test file or a doctest body."""
    text = _doctest_source(src)
    found = []
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", text, re.M)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module.split(".")[0])
    return found


# -------------------------------------------------------------------- submissions
@dataclass
class Submission:
    id: str
    path: Path

    @property
    def slug(self) -> str:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", self.id)[-80:]
        return f"{base}-{hashlib.sha1(self.id.encode()).hexdigest()[:8]}"


def discover(paths: list[str], exclude: list[Path] = ()) -> tuple[list[Submission], int]:
    """Submissions under ``paths``: .ipynb and .zip files, recursively in folders
    (hidden folders, checkpoints and __MACOSX skipped); a file named explicitly is
    taken whatever its extension. Returns (submissions, number of other files ignored)."""
    subs, ignored, seen = [], 0, set()
    excluded = [p.resolve() for p in exclude]
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                subs.append(Submission(id=p.name, path=p))
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith(".") or part in ("__MACOSX", "__pycache__") for part in rel.parts):
                    continue
                if any(f.resolve() == e or e in f.resolve().parents for e in excluded):
                    continue
                if not f.is_file():
                    continue
                if f.suffix.lower() not in (".ipynb", ".zip"):
                    ignored += 1
                    continue
                key = f.resolve()
                if key not in seen:
                    seen.add(key)
                    subs.append(Submission(id=rel.as_posix(), path=f))
        else:
            raise ToolError(f"no such file or folder: {raw}")
    ids = [s.id for s in subs]
    for s in subs:  # two files named alike in different places: keep ids unique
        if ids.count(s.id) > 1:
            s.id = str(s.path)
    return subs, ignored


class Invalid(Exception):
    """The submission cannot be graded as it stands (its row says why)."""


@dataclass
class Prepared:
    notebook: dict
    extra_files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    shadowing: list[str] = field(default_factory=list)


def _safe_member(name: str) -> bool:
    parts = Path(name).parts
    return not (name.startswith(("/", "\\")) or ".." in parts or ":" in name)


def prepare(sub: Submission, a: Assignment) -> Prepared:
    """Read and check a submission without running any of it."""
    notes: list[str] = []
    extra: dict[str, bytes] = {}
    try:
        size = sub.path.stat().st_size
    except OSError as e:
        raise Invalid(f"cannot read the file: {e.strerror}") from None
    if size == 0:
        raise Invalid("empty file")
    if size > MAX_SUBMISSION_BYTES:
        raise Invalid(f"file too large ({size / 2**20:.0f} MiB > {MAX_SUBMISSION_BYTES // 2**20} MiB)")
    data = sub.path.read_bytes()
    if zipfile.is_zipfile(io.BytesIO(data)):
        data, extra, zip_notes = _from_zip(data, a)
        notes += zip_notes
    elif sub.path.suffix.lower() == ".zip":
        raise Invalid("named .zip but not a zip archive")
    nb = _parse_notebook(data)
    meta = nb.setdefault("metadata", {})
    otter_meta = meta.get("otter") if isinstance(meta.get("otter"), dict) else {}
    got = otter_meta.get("assignment_name")
    if got and got != a.name:
        raise Invalid(f"a notebook for assignment {got!r}, not {a.name!r}")
    if not got:
        notes.append("notebook metadata names no assignment")
    ks = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    if ks.get("name") != "python3":
        notes.append(f"kernel {ks.get('name')!r} replaced by the course's python3" if ks.get("name")
                     else "no kernelspec; graded with the course's python3")
    meta["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    shadowing = []
    for name in list(extra):
        top = Path(name).parts[0]
        stem = top[:-3] if top.endswith(".py") else top
        if name.endswith((".py", ".pyc", ".so", ".pth")) and stem.isidentifier() and (
                stem in sys.stdlib_module_names or stem in sys.builtin_module_names
                or _installed(stem) or stem in a.watch):
            shadowing.append(name)
            del extra[name]
    return Prepared(notebook=nb, extra_files=extra, notes=notes, shadowing=shadowing)


def _from_zip(data: bytes, a: Assignment) -> tuple[bytes, dict[str, bytes], list[str]]:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in z.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise Invalid(f"broken zip archive ({e})") from None
    if len(infos) > MAX_ZIP_MEMBERS:
        raise Invalid(f"zip has {len(infos)} files (more than {MAX_ZIP_MEMBERS})")
    if sum(i.file_size for i in infos) > MAX_ZIP_TOTAL:
        raise Invalid(f"zip expands to more than {MAX_ZIP_TOTAL // 2**20} MiB")
    bad = [i.filename for i in infos if not _safe_member(i.filename)]
    if bad:
        raise Invalid(f"zip member with an unsafe path: {bad[0]!r}")
    usable = [i for i in infos if not any(p.startswith(".") or p == "__MACOSX"
                                          for p in Path(i.filename).parts)]
    nbs = [i for i in usable if i.filename.lower().endswith(".ipynb")]
    if not nbs:
        raise Invalid("zip holds no notebook")
    if len(nbs) > 1:
        named = [i for i in nbs if Path(i.filename).name == f"{a.name}.ipynb"]
        if len(named) != 1:
            raise Invalid(f"zip holds {len(nbs)} notebooks: {', '.join(i.filename for i in nbs[:4])}")
        nbs = named
    try:
        nb_bytes = z.read(nbs[0])
        extra = {}
        for i in usable:
            if i is nbs[0] or i.filename.lower().endswith(".pdf"):
                continue
            extra[i.filename] = z.read(i)
    except Exception as e:  # CRC errors, unsupported compression, truncated data
        raise Invalid(f"cannot read the zip's contents ({e})") from None
    notes = [f"from zip ({nbs[0].filename}" + (f" + {len(extra)} file(s))" if extra else ")")]
    return nb_bytes, extra, notes


def _parse_notebook(data: bytes) -> dict:
    import nbformat

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("not a notebook: not UTF-8 text (a binary file?)") from None
    if not text.strip():
        raise Invalid("empty file")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise Invalid(f"not a notebook: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        raise Invalid("not a notebook: JSON without a list of cells")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:
        raise Invalid(f"not a readable notebook ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(nb.get("cells"), list):
        raise Invalid("not a notebook: no cells")
    for cell in nb.cells:
        if not isinstance(cell.get("source", ""), str):
            raise Invalid("not a notebook: a cell's source is not text")
    return json.loads(nbformat.writes(nb))


# --------------------------------------------------------------------- one run
@dataclass
class Limits:
    timeout: float = 600.0
    memory_mb: int = 4096
    max_output_mb: int = 64
    threads: int = 1


def library_roots() -> list[str]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(PACKAGE_DIR)}
    try:
        roots.update(site.getsitepackages())
        roots.add(site.getusersitepackages())
    except Exception:
        pass
    return sorted(os.path.realpath(r) for r in roots)


def _set_limits_cmd(limits: Limits) -> list[str]:
    """The runner sets its own limits before starting the kernel (inherited by it):
    no preexec_fn, which is unsafe with the tool's threads."""
    return [sys.executable, "-c",
            "import resource, sys, runpy\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({limits.memory_mb * 2**20},) * 2)\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limits.max_output_mb * 2**20},) * 2)\n"
            "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
            "sys.argv = ['runner'] + sys.argv[1:]\n"
            "runpy.run_module('course_tools.grading.runner', run_name='__main__')\n"]


class Channel(threading.Thread):
    """Receives and verifies the guard's messages (one connection, HMAC, sequence)."""

    def __init__(self, key: bytes, pid_file: Path | None = None):
        super().__init__(daemon=True)
        self.key = key
        self.pid_file = pid_file
        self.kernel_pid: int | None = None
        self.srv = socket.create_server(("127.0.0.1", 0), backlog=1)
        self.srv.settimeout(0.5)
        self.port = self.srv.getsockname()[1]
        self.messages: list[tuple[str, object]] = []
        self.problems: list[str] = []
        self.stop = threading.Event()
        self.connected = False

    def run(self):
        conn = None
        try:
            while not self.stop.is_set():
                try:
                    conn, _ = self.srv.accept()
                    break
                except socket.timeout:
                    continue
        finally:
            self.srv.close()  # one connection only: nobody can connect after the guard
        if conn is None:
            return
        self.connected = True
        conn.settimeout(0.5)
        buf, total, expect = b"", 0, 1
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    if self.stop.is_set():
                        break
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_CHANNEL_BYTES:
                    self.problems.append("flooded the grader's channel")
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    expect = self._line(line, expect)
        if buf.strip():
            self.problems.append("an incomplete message on the grader's channel")

    def _line(self, line: bytes, expect: int) -> int:
        try:
            mac_hex, body_hex = line.decode("ascii").split(" ", 1)
            body = bytes.fromhex(body_hex)
        except (UnicodeDecodeError, ValueError):
            self.problems.append("a malformed message on the grader's channel")
            return expect
        good = hmac.new(self.key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, mac_hex):
            self.problems.append("a forged message on the grader's channel")
            return expect
        try:
            seq, kind, payload = ast.literal_eval(body.decode("utf-8"))
        except Exception:
            self.problems.append("an unreadable message on the grader's channel")
            return expect
        if seq != expect:
            self.problems.append(f"grader messages out of sequence ({seq} after {expect - 1})")
        if kind == "armed" and self.pid_file is not None and self.kernel_pid is None:
            # read now, before any student code runs (it could rewrite the file later)
            try:
                self.kernel_pid = int(self.pid_file.read_text().strip())
            except (OSError, ValueError):
                pass
        self.messages.append((kind, payload))
        return seq + 1


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _kill_tree(proc: subprocess.Popen, kpid: int | None) -> None:
    """SIGKILL the runner's process group, and the kernel's if it left it (setsid).

    The kernel's pid was read when the guard armed, before student code ran, and it
    is only signalled while it is still the runner's child."""
    own = os.getpgrp()
    groups = {proc.pid}
    if kpid and _parent_of(kpid) == proc.pid:
        try:
            groups.add(os.getpgid(kpid))
        except ProcessLookupError:
            kpid = None
    else:
        kpid = None
    for g in groups:
        if g and g != own:
            try:
                os.killpg(g, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    if kpid:
        try:
            os.kill(kpid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


ACTIVE: set[subprocess.Popen] = set()


def run_one(sub: Submission, prep: Prepared, a: Assignment, limits: Limits,
            keep_work: bool = False) -> dict:
    """Grade one prepared submission in its own session; return its result record."""
    work = Path(tempfile.mkdtemp(prefix="acgrade-"))
    t0 = time.monotonic()
    try:
        subdir = work / "submission"
        subdir.mkdir()
        for name, data in prep.extra_files.items():
            dest = subdir / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        files = a.extract_dir / "files"
        if files.is_dir():  # after the student's files: the autograder's copies win
            shutil.copytree(files, subdir, dirs_exist_ok=True)
        support_files = [str(p) for p in subdir.rglob("*.py")
                         if files.is_dir() and (files / p.relative_to(subdir)).is_file()]
        tests_dir = subdir / "tests"
        if tests_dir.exists():
            shutil.rmtree(tests_dir)
        shutil.copytree(a.extract_dir / "tests", tests_dir)
        nb_path = subdir / f"{a.name}.ipynb"
        nb_path.write_text(json.dumps(prep.notebook))
        key, nonce = secrets.token_bytes(32), secrets.token_hex(16)
        channel = Channel(key, pid_file=work / "kernel.pid")
        guard_cfg = work / f"guard-{secrets.token_hex(8)}.json"
        fd = os.open(guard_cfg, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"key": key.hex(), "nonce": nonce, "port": channel.port,
                       "tests_dir": str(tests_dir),
                       "tests": [str(p) for p in sorted(tests_dir.glob("*.py"))],
                       "watch": a.watch, "library_roots": library_roots(),
                       "submission_dir": str(subdir), "bases": a.bases,
                       "support": a.support, "support_files": support_files,
                       "aliases": ALIASES}, f)
        (work / "job.json").write_text(json.dumps({
            "notebook": str(nb_path), "submission_dir": str(subdir), "tests_dir": str(tests_dir),
            "workdir": str(work), "nonce": nonce, "guard_config": str(guard_cfg),
            "max_output_bytes": limits.max_output_mb * 2**20 // 2,
            "seed": a.seed, "seed_variable": a.seed_variable}))
        env = dict(os.environ)
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        env["MPLBACKEND"] = "Agg"
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(limits.threads)
        env["ACGRADE_KERNEL_PID_FILE"] = str(work / "kernel.pid")
        channel.start()
        log = open(work / "runner.log", "wb")
        proc = subprocess.Popen(_set_limits_cmd(limits) + [str(work)], cwd=work, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        ACTIVE.add(proc)
        timed_out = False
        try:
            proc.wait(timeout=limits.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_tree(proc, channel.kernel_pid)
            proc.wait()
            ACTIVE.discard(proc)
            log.close()
        channel.stop.set()
        channel.join(timeout=5)
        runner = _read_json(work / "runner.json")
        log_tail = (work / "runner.log").read_bytes()[-3000:].decode("utf-8", "replace")
        record = decide(sub, prep, a, limits, channel, runner, timed_out, proc.returncode, log_tail)
        record["kernel_pid"] = channel.kernel_pid
        record["seconds"] = round(time.monotonic() - t0, 2)
        return record
    finally:
        if keep_work:
            print(f"[kept] {sub.id}: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _read_json(path: Path, limit: int = 2**20) -> dict:
    try:
        if path.stat().st_size > limit:
            return {}
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def decide(sub, prep, a, limits, channel, runner, timed_out, rc, log_tail) -> dict:
    """Turn what the channel and the runner saw into a status, scores and a message."""
    kinds = [k for k, _ in channel.messages]
    violations = [p for k, p in channel.messages if k == "violation" and isinstance(p, dict)]
    finals = [p for k, p in channel.messages if k == "final" and isinstance(p, dict)]
    guard_errors = [p for k, p in channel.messages if k == "guard-error"]
    reasons = [f"shipped {n}, which would shadow an installed module (dropped)" for n in prep.shadowing]
    reasons += [str(v.get("reason", "?")) for v in violations] + list(channel.problems)
    questions = {}
    notes = list(prep.notes)
    cell_errors = runner.get("cell_errors") or []
    ems = [e for e in cell_errors if isinstance(e, dict)]
    mem_err = any(e.get("ename") == "MemoryError" or "allocate" in str(e.get("evalue", "")).lower()
                  for e in ems)
    if ems:
        first = ems[0]
        notes.append(f"{_plural(len(ems), 'cell')} raised errors (first: cell {first.get('cell')}: "
                     f"{first.get('ename')}: {str(first.get('evalue'))[:80]})")
    if "MemoryError" in log_tail and not mem_err:
        mem_err = True
        notes.append("the kernel hit MemoryError outside the student's cells (output too large?)")
    if mem_err:
        notes.append(f"ran out of memory (cap {limits.memory_mb} MiB)")
    if runner.get("output_truncated"):
        notes.append(f"output flood: {runner['output_truncated'] / 2**20:.0f} MiB of output dropped")

    final = finals[0] if finals else None
    if final is not None:
        got = {q.get("name"): q for q in final.get("questions", []) if isinstance(q, dict)}
        if sorted(got) != sorted(a.questions):
            reasons.append("the grader's report does not list the autograder's questions")
        for q in a.questions:
            item = got.get(q, {})
            score = float(item.get("score", 0.0)) if isinstance(item.get("score"), (int, float)) else 0.0
            if abs(float(item.get("possible", -1)) - a.max_points[q]) > 1e-9:
                reasons.append(f"the grader's report has wrong points for {q}")
                score = 0.0
            questions[q] = max(0.0, min(score, a.max_points[q]))
        if len(finals) > 1:
            reasons.append("more than one final report")
        if final.get("violations") != len([k for k in kinds[:kinds.index("final")] if k == "violation"]):
            reasons.append("violation reports went missing")

    def summary_of_reasons():
        uniq = list(dict.fromkeys(reasons))
        head = "; ".join(uniq[:6])
        return head + (f" (+{len(uniq) - 6} more)" if len(uniq) > 6 else "")

    if reasons:
        status = "flagged"
        total = sum(questions.values()) if final is not None and not timed_out else 0.0
        if final is None or timed_out:
            questions = {}
        msg = f"tampering: {summary_of_reasons()}"
        msg += (f"; tampering neutralised, {total:g}/{a.total_max:g} on the submission's own code"
                if questions else "; no score")
    elif timed_out:
        status, total = "timeout", 0.0
        msg = f"timed out after {limits.timeout:g} s; every process killed"
    elif final is not None:
        status = "graded"
        total = sum(questions.values())
        lost = [f"{q} {questions[q]:g}/{a.max_points[q]:g}" for q in a.questions
                if questions[q] < a.max_points[q] - 1e-9]
        msg = f"{total:g}/{a.total_max:g}" + (f"; lost points on {', '.join(lost)}" if lost else "; all tests passed")
    else:
        status, total = "error", 0.0
        if guard_errors:
            msg = "the grader failed inside the kernel: " + str(guard_errors[0]).strip().splitlines()[-1][:200]
        elif runner.get("dead_kernel"):
            msg = (f"the kernel died in cell {runner.get('dead_cell', '?')} (os._exit, sys.exit at top "
                   f"level in a subprocess, a crash, or the {limits.memory_mb} MiB memory cap)")
        elif runner.get("runner_error"):
            msg = "could not execute the notebook: " + runner["runner_error"].strip().splitlines()[-1][:200]
        elif "armed" not in kinds:
            msg = f"the grading kernel did not start (runner exit {rc}): " + (
                log_tail.strip().splitlines()[-1][:200] if log_tail.strip() else "no output")
        else:
            msg = f"grading did not finish (runner exit {rc})"
            if rc and rc < 0:
                msg += f", killed by signal {-rc}" + (" (file size cap: output flood?)" if -rc == signal.SIGXFSZ else "")
    message = "; ".join([msg] + notes)
    return {"submission": sub.id, "status": status, "total": round(total, 5), "max": a.total_max,
            "scores": {q: round(s, 5) for q, s in questions.items()}, "message": message,
            "violations": violations, "channel_problems": channel.problems,
            "report": final, "runner": {k: runner.get(k) for k in ("cell_errors", "dead_kernel",
                                                                     "output_truncated", "runner_error")},
            "runner_exit": rc, "timed_out": timed_out, "log_tail": log_tail[-1500:]}


def invalid_record(sub: Submission, a: Assignment, why: str) -> dict:
    return {"submission": sub.id, "status": "invalid", "total": 0.0, "max": a.total_max,
            "scores": {}, "message": why}


# ------------------------------------------------------------------ gradebook
def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(2**20), b""):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def _num(x) -> str:
    """A score for the CSV: 5 decimals like otter's results, no trailing zeros."""
    r = round(float(x), 5)
    return str(int(r)) if r == int(r) else repr(r)


def gradebook_rows(records: list[dict], a: Assignment) -> tuple[list[str], list[list]]:
    header = ["submission", "status", "total", "max"] + a.questions + ["message"]
    rows = []
    for r in records:
        scores = r.get("scores") or {}
        one_line = " ".join(str(r.get("message", "")).split())
        rows.append([r["submission"], r["status"], _num(r.get("total", 0)), _num(a.total_max)]
                    + [_num(scores[q]) if q in scores else "" for q in a.questions] + [one_line])
    return header, rows


def write_gradebook(path: Path, records: list[dict], a: Assignment) -> None:
    header, rows = gradebook_rows(records, a)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, path)


def summarize(records: list[dict], a: Assignment) -> str:
    counts = {s: sum(r["status"] == s for r in records) for s in STATUSES}
    scored = [float(r["total"]) for r in records if r["status"] in ("graded", "flagged")]
    parts = [f"{a.name}: {_plural(len(records), 'submission')}: "
             + ", ".join(f"{counts[s]} {s if s != 'error' else 'errors'}" for s in STATUSES)]
    if scored:
        parts.append(f"score (graded and flagged rows) mean {statistics.mean(scored):.2f}, "
                     f"median {statistics.median(scored):g} of {a.total_max:g}")
    return "; ".join(parts)
