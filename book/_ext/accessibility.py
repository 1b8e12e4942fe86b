"""Markup fixes for screen readers where an extension, not the book, writes the HTML.

Each handler replaces one HTML visitor and says which upstream behaviour it works
around. The browser test (tests/book/test_browser.py) runs axe-core on every page, so
a fix that stops working, or a new upstream markup problem, fails the tests.

* Bibliography entries. docutils' HTML5 writer (0.19, used by sphinxcontrib-bibtex's
  ``{bibliography}``) gives every citation ``role="doc-biblioentry"`` inside a
  ``role="list"`` wrapper. DPUB-ARIA 1.1 deprecated that role (w3c/dpub-aria#22,
  axe-core rule ``aria-deprecated-role``; dequelabs/axe-core#2759), and with it the
  list has no list items (``aria-required-children``). pandoc made the same change for
  its bibliographies (jgm/pandoc#8354). Here each entry is a plain ``listitem``.
* Hidden code cells. myst-nb writes ``<summary aria-label="Toggle hidden content">``
  around "Show code cell source"; the label hides the visible words from screen
  readers and speech input (WCAG 2.5.3 Label in Name, axe
  ``label-content-name-mismatch``). The summary is named by its visible text instead.
"""
from __future__ import annotations

from html import escape

from docutils import nodes


def visit_citation(self, node):
    # Same structure as docutils' writer (a list wrapper around consecutive
    # citations, classes kept for the theme's CSS), with list items instead of the
    # deprecated doc-biblioentry role.
    if not isinstance(node.previous_sibling(), type(node)):
        self.body.append('<div role="list" class="citation-list">\n')
    self.body.append(self.starttag(node, "div", classes=[node.tagname], role="listitem"))


def depart_citation(self, node):
    self.body.append("</div>\n")
    if not isinstance(node.next_node(descend=False, siblings=True), type(node)):
        self.body.append("</div>\n")


def visit_hide_cell_input(self, node):
    classes = " ".join(node["classes"])
    self.body.append(f'<details class="admonition hide {classes}">\n')
    self.body.append("<summary>\n")  # named by the visible prompt, no aria-label
    self.body.append(f'<p class="collapsed admonition-title">{escape(node["prompt_show"])}</p>\n')
    self.body.append(f'<p class="expanded admonition-title">{escape(node["prompt_hide"])}</p>\n')
    self.body.append("</summary>\n")


def depart_hide_cell_input(self, node):
    self.body.append("</details>\n")


def setup(app):
    from myst_nb.sphinx_ import HideCodeCellNode

    app.add_node(nodes.citation, override=True, html=(visit_citation, depart_citation))
    app.add_node(HideCodeCellNode, override=True,
                 html=(visit_hide_cell_input, depart_hide_cell_input))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
