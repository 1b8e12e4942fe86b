"""The typed result of grading one submission: the one shape its gradebook row, its JSON
file and its feedback file all come from."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("graded", "flagged", "error", "timeout", "invalid")
COLUMNS = ("submission", "status", "total", "max")   # then one per question, then MESSAGE
MESSAGE = "message"


@dataclass
class CaseResult:
    """One test case of a question as the guard ran it."""
    name: str
    hidden: bool
    points: float
    passed: bool
    message: str = ""


@dataclass
class QuestionResult:
    name: str
    score: float
    possible: float
    summary: str = ""
    cases: list[CaseResult] = field(default_factory=list)
    graded_at: str = ""          # "check cell" or "end of notebook"
    violations: list[str] = field(default_factory=list)  # seen while its tests ran: it scores 0

    @classmethod
    def from_dict(cls, d: dict) -> "QuestionResult":
        cases = [CaseResult(**{k: c.get(k) for k in ("name", "hidden", "points", "passed", "message")})
                 for c in d.get("cases") or [] if isinstance(c, dict)]
        return cls(name=str(d.get("name")), score=float(d.get("score") or 0.0),
                   possible=float(d.get("possible") or 0.0), summary=str(d.get("summary") or ""),
                   cases=cases, graded_at=str(d.get("graded_at") or ""),
                   violations=[str(v) for v in d.get("violations") or [] if isinstance(v, str)])


@dataclass
class Result:
    submission: str
    status: str
    total: float
    max: float
    message: str
    scores: dict[str, float] = field(default_factory=dict)
    questions: list[QuestionResult] = field(default_factory=list)  # the guard's report
    violations: list[dict] = field(default_factory=list)
    channel_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runner: dict[str, Any] = field(default_factory=dict)
    timed_out: bool = False
    seconds: float = 0.0
    kernel_pid: int | None = None
    log_tail: str = ""
    # provenance, for resuming a run
    sha256: str = ""
    autograder: str = ""
    path: str = ""
    otter_summary: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @classmethod
    def invalid(cls, submission: str, max_points: float, why: str) -> "Result":
        return cls(submission=submission, status="invalid", total=0.0, max=max_points, message=why)

    @classmethod
    def tool_error(cls, submission: str, max_points: float, why: str) -> "Result":
        return cls(submission=submission, status="error", total=0.0, max=max_points, message=why)

    def to_json(self) -> dict:
        d = asdict(self)
        d["report"] = {"questions": d.pop("questions")} if self.questions else None
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Result | None":
        """A stored result, or None when the file is not one of ours."""
        try:
            d = dict(d)
            report = d.pop("report", None) or {}
            qs = [QuestionResult.from_dict(q) for q in report.get("questions") or []]
            known = {f for f in cls.__dataclass_fields__} - {"questions"}
            r = cls(**{k: v for k, v in d.items() if k in known}, questions=qs)
            r.scores = {str(k): float(v) for k, v in (r.scores or {}).items()}
            r.total, r.max = float(r.total), float(r.max)
            return r
        except (TypeError, ValueError, AttributeError):
            return None

    def row(self, questions: list[str]) -> list[str]:
        """The gradebook row: COLUMNS, one score per question (blank when ungraded), message."""
        one_line = " ".join(str(self.message).split())
        return ([self.submission, self.status, number(self.total), number(self.max)]
                + [number(self.scores[q]) if q in self.scores else "" for q in questions] + [one_line])


def number(x) -> str:
    """A score for the CSV: 5 decimals like otter's results, no trailing zeros."""
    r = round(float(x), 5)
    return str(int(r)) if r == int(r) else repr(r)


def header(questions: list[str]) -> list[str]:
    return [*COLUMNS, *questions, MESSAGE]
