"""Nothing gives an answer away: no solution, hidden test or autograder file in what students see.

The secrets are read from the otter-assign masters (``solutions/<hw>/<hw>.ipynb``)
by their own markers, independently of otter's output:

* solution lines: inside ``# BEGIN SOLUTION`` / ``# END SOLUTION`` in a code cell, or
  ending in ``# SOLUTION``; every markdown cell of a solution block (model answers
  and derivations) unless tagged ``otter_include`` (the students' answer cell);
* hidden tests: every code line of a test cell whose config says ``hidden: true``
  or whose first line is ``# HIDDEN``;
* support files: every line of the master's ``autograder_files`` (each assignment's
  ``<hw>_oracle.py``, its hidden checks).

A master's ``files`` (its public ``<hw>_checks.py``) ship to students beside the
notebook, so their lines are shown, like public tests' (an oracle may share a generic
line with them); they are scanned on their own for solution lines
(``test_public_helpers_give_nothing_away``), and an oracle may never ship
(``test_helpers_ship_to_students_and_oracles_do_not``).

Lines that the masters also show students (prompts, provided code, public tests)
and lines too short to identify anything (``return out``) are not secrets. Every
text file of the student edition, every member of a zip in it, and every page of
the built book (``_build/html``) is scanned, line by line after collapsing
whitespace; a match fails the test and names the file, the line and where it comes from.
"""
from __future__ import annotations

import html
import html.parser
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from course_tools.assign import masters
from edition_support import REPO

MIN_CHARS = 18  # shorter lines (`return grads`, `a = [x]`) identify nothing
LONG_CHARS = 30  # a secret this long is also looked for inside longer lines
BOOK_HTML = REPO / "_build" / "html"


@dataclass(frozen=True)
class Secret:
    origin: str  # e.g. "hw2 solution, cell 21"
    line: str


def normalise(line: str) -> str:
    """A line as compared: trailing comment dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"\s#\s.*$|^\s*#.*$", "", line)).strip()


def identifies_nothing(key: str) -> bool:
    """Too short, or boilerplate that any file may hold: imports, bare handlers, seeding."""
    return (len(key) < MIN_CHARS or re.match(r"(from \S+ )?import \S", key) is not None
            or re.fullmatch(r"(except( \w+( as \w+)?)?|try|else|finally):", key) is not None
            or re.fullmatch(r"@[\w.]+", key) is not None  # a bare decorator
            or re.fullmatch(r"\w+ = (torch\.Generator\(\)\.manual_seed|np\.random\.default_rng)\(\w+\)", key) is not None)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _solution_lines(code: str) -> tuple[list[str], list[str]]:
    """(solution lines, public lines) of a code cell with in-cell otter markers."""
    secret, public, inside = [], [], False
    for line in code.splitlines():
        marker = line.strip()
        if marker.startswith("# BEGIN SOLUTION"):
            inside = True
        elif marker.startswith("# END SOLUTION"):
            inside = False
        elif inside or marker.endswith("# SOLUTION"):
            secret.append(line.replace("# SOLUTION", ""))
        elif not marker.startswith(("# BEGIN PROMPT", "# END PROMPT", '""" # BEGIN PROMPT', '""" # END PROMPT')):
            public.append(line)
    return secret, public


def assignment_config(master: Path) -> dict:
    """The master's ``# ASSIGNMENT CONFIG`` block."""
    for cell in json.loads(master.read_text())["cells"]:
        text = _source(cell)
        if cell["cell_type"] == "raw" and text.strip().startswith("# ASSIGNMENT CONFIG"):
            return yaml.safe_load(text.split("\n", 1)[1]) or {}
    return {}


def master_secrets(master: Path, helpers_public: bool = True) -> tuple[list[Secret], set[str]]:
    """The secret lines of one master notebook, and the lines it shows students (with the
    lines of its public helpers, ``files:``, unless ``helpers_public`` is false)."""
    hw = master.stem
    nb = json.loads(master.read_text())
    secrets: list[Secret] = []
    public: set[str] = set()
    in_solution = in_tests = False
    config = {}
    for i, cell in enumerate(nb["cells"]):
        text = _source(cell)
        marker = text.strip()
        if cell["cell_type"] == "raw":
            if marker.startswith("# ASSIGNMENT CONFIG"):
                config = yaml.safe_load(text.split("\n", 1)[1]) or {}
            in_solution = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(marker, in_solution)
            in_tests = {"# BEGIN TESTS": True, "# END TESTS": False}.get(marker, in_tests)
            continue
        where = f"{hw} master, cell {i}"
        if in_tests and cell["cell_type"] == "code":
            head, _, body = text.partition("# END TEST CONFIG")
            # otter's two spellings: a TEST CONFIG block, or a first line "# HIDDEN"
            hidden = (bool(re.search(r"^hidden:\s*true", head, re.M)) if body
                      else text.lstrip().startswith("# HIDDEN"))
            lines = (body if body else text).splitlines()
            if hidden:
                secrets += [Secret(f"{where} (hidden test)", ln) for ln in lines]
            else:
                public.update(lines)
        elif cell["cell_type"] == "code":
            secret, shown = _solution_lines(text)
            secrets += [Secret(f"{where} (solution)", ln) for ln in secret]
            public.update(shown)
        elif in_solution and "otter_include" not in cell.get("metadata", {}).get("tags", []):
            secrets += [Secret(f"{where} (written solution)", ln) for ln in text.splitlines()]
        else:
            public.update(text.splitlines())
    for name in config.get("autograder_files", []) or []:
        support = master.parent / name
        secrets += [Secret(f"{hw} autograder file {name}", ln) for ln in support.read_text().splitlines()]
    if helpers_public:
        for name in config.get("files", []) or []:
            public.update((master.parent / name).read_text().splitlines())
    return secrets, {normalise(p) for p in public}


def all_secrets(helpers_public: bool = True) -> dict[str, Secret]:
    found: dict[str, Secret] = {}
    public: set[str] = set()
    for master in sorted((REPO / "solutions").glob("*/*.ipynb")):
        if master.parent.name != master.stem:
            continue
        secrets, shown = master_secrets(master, helpers_public)
        public |= shown
        for s in secrets:
            found.setdefault(normalise(s.line), s)
    shown = "\n".join(public)  # a prompt may quote a line on purpose (hw2 gives its draw order)
    return {k: v for k, v in found.items()
            if not identifies_nothing(k) and k not in public and not (len(k) >= LONG_CHARS and k in shown)}


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, list):
        return [s for item in obj for s in _strings(item)]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    return []


def text_lines(name: str, data: bytes) -> list[str]:
    """The lines a reader of this file sees (notebooks decoded, HTML without tags)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []
    if name.endswith(".ipynb"):
        try:
            nb = json.loads(text)
            # cell sources are lists of lines; join them so a line is a line
            for cell in nb.get("cells", []):
                cell["source"] = _source(cell)
            text = "\n".join(_strings(nb))
        except json.JSONDecodeError:
            pass
    elif name.endswith((".html", ".htm")):
        parser = _Text()
        parser.feed(text)
        text = "".join(parser.parts)
    return text.splitlines()


def scanned_files(root: Path):
    """(display name, bytes) of every file under root, and of every member of its zips."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f"{root.name}/{path.relative_to(root)}"
        data = path.read_bytes()
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for member in z.namelist():
                    yield f"{rel}!{member}", z.read(member)
        else:
            yield rel, data


def leaks(root: Path, secrets: dict[str, Secret]) -> list[str]:
    """Every line of every file under root that is a secret line, or that contains a
    long one (a solution expression inside a longer line)."""
    long_secrets = [k for k in secrets if len(k) >= LONG_CHARS]
    found = []
    for name, data in scanned_files(root):
        lines = [normalise(line) for line in text_lines(name, data)]
        joined = "\n".join(lines)
        hits = {k for k in long_secrets if k in joined}
        for n, key in enumerate(lines, 1):
            match = key if key in secrets else next((k for k in hits if k in key), None)
            if match is not None:
                found.append(f"{name}:{n}: {key[:120]!r} holds {match[:120]!r} from {secrets[match].origin}")
    return found


@pytest.fixture(scope="module")
def secrets() -> dict[str, Secret]:
    return all_secrets()


def test_the_masters_have_secrets_to_look_for(secrets):
    """A scan for nothing proves nothing: each kind of secret is found in the masters."""
    def kind(s: Secret) -> str:
        return re.search(r"\((.*)\)|autograder file", s.origin).group(0)

    kinds = {kind(s) for s in secrets.values()}
    assert {"(solution)", "(hidden test)", "(written solution)", "autograder file"} <= kinds, kinds
    for hw in masters():  # every assignment in solutions/, however small: solutions and hidden tests
        own = {kind(s) for s in secrets.values() if s.origin.split()[0] == hw}
        assert {"(solution)", "(hidden test)"} <= own, f"{hw}: no solution or no hidden-test line found: {own}"
    # A line every student sees is not a secret, whatever block it sits in.
    assert normalise("import numpy as np") not in secrets
    assert normalise("LEAKY_SLOPE = 0.01  # leaky ReLU's fixed slope") not in secrets


def test_scanner_finds_a_planted_solution_line(tmp_path, secrets):
    """The scan can fail: a solution line planted in a notebook, a zip and an HTML page is found."""
    key, secret = next((k, s) for k, s in secrets.items() if "(solution)" in s.origin)
    planted = tmp_path / "planted"
    planted.mkdir()
    nb = {"cells": [{"cell_type": "code", "source": ["x = 1\n", "    " + secret.line + "\n"]}]}
    (planted / "a.ipynb").write_text(json.dumps(nb))
    with zipfile.ZipFile(planted / "b.zip", "w") as z:
        z.writestr("inner.py", "pass\n" + secret.line + "\n")
    line = secret.line.strip()
    cut = len(line) // 2  # highlighted code: the line split across spans, characters escaped
    (planted / "c.html").write_text(f"<pre><span class='n'>{html.escape(line[:cut])}</span>"
                                    f"{html.escape(line[cut:])}\n</pre>")
    long_key = next(k for k in secrets if len(k) >= LONG_CHARS)
    (planted / "d.md").write_text(f"Here is the trick: `{long_key}`, easy.\n")
    found = leaks(planted, secrets)
    assert [f.split(":")[0] for f in found] == ["planted/a.ipynb", "planted/b.zip!inner.py", "planted/c.html",
                                                "planted/d.md"], found


def test_student_edition_gives_nothing_away(release_dir, secrets):
    found = leaks(release_dir, secrets)
    assert not found, "solution or hidden-test lines in the student edition:\n" + "\n".join(found[:40])


def test_helpers_ship_to_students_and_oracles_do_not(release_dir):
    """Public helpers (``files:``) lie beside each student notebook; no ``autograder_files``
    file (an oracle) is anywhere in the edition, under any folder."""
    names = {p.name for p in release_dir.rglob("*") if p.is_file()}
    for hw, master in masters().items():
        config = assignment_config(master)
        for name in config.get("files", []) or []:
            assert (release_dir / "assignments" / hw / name).is_file(), f"{hw}: {name} is not beside the notebook"
        for name in config.get("autograder_files", []) or []:
            assert Path(name).name not in names, f"{hw}: the autograder-only {name} is in the student edition"


def test_public_helpers_give_nothing_away(tmp_path):
    """Each public helper, read from solutions/ (no release needed), holds no line of a
    solution (code or written), the helpers' own lines not counted as shown."""
    secrets = {k: v for k, v in all_secrets(helpers_public=False).items() if "solution)" in v.origin}
    shipped = tmp_path / "helpers"
    shipped.mkdir()
    for hw, master in masters().items():
        for name in assignment_config(master).get("files", []) or []:
            (shipped / f"{hw}-{Path(name).name}").write_bytes((master.parent / name).read_bytes())
    assert any(shipped.iterdir()), "no master ships a public helper"
    found = leaks(shipped, secrets)
    assert not found, "solution or hidden-test lines in a public helper:\n" + "\n".join(found[:40])


def test_built_book_gives_nothing_away(secrets):
    if not (BOOK_HTML / "index.html").is_file():
        pytest.skip("the book is not built (make book-fast builds it before the tests)")
    found = leaks(BOOK_HTML, secrets)
    assert not found, "solution or hidden-test lines in the built book:\n" + "\n".join(found[:40])
