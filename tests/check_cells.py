"""The masters' test cells as calls into their assignment's helpers (the house's one test style).

Every test cell of a master ``solutions/<hw>/<hw>.ipynb`` is an OK-format cell with a
``# BEGIN TEST CONFIG`` block (``points:`` and ``hidden:``) and a body of one import
from the assignment's helper and one or more lines, each a call of an imported name:

    from <hw>_checks import check_something      # public: shipped to students (files:)
    check_something(student_function, ...)

or the same from ``<hw>_oracle`` for a hidden case (autograder only: autograder_files:).
``calls`` reads them (``parse`` refuses anything else, naming the cell); ``run`` runs
one cell's body in a copy of a namespace, as otter would, and returns the check's
failure message (None when it passes). The per-assignment helper tests
(tests/hw*/test_hw*_oracle.py) and tests/test_test_style.py use it.
"""
from __future__ import annotations

import importlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
_CONFIG = re.compile(r'^"""\s*# BEGIN TEST CONFIG\n(.*?)"""\s*# END TEST CONFIG\n', re.S)
_IMPORT = re.compile(r"from (\w+) import (\w+(?:, \w+)*)")
_CALL = re.compile(r"(\w+)\((.*)\)")


@dataclass(frozen=True)
class Call:
    question: str
    index: int                  # the cell's position in the master
    module: str                 # e.g. hw2_checks or hw2_oracle
    functions: tuple[str, ...]  # the names called, in order
    body: str                   # the import and the calls, as written
    hidden: bool
    points: float

    @property
    def id(self) -> str:
        return f"{self.question}:cell {self.index}:{'+'.join(dict.fromkeys(self.functions))}"


def master(hw: str) -> Path:
    return REPO / "solutions" / hw / f"{hw}.ipynb"


def cells_of(hw: str) -> list[tuple[str, int, str]]:
    """(question, cell index, source) of every code cell between BEGIN TESTS and END TESTS."""
    out, question, in_tests = [], None, False
    for i, cell in enumerate(json.loads(master(hw).read_text())["cells"]):
        src = "".join(cell["source"])
        if cell["cell_type"] == "raw":
            head = src.strip()
            if head.startswith("# BEGIN QUESTION"):
                question = yaml.safe_load(head[len("# BEGIN QUESTION"):])["name"]
            in_tests = {"# BEGIN TESTS": True, "# END TESTS": False}.get(head, in_tests)
        elif in_tests and cell["cell_type"] == "code":
            out.append((question, i, src))
    return out


def parse(question: str, index: int, src: str) -> Call:
    """One test cell as a Call; raises ValueError, naming the cell, when it is not in the house style."""
    config = _CONFIG.match(src)
    if not config:
        raise ValueError(f"{question}, cell {index}: no TEST CONFIG block at the top")
    cfg = yaml.safe_load(config.group(1)) or {}
    if "points" not in cfg or "hidden" not in cfg:
        raise ValueError(f"{question}, cell {index}: its TEST CONFIG needs both `points:` and `hidden:`")
    body = src[config.end():].strip()
    first, *rest = body.splitlines() or [""]
    imported = _IMPORT.fullmatch(first)
    called = [_CALL.fullmatch(line) for line in rest]
    if not imported or not called or not all(c and c.group(1) in imported.group(2).split(", ") for c in called):
        raise ValueError(f"{question}, cell {index}: the body is not one import from a helper and calls of"
                         f" what it imports, one a line:\n{body}")
    return Call(question, index, imported.group(1), tuple(c.group(1) for c in called), body,
                bool(cfg["hidden"]), float(cfg["points"]))


def calls(hw: str) -> list[Call]:
    return [parse(*cell) for cell in cells_of(hw)]


def helpers(hw: str):
    """The assignment's helper modules, imported from solutions/<hw>/ (the masters' sources)."""
    folder = str(REPO / "solutions" / hw)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(f"{hw}_checks"), importlib.import_module(f"{hw}_oracle")


def run(call: Call, env: dict) -> str | None:
    """Run the cell's body in a copy of ``env`` (the notebook's globals); None if it passes, else its message."""
    scope = dict(env)
    try:
        exec(compile(call.body, f"<{call.id}>", "exec"), scope)
    except AssertionError as e:
        return str(e) or "(an assert without a message)"
    except Exception as e:  # a crash in the student's code is a failed case too
        return f"{type(e).__name__}: {e}"
    return None


def solution_env(hw: str, extra: str = "") -> dict:
    """The solution notebook's code cells run as otter runs them (no otter, no ignored cells), then ``extra``."""
    env: dict = {"__name__": "__main__"}
    nb = json.loads((REPO / "autograder" / hw / f"{hw}.ipynb").read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if (cell["cell_type"] != "code" or "otter_ignore" in cell.get("metadata", {}).get("tags", [])
                or "otter" in src.split("\n", 1)[0].lower() or "grader." in src):
            continue
        exec(compile(src, f"<{hw} cell>", "exec"), env)
    if extra:
        exec(compile(extra, "<variant>", "exec"), env)
    return env
