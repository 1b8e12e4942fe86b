"""Results on disk (``record``, ``store``): the typed record's row and JSON, feedback that
never shows a hidden test's code, resuming, and the class summary."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from course_tools.grading.assignment import Assignment
from course_tools.grading.intake import Submission
from course_tools.grading.record import CaseResult, QuestionResult, Result
from course_tools.grading.store import Store, class_report, feedback, file_hash

A = Assignment(name="fixhw", zip_path=Path("fixhw-autograder.zip"), extract_dir=Path("."),
               questions=["q1", "q2"], max_points={"q1": 2.0, "q2": 3.0}, environment_yml="")
HIDDEN_CODE = ">>> secret_oracle(relu)"


def result(sub="s.ipynb", q1=2.0, q2=1.5):
    qs = [QuestionResult("q1", q1, 2.0, graded_at="check cell",
                         cases=[CaseResult("q1 - 1", False, 1.0, True, "")]),
          QuestionResult("q2", q2, 3.0, graded_at="end of notebook",
                         cases=[CaseResult("q2 - 1", False, 1.0, False, "expected [0. 1.]; got [1. 1.]"),
                                CaseResult("q2 - 2", True, 2.0, False, HIDDEN_CODE + "\nTraceback...")])]
    return Result(submission=sub, status="graded", total=q1 + q2, max=5.0, message="m",
                  scores={"q1": q1, "q2": q2}, questions=qs)


def test_row_and_json_round_trip():
    r = result()
    assert r.row(A.questions) == ["s.ipynb", "graded", "3.5", "5", "2", "1.5", "m"]
    back = Result.from_json(json.loads(json.dumps(r.to_json())))
    assert back == r
    assert Result.from_json({"nonsense": 1}) is None


def test_feedback_shows_public_messages_and_hidden_names_only():
    text = feedback(result(), A)
    assert "q1: 2 / 2" in text and "q2: 1.5 / 3" in text
    assert "expected [0. 1.]; got [1. 1.]" in text          # the public test's message
    assert "hidden test q2 - 2: failed" in text              # a hidden test: its name only
    assert HIDDEN_CODE not in text and "secret_oracle" not in text and "Traceback" not in text


def test_store_resumes_only_the_same_file(tmp_path):
    f = tmp_path / "s.ipynb"
    f.write_text("{}")
    sub = Submission("s.ipynb", f)
    store = Store(tmp_path / "out" / "gradebook.csv", A)
    r = result()
    r.sha256, r.autograder = file_hash(f), A.zip_path.name
    store.save(sub, r)
    assert store.previous(sub, file_hash(f)) == r
    assert store.feedback_path(sub.slug).read_text().startswith("fixhw: s.ipynb")
    f.write_text("{ }")
    assert store.previous(sub, file_hash(f)) is None
    store.write_gradebook([r])
    rows = list(csv.reader(open(store.gradebook)))
    assert rows[0] == ["submission", "status", "total", "max", "q1", "q2", "message"] and len(rows) == 2
    assert not list(store.results_dir.glob("*.tmp*"))     # atomic writes leave nothing behind


def test_class_report(tmp_path):
    recs = [result("a", 2, 3), result("b", 2, 0), result("c", 0, 3),
            Result.invalid("d", 5.0, "empty file")]
    table = class_report(recs, A, tmp_path)
    assert "| q1 | 2 | 1.33 | 67% |" in table and "| q2 | 3 | 2.00 | 67% |" in table
    assert (tmp_path / "histogram.png").read_bytes()[:4] == b"\x89PNG"
    assert "4 submissions: 3 graded, 0 flagged, 0 errors, 0 timeout, 1 invalid" in (tmp_path / "summary.md").read_text()
    rows = list(csv.DictReader(open(tmp_path / "summary.csv")))
    assert rows[0]["question"] == "q1" and rows[0]["n"] == "3"
    assert abs(float(rows[0]["full_marks_share"]) - 2 / 3) < 1e-3
