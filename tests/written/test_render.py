"""The written-answer renderer and the score sheet, without a browser or a kernel."""
from __future__ import annotations

import json

import nbformat
import pytest

import otter_support
from activation_course import written
from course_tools.assign import masters
from course_tools.written import master
from course_tools.written.scores import ScoreError, read_scores
from written.written_cases import REPO, answer_tag, master_written, written_variant

HWS = sorted(masters())  # every assignment in solutions/
#: Every assignment is out of this many points: its written part plus what its autograder
#: zip's test files give (read by otter's own classes, an independent oracle).
TOTAL = 100


def student(hw):
    return nbformat.read(REPO / "assignments" / hw / f"{hw}.ipynb", as_version=4)


@pytest.mark.parametrize("hw", HWS)
def test_the_written_regions_are_the_masters_written_questions(hw):
    expected = master_written(hw)
    regions = written.written_questions(student(hw))
    assert [r.title for r in regions] == [q["heading"] for q in expected]
    assert not any(r.answered for r in regions), "a blank notebook's placeholders are not answers"
    assert [(q.name, q.points) for q in master.written_questions(hw)] == \
        [(q["name"], q["points"]) for q in expected]
    autograded = sum(otter_support.max_scores(hw).values())
    assert sum(q["points"] for q in expected) + autograded == pytest.approx(TOTAL), \
        f"{hw}: written {sum(q['points'] for q in expected)} + autograded {autograded} is not {TOTAL}"


def test_master_reader_keeps_the_model_answer_out_of_the_prompt():
    for q, ref in zip(master.written_questions("hw2"), master_written("hw2")):
        prompt = "".join(c.source for c in q.prompt)
        model = "".join(c.source for c in q.model)
        assert model.strip() == ref["model"].strip() and model.strip()
        assert "Sample answer" not in prompt and "BEGIN" not in prompt


@pytest.mark.parametrize("hw", ("hw2", "hw3"))
def test_a_variant_renders_its_answers_and_none_of_the_code(hw):
    nb = nbformat.from_dict(written_variant(hw, "t", image=True, script=True))
    regions = written.written_questions(nb)
    page = written.document("t", written.questions_html(regions, "t"), mathjax_inline="/* mathjax */")
    for q in master_written(hw):
        assert answer_tag("t", q["name"]) in page
        assert q["model"].strip()[:60] not in page, "a model answer reached a student's page"
    for code in ("grader.check(", "def mlp_forward", "class SwishFunction", "import numpy"):
        assert code not in page, f"autograded code {code!r} in the written pages"
    assert page.count("class='page'") == len(regions)
    assert "<script>document.title" not in page and "&lt;script&gt;" in page, "raw HTML must be escaped"
    assert "data:image/png;base64," in page, "the pasted image is missing"
    assert "https://" not in page.split("<body>")[0], "nothing may load from the network"


def test_an_unanswered_question_says_so():
    last = master_written("hw2")[-1]["name"]
    regions = written.written_questions(nbformat.from_dict(written_variant("hw2", "u", skip=(last,))))
    assert [r.answered for r in regions] == [True, True, False]
    assert "(no answer written)" in written.question_page(regions[-1])


# ------------------------------------------------------------------ score sheets
SUBS = ["a/hw2.ipynb", "b/hw2 (1).ipynb", "c.zip"]
HEAD = "submission,q5_variance_derivation (max 6),q9_interpret_depth (max 9),q10_interpret_init (max 8),pdf,note\n"


def sheet(tmp_path, body: str, head: str = HEAD):
    p = tmp_path / "scores.csv"
    p.write_text(head + body)
    return p


def test_a_good_sheet_reads_blank_as_missing(tmp_path):
    got = read_scores(sheet(tmp_path, "a/hw2.ipynb,6,4.5,0,,\nb/hw2 (1).ipynb,1,,2,,late\n"), "hw2", SUBS)
    assert got.scores["a/hw2.ipynb"] == {"q5_variance_derivation": 6, "q9_interpret_depth": 4.5,
                                         "q10_interpret_init": 0}
    assert got.scores["b/hw2 (1).ipynb"]["q9_interpret_depth"] is None
    assert "c.zip" not in got.scores and got.max == 23


def test_a_semicolon_sheet_with_decimal_commas(tmp_path):
    head = HEAD.replace(",", ";")
    got = read_scores(sheet(tmp_path, "a/hw2.ipynb;6;4,5;8;;\n", head), "hw2", SUBS)
    assert got.scores["a/hw2.ipynb"]["q9_interpret_depth"] == 4.5


@pytest.mark.parametrize("body, row, column, why", [
    ("a/hw2.ipynb,7,,,,\n", "row 2", "q5_variance_derivation (max 6)", "above the maximum 6"),
    ("a/hw2.ipynb,,-1,,,\n", "row 2", "q9_interpret_depth (max 9)", "below zero"),
    ("a/hw2.ipynb,,,eight,,\n", "row 2", "q10_interpret_init (max 8)", "not a number"),
    ("a/hw2.ipynb,,nan,,,\n", "row 2", "q9_interpret_depth (max 9)", "not a number"),
    ("a/hw2.ipynb,1,,,,\nz/hw2.ipynb,1,,,,\n", "row 3", "submission", "unknown submission"),
    ("a/hw2.ipynb,1,,,,\nc.zip,,,,,\na/hw2.ipynb,2,,,,\n", "row 4", "submission", "duplicate row (also row 2)"),
])
def test_each_bad_sheet_is_refused_naming_row_and_column(tmp_path, body, row, column, why):
    with pytest.raises(ScoreError) as e:
        read_scores(sheet(tmp_path, body), "hw2", SUBS)
    msg = str(e.value)
    assert row in msg and repr(column) in msg and why in msg, msg


def test_a_sheet_whose_maximum_disagrees_with_the_master_is_refused(tmp_path):
    with pytest.raises(ScoreError, match="master gives q9_interpret_depth 9 points"):
        read_scores(sheet(tmp_path, "", HEAD.replace("(max 9)", "(max 10)")), "hw2", SUBS)
    with pytest.raises(ScoreError, match="not a written question"):
        read_scores(sheet(tmp_path, "", HEAD.replace("q9_interpret_depth", "q9")), "hw2", SUBS)


def test_grade_refuses_a_bad_sheet_before_grading_and_writes_no_gradebook(tmp_path, capsys):
    from course_tools import cli

    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "hw2.ipynb").write_text((REPO / "autograder" / "hw2" / "hw2.ipynb").read_text())
    bad = sheet(tmp_path, "hw2.ipynb,6,10,,,\n")
    out = tmp_path / "grades" / "gradebook.csv"
    rc = cli.main(["grade", "hw2", str(subs), "--out", str(out), "--written", str(bad), "--no-progress",
                   "--env-cache", str(tmp_path / "no-env-built")])
    err = capsys.readouterr().err
    assert rc == 2 and "row 2 ('hw2.ipynb'), column 'q9_interpret_depth (max 9)'" in err, err
    assert not out.exists() and not (tmp_path / "no-env-built").exists(), "nothing may be graded or written"


def test_the_edition_ships_mathjax_where_written_answers_are_printed(tmp_path):
    """One compressed copy of the npm MathJax (package.json's version) in the root package and
    in the package beside each assignment with written questions; none beside hw1."""
    import gzip

    from course_tools import release

    dest = tmp_path / "edition"
    files = release.write_edition(dest)
    version = json.loads((REPO / "package.json").read_text())["dependencies"]["mathjax"]
    vendored = (REPO / "book" / "_vendor" / "mathjax" / "es5" / "tex-svg-full.js").read_bytes()
    have = sorted(str(p.parent.relative_to(dest)) for p in dest.rglob("tex-svg-full.js.gz"))
    assert have == ["activation_course/_mathjax", "assignments/hw2/activation_course/_mathjax",
                    "assignments/hw3/activation_course/_mathjax"]
    for folder in have:
        assert gzip.decompress((dest / folder / "tex-svg-full.js.gz").read_bytes()) == vendored
        assert f"MathJax {version}" in (dest / folder / "LICENSE").read_text()
    assert sum(p.stat().st_size for p in files) < 4e6, "the edition should stay small"


def test_without_a_browser_the_export_writes_the_html_and_says_how_to_print(tmp_path):
    path = tmp_path / "hw2 (1).ipynb"
    path.write_text(json.dumps(written_variant("hw2", "nb")))
    done = written.export_written(path, chrome=None)
    assert done.html == tmp_path / "hw2-written.html" and done.pdf is None
    assert not (tmp_path / "hw2-written.pdf").exists()
    said = written.upload_message(done, "hw2 (1)_2026.zip")
    assert "hw2 (1)_2026.zip to the autograder" in said and "Save as PDF" in said and "hw2-written.html" in said
    blank = tmp_path / "hw1.ipynb"
    blank.write_text((REPO / "assignments" / "hw1" / "hw1.ipynb").read_text())
    assert written.export_written(blank, chrome=None) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hw1.ipynb", "hw2 (1).ipynb", "hw2-written.html"]
