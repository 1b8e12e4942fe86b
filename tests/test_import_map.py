"""The drawing of the packages' imports in CONTRIBUTING.md is the code's, and every module
opens by saying what it is for.

The drawing is a Mermaid graph (GitHub renders it) of which module of ``activation_course``
and ``course_tools`` imports which other one, read from the sources with ``ast``. When a
module or an import changes, this test fails and says how to redraw it:
``.venv/bin/python tests/test_import_map.py --write``.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("activation_course", "course_tools")
DOC = REPO / "CONTRIBUTING.md"
BEGIN, END = "<!-- import map: begin (tests/test_import_map.py --write) -->", "<!-- import map: end -->"


def modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (relative imports resolved)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            root = base[:len(base) - node.level + 1] if node.level else []
            mod = ".".join(root + ([node.module] if node.module else []))
            targets = [f"{mod}.{a.name}" for a in node.names] + [mod]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and t not in PACKAGES:
                out.add(t)
    return out


def drawing() -> str:
    found = modules()
    known = set(found)
    lines = ["```mermaid", "graph LR"]
    for pkg in PACKAGES:
        groups: dict[str, list[str]] = {}
        for name in found:
            if name.split(".")[0] == pkg and name != pkg:
                groups.setdefault(".".join(name.split(".")[:2]) if name.count(".") >= 2 else pkg, []).append(name)
        for group, names in groups.items():
            lines.append(f"  subgraph pkg_{group.replace('.', '_')}[{group}]")
            lines += [f"    {n.replace('.', '_')}[{n.rpartition('.')[2]}]" for n in names]
            lines.append("  end")
    for name, path in found.items():
        for dep in sorted(imports_of(name, path, known)):
            lines.append(f"  {name.replace('.', '_')} --> {dep.replace('.', '_')}")
    lines.append("```")
    return "\n".join(lines)


def current() -> str:
    text = DOC.read_text()
    m = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    assert m, f"{DOC.name} has no import map between {BEGIN!r} and {END!r}"
    return m.group(1)


def test_the_drawing_is_the_code():
    assert current() == drawing(), (
        "CONTRIBUTING.md's import map is stale: run `.venv/bin/python tests/test_import_map.py --write`")


def test_the_drawing_can_fail():
    assert "-->" in drawing() and drawing() != drawing().replace("-->", "---", 1)


def test_every_module_says_what_it_is_for():
    missing = [str(p.relative_to(REPO)) for p in modules().values()
               if p.read_text().strip() and not ast.get_docstring(ast.parse(p.read_text()))]
    assert not missing, "modules without an opening docstring: " + ", ".join(missing)


def test_the_student_package_imports_no_instructor_code():
    found = modules()
    bad = [(n, d) for n, p in found.items() if n.startswith("activation_course")
           for d in imports_of(n, p, set(found)) if d.startswith("course_tools")]
    assert not bad, f"activation_course (shipped to students) imports instructor code: {bad}"


def test_the_grading_kernels_files_import_nothing_of_the_course():
    """The guard and its configuration run in the grading environment, without the course."""
    found = modules()
    for name in ("course_tools.grading.guard", "course_tools.grading.kernel_config"):
        assert name in found, name
        assert not imports_of(name, found[name], set(found)), (name, imports_of(name, found[name], set(found)))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        text = DOC.read_text()
        new = f"{BEGIN}\n{drawing()}\n{END}"
        if BEGIN in text:
            text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: new, text, flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n## The house: who imports whom\n\n" + new + "\n"
        DOC.write_text(text)
        print(f"wrote the import map into {DOC}")
    else:
        print(drawing())
