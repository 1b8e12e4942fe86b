"""An autograder zip, read once: ``AutograderZip`` (name, config, the environment it declares,
its files; no otter needed) and ``Assignment`` (that, with its tests read: questions and
points, and which modules the tests reach, what the guard must watch), complete when it
exists. ``Analysis`` lets grading start its first kernel before the tests are read."""
from __future__ import annotations

import ast
import atexit
import json
import re
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..exits import CannotRun
from ..settings import Course, course
from . import policy

class ToolError(CannotRun):
    """The tool itself cannot run (bad arguments, no assignment, no submissions)."""


@dataclass(frozen=True)
class AutograderZip:
    """An autograder zip, unpacked: what needs no otter (name, config, environment, files).
    ``open_assignment`` makes one; ``Assignment.analyse`` reads its tests."""
    name: str
    zip_path: Path
    extract_dir: Path
    environment_yml: str
    seed: int | None = None
    seed_variable: str | None = None

    @property
    def tests_dir(self) -> Path:
        return self.extract_dir / "tests"

    @property
    def files_dir(self) -> Path:
        return self.extract_dir / "files"


@dataclass(frozen=True, kw_only=True)
class Assignment(AutograderZip):
    """An autograder zip with its tests read (with otter's own classes): questions, points
    per question, the modules the tests reach, and of those what the grading environment
    has (``watch``, what the guard watches) and the zip's own support modules. Complete
    when it exists: ``Assignment.analyse(zip, has_module)`` (or ``load_assignment``)."""
    questions: list[str]
    max_points: dict[str, float]
    candidates: list[str] = field(default_factory=list)   # modules the tests may reach
    bases: dict[str, list[str]] = field(default_factory=dict)
    watch: list[str] = field(default_factory=list)        # candidates the grading environment has
    support: list[str] = field(default_factory=list)      # the zip's files/ modules

    @property
    def total_max(self) -> float:
        return float(sum(self.max_points.values()))

    @classmethod
    def analyse(cls, z: AutograderZip, has_module=None) -> "Assignment":
        """Read the zip's tests; with ``has_module`` (the grading environment's), split the
        modules they reach into those to watch and the zip's own support modules."""
        questions, max_points, candidates, bases = analyze_tests(z.tests_dir)
        candidates = with_support_imports(candidates, z.files_dir)
        watch, support = resolve_watch(candidates, z.files_dir, has_module) if has_module else ([], [])
        return cls(**{f.name: getattr(z, f.name) for f in fields(AutograderZip)},
                   questions=questions, max_points=max_points, candidates=candidates, bases=bases,
                   watch=watch, support=support)


class Analysis:
    """The one ``Assignment`` of a zip, analysed by whichever grading thread asks first
    (``result()``), once. Grading starts the first kernel before the tests are read: importing
    otter in a second thread while a grading thread imports nbformat makes both crawl (they
    contend for the same module locks); one thread importing both is several times faster,
    and the kernel starts meanwhile anyway."""

    def __init__(self, z: AutograderZip, has_module=None):
        self.zip = z
        self._has_module = has_module
        self._lock = threading.Lock()
        self._result: Assignment | None = None

    def result(self) -> Assignment:
        with self._lock:
            if self._result is None:
                self._result = Assignment.analyse(self.zip, self._has_module)
            return self._result


def resolve_watch(candidates: list[str], files_dir: Path, has_module) -> tuple[list[str], list[str]]:
    """(watch, support): the candidate modules that exist in the grading environment, and
    the zip's own support modules (files/hw1_oracle.py), imported and watched separately."""
    support, watch = [], []
    for m in candidates:
        top = m.split(".")[0]
        if (files_dir / f"{top}.py").is_file() or (files_dir / top / "__init__.py").is_file():
            if top not in support:
                support.append(top)
        elif has_module(top) and m not in watch:
            watch.append(m)
    return watch, support


def natural(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def test_files(tests_dir: Path):
    """The zip's test files as otter's own classes (OK-format and exception-format alike)."""
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    return [create_test_file(str(t), NBMetadataConfig()) for t in sorted(Path(tests_dir).glob("*.py"))]


def load_assignment(hw: str | None, zip_path: str | Path | None = None, has_module=None,
                    where: Course | None = None) -> Assignment:
    """An autograder zip, read and analysed (see ``Assignment``)."""
    return Assignment.analyse(open_assignment(hw, zip_path, where), has_module)


def open_assignment(hw: str | None, zip_path: str | Path | None = None,
                    where: Course | None = None) -> AutograderZip:
    """Read an autograder zip into a private folder (removed at exit); no otter needed.
    Without ``zip_path``: ``autograder/<hw>/<hw>-autograder.zip`` of the course (``settings.course()``)."""
    if zip_path is None:
        if not hw:
            raise ToolError("no assignment given (HW=hw1 or --autograder PATH)")
        where = where or course()
        zip_path = where.autograder_zip(hw)
        if not zip_path.is_file():
            have = sorted(p.name for p in where.autograder.glob("*") if p.is_dir())
            raise ToolError(f"no autograder zip at {zip_path} (assignments with a folder: {have}; "
                            "run `make assign` first)")
    zip_path = Path(zip_path).resolve()
    if not zip_path.is_file():
        raise ToolError(f"no autograder zip at {zip_path}")
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
    if not sorted((extract / "tests").glob("*.py")):
        raise ToolError(f"{zip_path} holds no tests/*.py")
    env_yml = extract / "environment.yml"
    if not env_yml.is_file():
        raise ToolError(f"{zip_path} holds no environment.yml (otter assign writes one)")
    return AutograderZip(name=name, zip_path=zip_path, extract_dir=extract,
                         environment_yml=env_yml.read_text(),
                         seed=config.get("seed"), seed_variable=config.get("seed_variable"))


def analyze_tests(tests_dir: Path) -> tuple[list[str], dict[str, float], list[str], dict[str, list[str]]]:
    """Points per question (``TestFile.possible``, as otter counts them: the tool's one
    reader of points) and the modules the tests reach, from the test files. Returns
    (questions in natural order, points per question, candidate modules, names used per question)."""
    max_points, candidates, bases = {}, list(policy.BASE_WATCH), {}
    for tf in test_files(tests_dir):
        max_points[tf.name] = float(tf.possible)
        srcs = [Path(tf.path).read_text()] + [c.body for c in tf.test_cases if isinstance(c.body, str)]
        found: set[str] = set()
        for src in srcs:
            mods, names = modules_reached(src)
            found |= names
            candidates += [m for m in mods if m not in candidates]
        bases[tf.name] = sorted(found)
    return sorted(max_points, key=natural), max_points, candidates, bases


def modules_reached(src: str) -> tuple[list[str], set[str]]:
    """(modules, names): the modules a piece of test code imports or reaches through a
    conventional name (``np.`` -> numpy) and their submodules named in dotted chains
    (``np.testing.x`` -> numpy.testing, loaded lazily), and the names it uses as ``name.attr``."""
    mods, names = imports(src), attribute_bases(src)
    mods += [policy.ALIASES.get(b, b) for b in names]
    for chain in attribute_chains(src):
        root = policy.ALIASES.get(chain[0]) or chain[0]
        if root in mods:
            parts = root.split(".") + chain[1:]
            mods += [".".join(parts[:k]) for k in range(len(root.split(".")) + 1, len(parts))]
    out = []
    for m in mods:
        if all(p.isidentifier() for p in m.split(".")) and m not in ("self", "test") and m not in out:
            out.append(m)
    return out, names


def with_support_imports(candidates: list[str], files_dir: Path) -> list[str]:
    """``candidates`` plus what the zip's own support modules reach, transitively: a test
    that only calls ``hw3_checks.check_x`` relies on whatever ``hw3_checks`` uses (torch's
    ``allclose``, say), so the guard must watch those modules too."""
    out, read = list(candidates), set()
    i = 0
    while i < len(out):
        top = out[i].split(".")[0]
        i += 1
        path = files_dir / f"{top}.py"
        if top in read or not path.is_file():
            continue
        read.add(top)
        mods, _ = modules_reached(path.read_text())
        out += [m for m in mods if m not in out]
    return out


# ------------------------------------------------------------------ test-source analysis
def doctest_source(src: str) -> str:
    return "\n".join(re.sub(r"^\s*(>>>|\.\.\.) ?", "", line) for line in src.splitlines()
                     if re.match(r"^\s*(>>>|\.\.\.)", line) or ">>>" not in src)


def attribute_bases(src: str) -> set[str]:
    """Names the test code uses as ``name.attr`` without assigning them itself."""
    try:
        tree = ast.parse(doctest_source(src))
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


def attribute_chains(src: str) -> list[list[str]]:
    """Dotted names in test code: ``np.testing.assert_allclose`` -> ['np', 'testing', ...]."""
    try:
        tree = ast.parse(doctest_source(src))
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


def imports(src: str) -> list[str]:
    """Top-level module names imported by a test file or a doctest body."""
    text = doctest_source(src)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", text, re.M)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module.split(".")[0])
    return found
