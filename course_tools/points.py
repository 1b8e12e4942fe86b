"""A question's points have one source: ``points:`` in its ``# BEGIN QUESTION`` config.

Everything else that states them must agree with it, and ``make assign`` refuses a master
where something does not, naming the question:

* the per-test ``points:`` of its test cells, when the tests give any (otter then uses
  their sum and silently ignores the question's own value; when no test gives points,
  otter splits the question's points evenly, so there is nothing to disagree);
* the ``(N points`` of the question's heading;
* the ``(k)`` items of a ``**Points.**`` paragraph in its prompt;
* an overview paragraph ``**Points (T in total).** ... Q3 name (4) ...`` in the notebook's
  introduction: each ``Qn ... (k)`` item, and the total.

The rules read only the master's cells, so they run in milliseconds and before otter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_TEST_CONFIG = re.compile(r'"""\s*# BEGIN TEST CONFIG\n(.*?)"""\s*# END TEST CONFIG', re.S)
_HEADING = re.compile(r"^#+ .*?\((\d+) points?\b", re.M)
_POINTS_PARAGRAPH = re.compile(r"\*\*Points\.\*\*(.*?)(?:\n\s*\n|\Z)", re.S)
_OVERVIEW = re.compile(r"\*\*Points \((\d+) in total\)\.\*\*(.*?)(?:\n\s*\n|\Z)", re.S)
_ITEM = re.compile(r"\((\d+)\)")
_OVERVIEW_ITEM = re.compile(r"\bQ(\d+)\b[^()]*\((\d+)\)")


@dataclass
class Question:
    name: str
    number: int                      # 1-based position among the master's questions
    points: float | None             # the question config's value
    manual: bool = False
    test_points: list[float | None] = field(default_factory=list)
    prompt: str = ""                 # the question's markdown, joined


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def read_questions(nb: dict) -> tuple[list[Question], str]:
    """The master's questions in order, and the markdown before the first one."""
    questions: list[Question] = []
    intro: list[str] = []
    current: Question | None = None
    in_tests = False
    for cell in nb.get("cells", []):
        src = _source(cell)
        head = src.lstrip()
        if cell.get("cell_type") == "raw":
            if head.startswith("# BEGIN QUESTION"):
                config = yaml.safe_load(head[len("# BEGIN QUESTION"):]) or {}
                current = Question(name=str(config.get("name")), number=len(questions) + 1,
                                   points=config.get("points"), manual=bool(config.get("manual")))
                questions.append(current)
            elif head.startswith("# END QUESTION"):
                current = None
            elif head.startswith("# BEGIN TESTS"):
                in_tests = True
            elif head.startswith("# END TESTS"):
                in_tests = False
            continue
        if current is None:
            if cell.get("cell_type") == "markdown" and not questions:
                intro.append(src)
            continue
        if in_tests and cell.get("cell_type") == "code":
            match = _TEST_CONFIG.search(src)
            config = yaml.safe_load(match.group(1)) if match else None
            current.test_points.append((config or {}).get("points"))
        elif cell.get("cell_type") == "markdown":
            current.prompt += src + "\n\n"
    return questions, "\n\n".join(intro)


def _same(a, b) -> bool:
    return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9


def problems(nb: dict) -> list[str]:
    """Every place where a question's points disagree with its config, one line each."""
    questions, intro = read_questions(nb)
    out: list[str] = []
    for q in questions:
        where = f"{q.name} (question {q.number})"
        if q.points is None:
            out.append(f"{where}: its question config has no `points:`")
            continue
        given = [p for p in q.test_points if p is not None]
        if given and len(given) != len(q.test_points):
            out.append(f"{where}: {len(given)} of its {len(q.test_points)} test cells give `points:`;"
                       " give them in all or in none")
        elif given and not _same(sum(given), q.points):
            out.append(f"{where}: its config says points: {q.points:g}, but its test cells' points"
                       f" sum to {sum(given):g} (otter would grade it out of {sum(given):g})")
        heading = _HEADING.search(q.prompt)
        if heading and not _same(heading.group(1), q.points):
            out.append(f"{where}: its heading says {heading.group(1)} points, its config {q.points:g}")
        paragraph = _POINTS_PARAGRAPH.search(q.prompt)
        if paragraph:
            items = [int(k) for k in _ITEM.findall(paragraph.group(1))]
            if not _same(sum(items), q.points):
                out.append(f"{where}: its **Points.** paragraph adds up to {sum(items)}"
                           f" ({' + '.join(map(str, items))}), its config says {q.points:g}")
    overview = _OVERVIEW.search(intro)
    if overview:
        by_number = {q.number: q for q in questions}
        total = sum(q.points or 0 for q in questions)
        if not _same(overview.group(1), total):
            out.append(f"introduction: says {overview.group(1)} points in total; the questions' configs"
                       f" sum to {total:g}")
        for number, stated in _OVERVIEW_ITEM.findall(overview.group(2)):
            q = by_number.get(int(number))
            if q is None:
                out.append(f"introduction: names Q{number}, but the master has {len(questions)} questions")
            elif not _same(stated, q.points):
                out.append(f"introduction: gives Q{number} ({q.name}) {stated} points, its config {q.points:g}")
    return out


def check_master(path: Path) -> list[str]:
    """``problems`` for a master notebook on disk."""
    return problems(json.loads(Path(path).read_text()))
