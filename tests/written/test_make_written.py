"""``make written`` and ``make grade WRITTEN=``, end to end, on hw2's and hw3's solutions and
written variants (tests/written/written_cases.py).

PDFs are read back with poppler's pdftotext page by page: every written answer's text
is in its submission's PDF and none of the autograded code is; each question starts a
page; no TeX source is left (MathJax typeset every formula). The question pages hold
every readable submission; the merge puts the filled scores into the gradebook.
"""
from __future__ import annotations

import csv
import html
import json
import shutil
import subprocess
import sys
import time

import pytest

from course_tools.processes import subprocess_env
from written.written_cases import REPO, answer_tag, class_folder, heading_start, master_written

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
CHROMIUM = shutil.which("chromium") or shutil.which("google-chrome")
needs_browser = pytest.mark.skipif(not (CHROMIUM and shutil.which("pdftotext")),
                                   reason="needs Chromium and poppler-utils (Debian: chromium poppler-utils)")
AUTOGRADED_CODE = {"hw2": ("def mlp_forward", "def mlp_backward", "grader.check(", "rng.normal("),
                   "hw3": ("class SwishFunction", "def forward(ctx", "grader.check(", "torch.sigmoid(")}
TIMINGS: dict[str, float] = {}


def run(command: str, *args, timeout=1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_tools", command, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=subprocess_env(bin_dir=REPO / ".venv" / "bin"))


def pages(pdf) -> list[str]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    n = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    return [subprocess.run(["pdftotext", "-f", str(i), "-l", str(i), str(pdf), "-"], capture_output=True,
                           text=True, check=True).stdout for i in range(1, n + 1)]


@pytest.fixture(scope="module", params=["hw2", "hw3"])
def made(request, tmp_path_factory):
    hw = request.param
    root = tmp_path_factory.mktemp(f"written-{hw}")
    cases = class_folder(hw, root / "subs")
    start = time.monotonic()
    proc = run("written", hw, root / "subs", "--out", root / "out")
    TIMINGS[hw] = (time.monotonic() - start) / len(cases)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    anon = run("written", hw, root / "subs", "--out", root / "anon", "--anonymise", "--no-pdf")
    assert anon.returncode == 0, anon.stdout + anon.stderr
    return hw, root, cases, proc


def rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@needs_browser
def test_every_submission_gets_a_row_and_readable_ones_a_pdf(made):
    hw, root, cases, proc = made
    sheet = rows(root / "out" / "written-scores.csv")
    assert [r["submission"] for r in sheet] == sorted(cases), "one row per submission, none lost"
    header = list(sheet[0])
    assert header[1:-2] == [f"{q['name']} (max {q['points']:g})" for q in master_written(hw)]
    for r in sheet:
        invalid = cases[r["submission"]]["kind"] == "invalid"
        assert r["note"].startswith("invalid:") == invalid, r
        assert bool(r["pdf"]) != invalid and (not r["pdf"] or (root / "out" / r["pdf"]).is_file()), r
        assert all(r[c] == "" for c in header[1:-2]), "the template holds no scores"
    dan = next(r for r in sheet if r["submission"].startswith("dan/"))
    assert f"{master_written(hw)[-1]['name']}: not answered" in dan["note"]
    assert "eve/broken.zip: invalid" in proc.stderr


@needs_browser
def test_each_pdf_holds_its_answers_on_a_page_per_question_and_no_code(made):
    hw, root, cases, _ = made
    questions = master_written(hw)
    pdfs = {r["submission"]: root / "out" / r["pdf"] for r in rows(root / "out" / "written-scores.csv") if r["pdf"]}
    assert len(pdfs) == sum(c["kind"] != "invalid" for c in cases.values())
    for sid, pdf in pdfs.items():
        text = pages(pdf)
        whole = "\n".join(text)
        # a page's text after its running header (line 1) begins with the question's heading
        tops = [" ".join(" ".join(t.split("\n")[1:]).split()) for t in text]
        starts = [next((i for i, top in enumerate(tops) if top.startswith(heading_start(q["heading"])[:30])), None)
                  for q in questions]
        assert None not in starts and starts == sorted(starts) and len(set(starts)) == len(questions), \
            f"{sid}: each question must start its own page, in order (pages {starts})"
        case = cases[sid]
        for q in questions:
            if case["kind"] == "solution":
                assert "Sample answer" in whole
            elif q["name"] in case["skip"]:
                assert answer_tag(case["variant"], q["name"]) not in whole
            else:
                tag = answer_tag(case["variant"], q["name"])
                assert tag in whole, f"{sid}: {tag} missing from the PDF"
        for code in AUTOGRADED_CODE[hw]:
            assert code not in whole, f"{sid}: autograded code {code!r} in the written PDF"
        for tex in ("\\frac", "\\sigma", "\\mathbb", "\\le", "$"):
            assert tex not in whole, f"{sid}: TeX source {tex!r} left in the PDF: MathJax did not typeset it"
        if case.get("image"):
            images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True).stdout
            assert len(images.strip().splitlines()) > 2, f"{sid}: the pasted image is not in the PDF"
            assert "<script>document.title = 'PWNED'</script>" in whole, "raw HTML is shown as text"
            info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
            assert "PWNED" not in info, "a submission's script ran while the page was printed"


@needs_browser
def test_question_pages_hold_every_submission_and_the_model_answer(made):
    hw, root, cases, _ = made
    readable = [sid for sid, c in cases.items() if c["kind"] != "invalid"]
    for q in master_written(hw):
        page = (root / "out" / "questions" / f"{q['name']}.html").read_text()
        for sid in readable:
            assert f"<p class='label'>{sid}</p>" in page, f"{q['name']}: {sid} missing"
            case = cases[sid]
            if case["kind"] == "variant" and q["name"] not in case["skip"]:
                assert answer_tag(case["variant"], q["name"]) in page
        first_model_line = q["model"].strip().splitlines()[-1].strip()
        assert first_model_line[:40] in html.unescape(page), "the model answer belongs on the instructor's question page"
        for sid, c in cases.items():
            if c["kind"] == "invalid":
                assert sid in page.split("Not shown")[1], f"{sid}: the unreadable submission must be listed"
        anon = (root / "anon" / "questions" / f"{q['name']}.html").read_text()
        for sid in cases:
            assert sid.split("/")[0] + "/" not in anon, f"--anonymise leaks {sid}"
        anon_rows = rows(root / "anon" / "written-scores.csv")
        assert {r["label"] for r in anon_rows} == {f"S{i:03d}" for i in range(1, len(cases) + 1)}
        for r in anon_rows:
            if cases[r["submission"]]["kind"] == "invalid":
                assert f"<li>{r['label']}: " in anon.split("Not shown")[1]
            else:
                assert f"<p class='label'>{r['label']}</p>" in anon, r


@needs_browser
def test_make_written_keeps_a_filled_sheet(made):
    hw, root, cases, _ = made
    sheet = root / "out" / "written-scores.csv"
    filled = sheet.read_text().replace(",,", ",1,", 1)
    sheet.write_text(filled)
    proc = run("written", hw, root / "subs", "--out", root / "out", "--no-pdf")
    assert proc.returncode == 0 and sheet.read_text() == filled, proc.stderr
    assert (root / "out" / "written-scores.template.csv").is_file() and "was kept" in proc.stderr


@needs_browser
def test_merge_into_the_gradebook(made):
    """make grade with the filled sheet: the solution scores full autograded marks (77 or 85,
    read from the zip's tests independently below), so its total is 100 - the points withheld."""
    from otter_support import max_scores

    hw, root, cases, _ = made
    questions = master_written(hw)
    names = [q["name"] for q in questions]
    autograded_max = sum(max_scores(hw).values())
    sheet = rows(root / "out" / "written-scores.csv")
    given = {}
    with open(root / "filled.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(sheet[0]))
        w.writeheader()
        for r in sheet:
            sid = r["submission"]
            if sid.startswith(("solution/", "ann/", "ben/")):  # complete rows (ben is not graded below)
                given[sid] = [q["points"] - 1 for q in questions]
            elif sid.startswith("dan/"):               # one score missing
                given[sid] = [1.0] * (len(questions) - 1) + [None]
            else:
                continue  # no row at all
            for col, x in zip(list(sheet[0])[1:], given[sid]):
                r[col] = "" if x is None else f"{x:g}"
            w.writerow(r)
    grading = ("solution", "ann", "dan", "eve", "fay")
    subs = root / "grade-subs"
    for sid in cases:
        if sid.split("/")[0] in grading:
            (subs / sid).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / "subs" / sid, subs / sid)
    out = root / "grades" / "gradebook.csv"
    proc = run("grade", hw, subs, "--out", out, "--written", root / "filled.csv",
               "--no-progress", "--jobs", "2")
    assert proc.returncode == 2 and "unknown submission" in proc.stderr and "ben/" in proc.stderr, \
        "a sheet row for a submission that is not graded must be refused"
    assert not out.exists()
    keep = [r for r in rows(root / "filled.csv") if r["submission"].split("/")[0] in grading]
    with open(root / "filled.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(sheet[0]))
        w.writeheader()
        w.writerows(keep)
    proc = run("grade", hw, subs, "--out", out, "--written", root / "filled.csv",
               "--no-progress", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    book = {r["submission"]: r for r in rows(out)}
    assert set(book) == {sid for sid in cases if sid.split("/")[0] in grading}
    given.pop(next(s for s in given if s.startswith("ben/")))
    written_max = sum(q["points"] for q in questions)
    assert written_max + autograded_max == 100
    for sid, r in book.items():
        assert float(r["max"]) == 100 and float(r["autograded_max"]) == autograded_max
        assert float(r["written_max"]) == written_max
        for name in names:
            assert name in r
        if sid in given and None not in given[sid]:
            assert r["written_status"] == "complete"
            assert float(r["written"]) == sum(given[sid])
            assert float(r["total"]) == pytest.approx(float(r["autograded"]) + sum(given[sid]))
            assert [float(r[n]) for n in names] == given[sid]
        else:
            assert r["written_status"].startswith("incomplete"), r
            assert r["written"] == "" and r["total"] == "", "a missing score is never a zero"
    assert float(book[f"solution/{hw}.ipynb"]["autograded"]) == autograded_max
    assert float(book[f"solution/{hw}.ipynb"]["total"]) == 100 - len(questions)
    dan = book[next(s for s in book if s.startswith("dan/"))]
    assert dan["written_status"] == f"incomplete: no score for {names[-1]}"
    # a bad score, after a good merge: refused, and the merged gradebook is left as it was
    before = out.read_bytes()
    bad_rows = rows(root / "filled.csv")
    bad_rows[0][list(sheet[0])[1]] = f"{questions[0]['points'] + 1:g}"
    with open(root / "bad.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(sheet[0]))
        w.writeheader()
        w.writerows(bad_rows)
    proc = run("grade", hw, subs, "--out", out, "--written", root / "bad.csv", "--no-progress")
    assert proc.returncode == 2 and "above the maximum" in proc.stderr and "row 2" in proc.stderr, proc.stderr
    assert out.read_bytes() == before


def test_report_timings():
    if TIMINGS:
        print("make written, seconds per submission:", json.dumps({k: round(v, 2) for k, v in TIMINGS.items()}))
