"""The masters' test cells as calls into their assignment's helpers (the house's one test style).

Every test cell of a master ``solutions/<hw>/<hw>.ipynb`` is an OK-format cell with a
``# BEGIN TEST CONFIG`` block (``points:`` and ``hidden:``) and a body of two lines,

    from <hw>_checks import check_something      # public: shipped to students (files:)
    check_something(student_function, ...)

or the same from ``<hw>_oracle`` for a hidden case (autograder only: autograder_files:).
``calls`` reads them; ``run`` makes one call in a namespace, as otter would, and returns
the check's failure message (None when it passes). The per-assignment helper tests
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
_BODY = re.compile(r"from (\w+) import (\w+)\n\2\((.*)\)", re.S)


@dataclass(frozen=True)
class Call:
    question: str
    index: int          # the cell's position in the master
    module: str         # hw2_checks or hw2_oracle
    function: str
    args: str           # the call's argument list, as written
    hidden: bool
    points: float

    @property
    def id(self) -> str:
        return f"{self.question}:{self.function}({self.args})"


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
    body = _BODY.fullmatch(src[config.end():].strip())
    if "points" not in cfg or "hidden" not in cfg:
        raise ValueError(f"{question}, cell {index}: its TEST CONFIG needs both `points:` and `hidden:`")
    if not body:
        raise ValueError(f"{question}, cell {index}: the body is not one import and one call of it:\n"
                         + src[config.end():])
    return Call(question, index, body.group(1), body.group(2), body.group(3), bool(cfg["hidden"]),
                float(cfg["points"]))


def calls(hw: str) -> list[Call]:
    return [parse(*cell) for cell in cells_of(hw)]


def helpers(hw: str):
    """The assignment's helper modules, imported from solutions/<hw>/ (the masters' sources)."""
    folder = str(REPO / "solutions" / hw)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(f"{hw}_checks"), importlib.import_module(f"{hw}_oracle")


def run(call: Call, env: dict) -> str | None:
    """Make the call in ``env`` (the notebook's globals); None if it passes, else its message."""
    module = importlib.import_module(call.module)
    scope = dict(env)
    scope[call.function] = getattr(module, call.function)
    try:
        eval(f"{call.function}({call.args})", scope)
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
