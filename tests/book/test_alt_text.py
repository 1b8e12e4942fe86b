"""Every figure carries its alt text where it is made (no browser, no build needed).

* Chapters: each code cell that makes a figure (``mystnb: figure:``) also gives
  ``mystnb: image: alt:``, which myst-nb writes into the ``<img alt>``; the alt text
  describes the image and is not the caption again.
* Assignments: each master cell that draws a figure has an ``alt`` cell metadata
  entry (nbconvert's HTML export reads it, jupyter/nbconvert#1112; JupyterLab does
  not yet, jupyter/enhancement-proposals#120), and the generated student notebook
  keeps it. No master embeds an image (markdown images or attachments) without one.

The browser test checks the built pages' ``<img alt>`` themselves.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from a11y_support import alt_text_problem

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((REPO / "book").glob("[0-9][0-9]-*.md"))
MASTERS = sorted((REPO / "solutions").glob("hw*/hw*.ipynb"))
_CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n---\n(.*?)\n---\n(.*?)^```", re.S | re.M)
# A code cell draws a figure when it shows one or calls a course plotting helper.
_DRAWS = re.compile(r"plt\.show\(\)|\bcompare_to_reference\(|\bplot_comparison\(|\.plot\(")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)[^)]*\)|<img\b[^>]*>", re.I)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def figure_cells(md_text: str) -> list[dict]:
    cells = []
    for m in _CODE_CELL.finditer(md_text):
        meta = yaml.safe_load(m.group(1)) or {}
        nb = meta.get("mystnb") or {}
        if "figure" in nb:
            cells.append({"name": nb["figure"].get("name"), "caption": nb["figure"].get("caption", ""),
                          "alt": (nb.get("image") or {}).get("alt")})
    return cells


def alt_vs_caption_problem(alt: str | None, caption: str) -> str | None:
    problem = alt_text_problem(alt, "")
    if problem:
        return problem
    a, c = _words(alt), _words(caption)
    if a == c or (len(a) >= 8 and " ".join(a[:8]) in " ".join(c)):
        return "repeats the caption"
    if len(a) < 5:
        return "too short to describe a figure"
    return None


def test_the_chapter_rules_can_fail():
    md = ('```{code-cell} ipython3\n---\nmystnb:\n  figure:\n    caption: |\n      The sigmoid and '
          'its derivative from autograd, dashed.\n    name: fig-a\n---\nplt.show()\n```\n'
          '```{code-cell} ipython3\n---\nmystnb:\n  image:\n    alt: "The sigmoid and its derivative '
          'from autograd, dashed."\n  figure:\n    caption: |\n      The sigmoid and its derivative '
          'from autograd, dashed.\n    name: fig-b\n---\nplt.show()\n```\n')
    cells = figure_cells(md)
    assert [c["name"] for c in cells] == ["fig-a", "fig-b"]
    assert alt_vs_caption_problem(cells[0]["alt"], cells[0]["caption"]) == "no alt attribute"
    assert alt_vs_caption_problem(cells[1]["alt"], cells[1]["caption"]) == "repeats the caption"
    assert alt_vs_caption_problem("Line chart of the loss falling over ten epochs", "x") is None


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_figure_has_an_alt_text(chapter):
    cells = figure_cells(chapter.read_text())
    problems = [f"{c['name']}: {p}" for c in cells
                if (p := alt_vs_caption_problem(c["alt"], c["caption"]))]
    assert not problems, (f"{chapter.name}: figure cells need `mystnb: image: alt:` describing "
                          f"what the figure shows:\n" + "\n".join(problems))


def test_the_chapters_have_figures():
    assert sum(len(figure_cells(ch.read_text())) for ch in CHAPTERS) >= 15


def _figure_cell_alts(nb: dict) -> list[tuple[int, str | None]]:
    return [(i, cell.get("metadata", {}).get("alt")) for i, cell in enumerate(nb["cells"])
            if cell["cell_type"] == "code" and _DRAWS.search("".join(cell["source"]))]


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.parent.name)
def test_assignment_figures_have_alt_text(master):
    nb = json.loads(master.read_text())
    figures = _figure_cell_alts(nb)
    assert figures, f"{master.name}: no figure-drawing cell found; is the pattern out of date?"
    problems = [f"cell {i}: {p}" for i, alt in figures if (p := alt_text_problem(alt, ""))]
    for i, cell in enumerate(nb["cells"]):
        text = "".join(cell["source"])
        for m in _MD_IMAGE.finditer(text) if cell["cell_type"] == "markdown" else ():
            alt = m.group(1) if m.group(0).startswith("!") else \
                (re.search(r'alt="([^"]*)"', m.group(0)) or [None, None])[1]
            if p := alt_text_problem(alt, m.group(2) or ""):
                problems.append(f"cell {i}: image {m.group(0)[:60]!r}: {p}")
        if cell.get("attachments"):
            problems.append(f"cell {i}: embedded attachment {list(cell['attachments'])}")
    assert not problems, f"{master}: figures without a description:\n" + "\n".join(problems)
    student = REPO / "assignments" / master.parent.name / master.name
    student_alts = [alt for _, alt in _figure_cell_alts(json.loads(student.read_text()))]
    assert student_alts == [alt for _, alt in figures], \
        f"{student} does not carry the master's alt texts: run `make assign`"
