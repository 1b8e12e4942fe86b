"""`make bench` keeps working: every section runs end to end with tiny sizes."""
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from course_tools.bench import measure, report

REPO = Path(__file__).resolve().parent.parent


def test_median_time_takes_the_median():
    import time as _time
    sleeps = [0.05, 0.01, 0.03, 0.02]
    it = iter(sleeps)
    t = measure.median_time(lambda: _time.sleep(next(it)), repeat=3, warmup=1)
    assert 0.019 < t < 0.03 + 0.01  # median of (0.01, 0.03, 0.02) is 0.02


def test_table_renders_every_column():
    text = report.table([{"a": 1.23456, "b": "x"}, {"a": 2.0, "c": 5}])
    lines = text.strip().splitlines()
    assert lines[0] == "| a | b | c |"
    assert len(lines) == 4 and "1.23" in lines[2] and "| 5 |" in lines[3]


def test_notes_and_targets_are_written_from_the_results():
    results = {"machine": {"cores": "2"},
               "training": [{"device": "cpu", "runs": 6, "epochs": 1, "comparison (s)": 123.0}],
               "autograd": [{"activation": "mish", "dtype": "float32", "n": 10, "custom/built-in time": 4.56}]}
    text = report.report(results, smoke=True)
    assert "took 123 s" in text and "4.56 times" in text
    assert "| Assignment 3 comparison on CPU (s) | 123 | <= 120 | NO |" in text
    results["training"][0]["comparison (s)"] = 7.0
    assert "took 7 s" in report.report(results, smoke=True)


@pytest.mark.slow
def test_bench_smoke_runs_end_to_end(tmp_path):
    out = tmp_path / "results.md"
    book = (REPO / "_build" / ".jupyter_cache").exists()   # the smoke run reads its chapter times
    only = [] if book else ["--only", "activations", "training", "grading"]
    proc = subprocess.run([sys.executable, "-m", "course_tools", "bench", "--smoke", "--out", str(out), *only],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for heading in ("## Machine", "## 1. Grading", "## 2. Training", "## 4. Activations", "## 4b. Activations",
                    *(["## 3b. Chapter"] if book else [])):
        assert heading in text, f"missing section {heading}"
    data = json.loads(out.with_suffix(".json").read_text())
    # Every grading run graded the correct submission: a ratio exists and times are positive.
    g = data["grading"][0]
    assert g["grade one (s)"] > 0 and g["speedup"] > 0
    # the anchor is measured in the same run, side by side
    assert g["otter run -a (s)"] > 0
    pairs = g["pairs"]["wall"]
    ratios = [t / o for t, o in zip(pairs["tool"], pairs["otter"])]
    assert g["tool / otter run"] == pytest.approx(statistics.median(ratios)) and len(ratios) == g["rounds"]
    # the sandbox's cost is measured against the same tool without it, in the same rounds
    assert len(pairs["unsandboxed"]) == g["rounds"] and "sandbox cost (s)" in g
    assert {r["activation"] for r in data["activations"]} == {"sigmoid", "swish", "mish"}
    # The comparison trains the activations of Assignment 3's own comparison cell.
    from course_tools.bench.training import comparison
    assert {r["activation"] for r in data["accuracy"]} == set(comparison()["factories"])
    assert "## Notes" in text and f"{g['tool / otter run']:.3g} of `otter run -a`" in text
