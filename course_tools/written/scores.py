"""The written scores: the sheet ``make written`` writes, and its merge into the gradebook.

``written-scores.csv`` has one row per submission (the gradebook's ``submission`` id),
one column per written question headed ``<question> (max <points>)``, and the
columns ``label`` (with ``--anonymise``: the name the question pages use), ``pdf``
and ``note``, which the merge ignores. Points come from the master, never from the
sheet: a column whose stated maximum differs from the master's is refused.

``make grade ... WRITTEN=sheet.csv`` checks the whole sheet before it grades anything
and refuses it, naming each bad row and column, when a score is above its maximum,
below zero or not a number, when a row names an unknown submission, or when a
submission has two rows. A blank score is missing: that submission's written part is
``incomplete`` (its written and total cells stay blank), never zero.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..grading.assignment import Assignment, ToolError
from ..grading.record import COLUMNS, MESSAGE, Result, number
from .master import MasterQuestion, written_questions

SCORES_NAME = "written-scores.csv"
SUBMISSION = "submission"
IGNORED = ("label", "pdf", "note", "notes", "comment", "comments")
_HEADER = re.compile(r"^\s*(?P<name>[^()]+?)\s*(?:\(\s*max\s+(?P<max>[^)]*)\))?\s*$", re.I)
# the merged gradebook: COLUMNS, then these, then every question, then the message
PARTS = ("autograded", "autograded_max", "written", "written_max", "written_status")


class ScoreError(ToolError):
    """The score sheet cannot be merged (every bad row and column is named)."""


def column_name(q: MasterQuestion) -> str:
    return f"{q.name} (max {number(q.points)})"


def write_template(out: Path, entries, questions: list[MasterQuestion], anonymised: bool) -> tuple[Path, bool]:
    """Write the sheet; an existing one (perhaps half filled in) is never overwritten: the
    fresh template then goes beside it. Returns (path written, whether one was kept)."""
    path = out / SCORES_NAME
    kept = path.exists()
    if kept:
        path = out / "written-scores.template.csv"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([SUBMISSION] + (["label"] if anonymised else []) + [column_name(q) for q in questions]
               + ["pdf", "note"])
    for e in sorted(entries, key=lambda e: e.label) if anonymised else entries:
        note = f"invalid: {e.invalid}" if e.invalid else "; ".join(e.notes)
        pdf = f"pdf/{e.pdf.name}" if e.pdf else ""
        w.writerow([e.sub.id] + ([e.label] if anonymised else []) + [""] * len(questions) + [pdf, note])
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, path)
    return path, kept


@dataclass
class WrittenScores:
    questions: list[MasterQuestion]
    scores: dict[str, dict[str, float | None]]   # submission -> question -> score (None: blank)
    path: Path

    @property
    def max(self) -> float:
        return float(sum(q.points for q in self.questions))


def _value(text: str, decimal_comma: bool) -> float:
    t = text.strip()
    if decimal_comma and re.fullmatch(r"[+-]?\d+,\d*", t):
        t = t.replace(",", ".")
    x = float(t)   # ValueError for words
    if not math.isfinite(x):
        raise ValueError(t)
    return x


def read_scores(path: Path, hw: str, submissions: list[str]) -> WrittenScores:
    """The sheet, checked whole against the master and the submissions found."""
    questions = written_questions(hw)
    if not questions:
        raise ScoreError(f"{hw} has no written questions: nothing to merge from {path}")
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ScoreError(f"cannot read the written scores {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ScoreError(f"{path} is not UTF-8 text (save it from the spreadsheet as CSV UTF-8)") from None
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = max((",", ";", "\t"), key=first.count)   # a spreadsheet set to a comma-decimal locale writes ';'
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        raise ScoreError(f"{path} is empty")
    header, by_name = rows[0], {q.name: q for q in questions}
    problems: list[str] = []
    columns: dict[int, MasterQuestion] = {}
    sub_col = None
    for i, cell in enumerate(header):
        m = _HEADER.match(cell or "")
        name = m.group("name") if m else (cell or "").strip()
        if name.lower() == SUBMISSION:
            sub_col = i
        elif name in by_name:
            q = by_name[name]
            if q.name in (c.name for c in columns.values()):
                problems.append(f"header, column {i + 1} {cell!r}: {q.name} has two columns")
            stated = m.group("max") if m else None
            if stated is not None:
                try:
                    ok = abs(float(stated) - q.points) < 1e-9
                except ValueError:
                    ok = False
                if not ok:
                    problems.append(f"header, column {cell!r}: states a maximum of {stated} but the master "
                                    f"gives {q.name} {number(q.points)} points (an old sheet? run make written again)")
            columns[i] = q
        elif name.lower() in IGNORED or not name:
            continue
        else:
            problems.append(f"header, column {cell!r}: not a written question of {hw} "
                            f"(they are {', '.join(q.name for q in questions)})")
    if sub_col is None:
        raise ScoreError(f"{path}: no 'submission' column in the header {header}")
    known, seen = set(submissions), {}
    scores: dict[str, dict[str, float | None]] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        sub = row[sub_col].strip() if sub_col < len(row) else ""
        where = f"row {n} ({sub!r})" if sub else f"row {n}"
        if not sub:
            problems.append(f"{where}, column 'submission': blank")
            continue
        if sub not in known:
            problems.append(f"{where}, column 'submission': unknown submission (not among the "
                            f"{len(known)} submissions found)")
            continue
        if sub in seen:
            problems.append(f"{where}, column 'submission': duplicate row (also row {seen[sub]})")
            continue
        seen[sub] = n
        got: dict[str, float | None] = {}
        for i, q in columns.items():
            cell = row[i].strip() if i < len(row) else ""
            col = f"column {header[i]!r}"
            if not cell:
                got[q.name] = None
                continue
            try:
                x = _value(cell, decimal_comma=delimiter != ",")
            except ValueError:
                problems.append(f"{where}, {col}: {cell!r} is not a number")
                continue
            if x < 0:
                problems.append(f"{where}, {col}: {cell} is below zero")
            elif x > q.points + 1e-9:
                problems.append(f"{where}, {col}: {cell} is above the maximum {number(q.points)}")
            else:
                got[q.name] = x
        scores[sub] = got
    if problems:
        shown = problems[:30] + ([f"... and {len(problems) - 30} more"] if len(problems) > 30 else [])
        raise ScoreError(f"the written scores in {path} are not merged ({len(problems)} problem"
                         f"{'' if len(problems) == 1 else 's'}; no gradebook written):\n  " + "\n  ".join(shown))
    for q in questions:
        for got in scores.values():
            got.setdefault(q.name, None)
    return WrittenScores(questions=questions, scores=scores, path=Path(path))


def merged_header(a: Assignment, ws: WrittenScores) -> list[str]:
    return [*COLUMNS, *PARTS, *a.questions, *(q.name for q in ws.questions), MESSAGE]


def merged_row(rec: Result, a: Assignment, ws: WrittenScores) -> list[str]:
    got = ws.scores.get(rec.submission, {})
    missing = [q.name for q in ws.questions if got.get(q.name) is None]
    written = None if missing else sum(got[q.name] for q in ws.questions)
    if not got:
        status = "incomplete: no row in the written scores"
    elif missing:
        status = f"incomplete: no score for {', '.join(missing)}"
    else:
        status = "complete"
    total = "" if written is None else number(rec.total + written)
    one_line = " ".join(str(rec.message).split())
    return ([rec.submission, rec.status, total, number(a.total_max + ws.max),
             number(rec.total), number(a.total_max),
             "" if written is None else number(written), number(ws.max), status]
            + [number(rec.scores[q]) if q in rec.scores else "" for q in a.questions]
            + [number(got[q.name]) if got.get(q.name) is not None else "" for q in ws.questions]
            + [one_line])


def write_merged(gradebook: Path, records: list[Result], a: Assignment, ws: WrittenScores) -> str:
    """Rewrite the gradebook with the written part (atomically); return a one-line summary."""
    tmp = gradebook.with_name(f".{gradebook.name}.merge{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(merged_header(a, ws))
        w.writerows(merged_row(r, a, ws) for r in records)
    os.replace(tmp, gradebook)
    complete = sum(1 for r in records if all(ws.scores.get(r.submission, {}).get(q.name) is not None
                                             for q in ws.questions))
    return (f"written scores merged from {ws.path}: {complete} of {len(records)} submissions complete "
            f"(total of {number(a.total_max + ws.max)} = {number(a.total_max)} autograded + "
            f"{number(ws.max)} written); incomplete rows keep a blank written part and total")
