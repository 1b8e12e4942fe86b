"""Issue 19: every public function a student or reader calls says its Args and Returns.

The modules are the ones the book's chapters and the assignments' notebooks import
(found here by reading them, not listed by hand), plus what those modules point to.
"""
import ast
import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMPORT = re.compile(r"(?:from|import)\s+activation_course(?:\.(\w+))?(?:\s+import\s+([\w, ]+))?")


def _imported_modules() -> set[str]:
    texts = [p.read_text() for p in (ROOT / "book").glob("*.md")]
    for nb in (ROOT / "solutions").glob("*/*.ipynb"):
        texts += ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"]]
    names = set()
    for text in texts:
        for sub, imported in IMPORT.findall(text):
            if sub:
                names.add(sub)
            else:
                names.update(n.strip() for n in imported.split(",") if n.strip())
    return names


READER_MODULES = sorted(_imported_modules() | {"devices", "data"})


def test_the_walk_finds_the_modules_the_chapters_use():
    assert {"experiments", "stability", "training", "reference", "plotting", "notebook"} <= set(READER_MODULES)


def _public_callables(module):
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                fn = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                if inspect.isfunction(fn):
                    yield f"{name}.{attr}", fn


@pytest.mark.parametrize("module_name", READER_MODULES)
def test_public_functions_document_args_and_returns(module_name):
    module = importlib.import_module(f"activation_course.{module_name}")
    missing = []
    for name, fn in _public_callables(module):
        doc = inspect.getdoc(fn) or ""
        params = [p for p in inspect.signature(fn).parameters if p not in ("self", "cls")]
        need = (["Args:"] if params else []) + ["Returns:"]
        lacking = [k for k in need if k not in doc]
        if lacking:
            missing.append(f"{name} lacks {', '.join(lacking)}")
    assert not missing, f"activation_course.{module_name}: " + "; ".join(missing)
