"""Issue 19: an assignment is one folder, ``solutions/<hw>/<hw>.ipynb``.

Tools and tests find the assignments with ``course_tools.assign.masters()``. A few
prose tables stay written by hand (each row says what the assignment is about, which
only a person can write): the README's, the student edition's README and the book's
assignments page. These tests fail when one of them misses an assignment, names one
that does not exist, or counts them wrong, so adding ``solutions/hw4/`` without its
rows fails here instead of shipping stale pages.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from course_tools.assign import masters

ROOT = Path(__file__).resolve().parents[1]
HWS = sorted(masters())
NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
# "three assignments", "three autograded assignments", "three Jupyter notebooks", ...
COUNT = re.compile(r"\b(" + "|".join(NUMBERS) + r")\s+(?:(?:autograded|programming)\s+)?"
                   r"(?:assignments|Jupyter notebooks)\b", re.I)

# document -> (the pattern every assignment must match, a pattern that finds the names it lists)
TABLES = {
    "README.md": (r"^\| {hw} \| .* \| `assignments/{hw}/{hw}\.ipynb` \|$",
                  r"^\| (\w+) \| .* \| `assignments/\w+/\w+\.ipynb` \|$"),
    "course_tools/edition/README.md": (r"^\| `assignments/{hw}/` \| ",
                                       r"^\| `assignments/(\w+)/` \| "),
    "book/05-assignments.md": (r"\{{download\}}`Download the Assignment {n} notebook <\.\./assignments/{hw}/{hw}\.ipynb>`",
                               r"<\.\./assignments/(\w+)/\w+\.ipynb>"),
}
COUNTED = ("README.md", "course_tools/edition/README.md", "book/05-assignments.md", "book/intro.md")


def _number(hw: str) -> str:
    """The book calls ``hwN`` "Assignment N"."""
    digits = re.sub(r"\D", "", hw)
    assert digits, f"{hw}: the book names an assignment by its number; give the folder one (hw4)"
    return digits


def test_there_are_assignments_to_check():
    assert HWS and all((ROOT / "solutions" / hw / f"{hw}.ipynb").is_file() for hw in HWS)


@pytest.mark.parametrize("doc", sorted(TABLES))
def test_every_assignment_has_its_row_and_no_row_is_stale(doc):
    text = (ROOT / doc).read_text()
    each, listed = TABLES[doc]
    missing = [hw for hw in HWS
               if not re.search(each.format(hw=hw, n=_number(hw)), text, re.M)]
    assert not missing, f"{doc} has no row (or download link) for {missing}: add one"
    stale = sorted(set(re.findall(listed, text, re.M)) - set(HWS))
    assert not stale, f"{doc} lists {stale}, which have no master in solutions/"


def test_book_table_names_every_assignment():
    text = (ROOT / "book/05-assignments.md").read_text()
    rows = re.findall(r"^\| \*\*Assignment (\d+)\*\* \|", text, re.M)
    sections = re.findall(r"^\*\*Assignment (\d+):", text, re.M)
    assert sorted(rows) == sorted(sections) == sorted(_number(hw) for hw in HWS)


@pytest.mark.parametrize("doc", COUNTED)
def test_the_prose_counts_the_assignments_right(doc):
    text = (ROOT / doc).read_text()
    counts = {m.group(0): NUMBERS[m.group(1).lower()] for m in COUNT.finditer(text)}
    assert counts, f"{doc}: nothing counted (the pattern is stale)"
    wrong = {k: v for k, v in counts.items() if v != len(HWS)}
    assert not wrong, f"{doc} says {sorted(wrong)}, but solutions/ holds {len(HWS)} assignments"


def test_the_checks_can_fail(tmp_path):
    """A fourth master without rows is caught by the same patterns."""
    text = (ROOT / "README.md").read_text()
    each, _ = TABLES["README.md"]
    assert not re.search(each.format(hw="hw4", n="4"), text, re.M)
    assert COUNT.search("three autograded assignments").group(1) == "three"
