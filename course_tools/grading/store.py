"""The store: results on disk. One JSON and one feedback file per submission (written
atomically the moment it is graded), the gradebook CSV rebuilt after each, resuming from
what an earlier run left, and the class summary (text and a histogram PNG) at the end."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import statistics
import threading
from pathlib import Path

from .assignment import Assignment
from .record import STATUSES, Result, header, number


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(2**20), b""):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_json(path: Path, limit: int = 64 * 2**20) -> dict:
    try:
        if path.stat().st_size > limit:
            return {}
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class Store:
    def __init__(self, gradebook: Path, a: Assignment):
        self.gradebook = gradebook
        self.results_dir = gradebook.parent / "results"
        self.a = a
        self._lock = threading.Lock()

    def json_path(self, slug: str) -> Path:
        return self.results_dir / f"{slug}.json"

    def feedback_path(self, slug: str) -> Path:
        return self.results_dir / f"{slug}.feedback.txt"

    def previous(self, sub, digest: str) -> Result | None:
        """The stored result of this very file (same contents, same autograder), if any."""
        return self.previous_result(self.results_dir, sub, digest, self.a.zip_path.name)

    @staticmethod
    def previous_result(results_dir: Path, sub, digest: str, autograder: str) -> Result | None:
        """``previous`` before the assignment's tests are read: the stored result in
        ``results_dir`` of this very file, graded against the zip named ``autograder``."""
        old = read_json(results_dir / f"{sub.slug}.json")
        if (old.get("submission") == sub.id and old.get("sha256") == digest
                and old.get("status") in STATUSES and old.get("autograder") == autograder):
            return Result.from_json(old)
        return None

    def save(self, sub, rec: Result) -> None:
        write_atomic(self.json_path(sub.slug), json.dumps(rec.to_json(), indent=1, default=str))
        write_atomic(self.feedback_path(sub.slug), feedback(rec, self.a))

    def write_gradebook(self, records: list[Result]) -> None:
        with self._lock:
            self.gradebook.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.gradebook.with_name(self.gradebook.name + f".tmp{os.getpid()}")
            with open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(header(self.a.questions))
                w.writerows(r.row(self.a.questions) for r in records)
            os.replace(tmp, self.gradebook)


# ----------------------------------------------------------------------- feedback
def feedback(rec: Result, a: Assignment) -> str:
    """What a student may read: points per question, the public tests' messages, the
    names of failed hidden tests -- never a hidden test's code or output."""
    lines = [f"{a.name}: {rec.submission}", f"status: {rec.status}",
             f"total: {number(rec.total)} / {number(rec.max)}", ""]
    if rec.status not in ("graded", "flagged"):
        lines += [rec.message, ""]
    by_name = {q.name: q for q in rec.questions}
    for qn in a.questions:
        q = by_name.get(qn)
        got = rec.scores.get(qn)
        lines.append(f"{qn}: {number(got) if got is not None else '-'} / {number(a.max_points[qn])}"
                     + (f"  (graded at {'its check cell' if q.graded_at == 'check cell' else 'the end of the notebook'})" if q and q.graded_at else ""))
        if q is None:
            continue
        for c in q.cases:
            mark = "passed" if c.passed else "FAILED"
            if c.hidden:
                if not c.passed:
                    lines.append(f"  hidden test {c.name}: failed")
                continue
            lines.append(f"  public test {c.name}: {mark}")
            if not c.passed and c.message:
                lines += ["    " + ln for ln in c.message.strip().splitlines()[:30]]
    if rec.status == "flagged":
        lines += ["", "Your submission changed how the grader works; those changes were undone and "
                      "the score above is what your own code earned. Your instructor will review it:",
                  "  " + rec.message]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------- class view
def summarize(records: list[Result], a: Assignment) -> str:
    counts = {s: sum(r.status == s for r in records) for s in STATUSES}
    scored = [r.total for r in records if r.status in ("graded", "flagged")]
    parts = [f"{a.name}: {len(records)} submission{'' if len(records) == 1 else 's'}: "
             + ", ".join(f"{counts[s]} {s if s != 'error' else 'errors'}" for s in STATUSES)]
    if scored:
        parts.append(f"score (graded and flagged rows) mean {statistics.mean(scored):.2f}, "
                     f"median {statistics.median(scored):g} of {a.total_max:g}")
    return "; ".join(parts)


def question_summary(records: list[Result], a: Assignment) -> list[dict]:
    """Per question over graded and flagged rows: mean points and share of full marks."""
    scored = [r for r in records if r.status in ("graded", "flagged")]
    rows = []
    for q in a.questions:
        pts = [r.scores.get(q, 0.0) for r in scored]
        full = sum(p >= a.max_points[q] - 1e-9 for p in pts)
        rows.append({"question": q, "max": a.max_points[q], "n": len(pts),
                     "mean": statistics.mean(pts) if pts else 0.0,
                     "full_marks": full / len(pts) if pts else 0.0})
    return rows


def class_report(records: list[Result], a: Assignment, out_dir: Path) -> str:
    """Print-ready per-question table; saved as summary.md and summary.csv with a
    histogram of totals (histogram.png) in ``out_dir``."""
    rows = question_summary(records, a)
    text = ["| question | max | mean | full marks |", "| --- | --- | --- | --- |"]
    text += [f"| {r['question']} | {number(r['max'])} | {r['mean']:.2f} | {100 * r['full_marks']:.0f}% |"
             for r in rows]
    table = "\n".join(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "summary.md", f"# {a.name}: class summary\n\n{summarize(records, a)}\n\n{table}\n")
    with open(out_dir / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "max", "n", "mean", "full_marks_share"])
        w.writerows([r["question"], number(r["max"]), r["n"], f"{r['mean']:.4f}", f"{r['full_marks']:.4f}"]
                    for r in rows)
    histogram([r.total for r in records if r.status in ("graded", "flagged")], a,
              out_dir / "histogram.png")
    return table


def histogram(totals: list[float], a: Assignment, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(totals, bins=min(20, max(5, len(set(totals)))), range=(0, a.total_max),
            color="#4477aa", edgecolor="white")
    ax.set_xlabel(f"total score (of {a.total_max:g})")
    ax.set_ylabel("submissions")
    ax.set_title(f"{a.name}: totals of {len(totals)} graded submissions")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
