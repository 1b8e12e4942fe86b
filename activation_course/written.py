"""Written answers: a notebook's hand-graded questions as printable pages.

``otter assign`` wraps every manually graded question of the student notebook in
``<!-- BEGIN QUESTION -->`` ... ``<!-- END QUESTION -->`` comments.
:func:`written_questions` selects those cells with otter's own filter (the one its
PDF export uses, ``BaseExporter.filter_cells``) and splits them into questions: the
locked prompt, then the student's cells. :func:`document` lays them out one
question per printed page (prompt, answer, any figure the answer's cells show),
with formulas typeset by a MathJax copy that travels with this package: nothing is
fetched from the network. :func:`print_pdf` prints such a page with a headless
Chromium or Chrome when one is installed (no LaTeX, no download).

This is the one renderer of written answers: ``grader.export()`` in the student
edition (:func:`export_written`, called by :class:`activation_course.notebook.Notebook`)
and the instructor's ``make written`` both use it.

What a submission wrote is shown, never run: raw HTML in its Markdown is escaped,
rich outputs are reduced to images and text, and each page allows only its own
MathJax script (a Content-Security-Policy with a per-page nonce).
"""
from __future__ import annotations

import base64
import copy
import gzip
import html
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Written", "written_questions", "document", "questions_html", "find_chrome", "print_pdf",
           "export_written", "mathjax_script", "PLACEHOLDER"]

PLACEHOLDER = "_Type your answer here, replacing this text._"  # what otter assign puts in answer cells
MATHJAX_FILE = "tex-svg-full.js"   # one self-contained file: every TeX extension, SVG glyphs, no fonts to load
# the compressed copy `make release` puts into the edition's package, and the copy `make
# install` vendors from npm into the instructors' checkout (package.json holds the version)
PACKAGE_MATHJAX = Path(__file__).resolve().parent / "_mathjax" / f"{MATHJAX_FILE}.gz"
CHECKOUT_MATHJAX = Path(__file__).resolve().parents[1] / "book" / "_vendor" / "mathjax" / "es5" / MATHJAX_FILE
_MARKER = re.compile(r"^\s*<!--\s*(BEGIN QUESTION|END QUESTION|#newpage|NEW PAGE)\s*-->\s*$", re.I | re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Written:
    """One written question of a notebook: its prompt cells and the student's cells."""
    number: int                       # 1, 2, ... in the notebook's order
    title: str                        # the prompt's first heading, e.g. "Q9. Reading the experiment: ..."
    prompt: list = field(default_factory=list)
    answer: list = field(default_factory=list)   # the placeholder cells otter left are dropped

    @property
    def answered(self) -> bool:
        return any(_source(c).strip() or c.get("outputs") for c in self.answer)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _title(text: str) -> str:
    lines = [ln.strip() for ln in _MARKER.sub("", text).splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("#"):
            return ln.lstrip("#").strip()
    return lines[0][:120] if lines else "(untitled question)"


def written_questions(nb) -> list[Written]:
    """The written questions of a notebook (an nbformat v4 ``NotebookNode``), in order.

    Cells are selected by otter's filter; a cell holding a BEGIN QUESTION comment starts
    a question and is its prompt, as is any locked cell (``editable: false``, how otter
    hands prompts out) before the first of the student's own cells.
    """
    from otter.export.exporters.base_exporter import BaseExporter
    from otter.export.exporters.utils import has_begin

    filtered = BaseExporter.filter_cells(copy.deepcopy(nb), pagebreaks=True)
    questions: list[Written] = []
    for cell in filtered["cells"]:
        src = _source(cell)
        if any(has_begin(line) for line in src.splitlines()):
            begin = next(i for i, line in enumerate(src.splitlines()) if has_begin(line))
            prompt = "\n".join(src.splitlines()[begin:])
            cell = copy.deepcopy(cell)
            cell["source"] = _MARKER.sub("", prompt).strip("\n")
            questions.append(Written(number=len(questions) + 1, title=_title(prompt), prompt=[cell]))
            continue
        if not questions:
            continue
        q = questions[-1]
        cell = copy.deepcopy(cell)
        cell["source"] = _MARKER.sub("", src).strip("\n")
        locked = cell.get("metadata", {}).get("editable") is False
        if locked and not q.answer:
            if cell["source"].strip():
                q.prompt.append(cell)
        elif cell["source"].strip() == PLACEHOLDER and not cell.get("outputs"):
            continue
        elif cell["source"].strip() or cell.get("outputs"):
            q.answer.append(cell)
    return questions


# ------------------------------------------------------------------------- HTML
def markdown_html(text: str, attachments: dict | None = None) -> str:
    """Markdown as HTML, math left for MathJax (nbconvert's renderer), raw HTML escaped."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    renderer = IPythonRenderer(escape=True, allow_harmful_protocols=False, exclude_anchor_links=True,
                               attachments=attachments or {})
    try:
        return MarkdownWithMath(renderer=renderer).render(text)
    except Exception:  # a missing attachment, a renderer bug: show the text as written
        return f"<pre class='text'>{html.escape(text)}</pre>"


def _output_html(out) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        return f"<pre class='output'>{html.escape(_ANSI.sub('', ''.join(out.get('text', ''))))}</pre>"
    if kind == "error":
        return f"<pre class='output error'>{html.escape(_ANSI.sub('', out.get('ename', '') + ': ' + out.get('evalue', '')))}</pre>"
    data = out.get("data", {}) or {}
    for mime in ("image/png", "image/jpeg", "image/svg+xml"):
        if mime in data:
            payload = data[mime]
            payload = "".join(payload) if isinstance(payload, list) else payload
            if mime == "image/svg+xml":  # as an <img>: an SVG's scripts never run there
                payload = base64.b64encode(payload.encode()).decode()
            return f"<img class='figure' alt='figure' src='data:{mime};base64,{payload.strip()}'>"
    if "text/latex" in data:
        return f"<div class='output'>{html.escape(''.join(data['text/latex']))}</div>"
    if "text/markdown" in data:
        return markdown_html("".join(data["text/markdown"]))
    if "text/plain" in data:
        return f"<pre class='output'>{html.escape(_ANSI.sub('', ''.join(data['text/plain'])))}</pre>"
    return ""


def cells_html(cells) -> str:
    """Markdown cells rendered, code cells as their source and outputs (never run)."""
    parts = []
    for cell in cells:
        src = _source(cell)
        if cell.get("cell_type") == "markdown":
            parts.append(f"<div class='md'>{markdown_html(src, cell.get('attachments'))}</div>")
        elif cell.get("cell_type") == "code":
            if src.strip():
                parts.append(f"<pre class='code'>{html.escape(src)}</pre>")
            parts += [_output_html(o) for o in cell.get("outputs", [])]
        elif src.strip():
            parts.append(f"<pre class='text'>{html.escape(src)}</pre>")
    return "\n".join(p for p in parts if p)


def question_page(q: Written, heading: str | None = None, extra: str = "") -> str:
    """One printed page (or more, for a long answer) per question: prompt, then answer."""
    answer = cells_html(q.answer) if q.answered else "<p class='missing'>(no answer written)</p>"
    return (f"<section class='page'>{f'<p class=running>{html.escape(heading)}</p>' if heading else ''}"
            f"<div class='prompt'>{cells_html(q.prompt)}</div>{extra}"
            f"<div class='answer'><p class='label'>Answer</p>{answer}</div></section>")


CSS = """
@page { margin: 16mm 15mm; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: 11pt; line-height: 1.45;
       color: #111; max-width: 48em; margin: 1em auto; padding: 0 1em; }
.page + .page, .break { break-before: page; page-break-before: always; }
.running { color: #555; font-size: 9pt; margin: 0 0 .6em; border-bottom: 1px solid #ccc; }
.prompt { border-left: 4px solid #4477aa; padding: .1em 0 .1em .9em; margin-bottom: 1em; }
.answer, .submission { border: 1px solid #bbb; border-radius: 4px; padding: .4em .9em; margin: .8em 0; }
.model { border: 2px solid #aa3377; border-radius: 4px; padding: .4em .9em; margin: .8em 0; background: #fdf3f8; }
.label { font-weight: bold; color: #333; margin: .2em 0 .4em; }
.missing { color: #a00; font-style: italic; }
pre { white-space: pre-wrap; word-wrap: break-word; font-size: 9.5pt; background: #f6f6f6; padding: .4em; }
pre.output { background: #fff; border-left: 3px solid #ddd; }
img.figure, .md img { max-width: 100%; height: auto; }
.submission { break-inside: avoid-page; }
h1 { font-size: 1.45em; } h2 { font-size: 1.25em; } h3 { font-size: 1.1em; }
mjx-container[display="true"] { overflow-x: auto; overflow-y: hidden; }
"""

_MATHJAX_CONFIG = """window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
        processEscapes: true, processEnvironments: true},
  svg: {fontCache: 'global'},
  options: {enableMenu: false},
  startup: {pageReady: () => MathJax.startup.defaultPageReady().then(
    () => { document.documentElement.setAttribute('data-mathjax', 'done'); })}
};"""


def mathjax_script() -> str | None:
    """The MathJax source shipped with this package (``make release`` adds it), or, in the
    instructors' checkout, the copy ``make install`` vendors from npm; None if neither."""
    if PACKAGE_MATHJAX.is_file():
        return gzip.decompress(PACKAGE_MATHJAX.read_bytes()).decode("utf-8")
    if CHECKOUT_MATHJAX.is_file():
        return CHECKOUT_MATHJAX.read_text(encoding="utf-8")
    return None


def document(title: str, body: str, mathjax_inline: str | None = None, mathjax_src: str | None = None) -> str:
    """A whole HTML page. MathJax is either inlined (a self-contained file, as students get)
    or loaded from a relative path (``mathjax_src``, the instructor's folders share one copy)."""
    nonce = secrets.token_urlsafe(16)
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
           "img-src data:; font-src data:")
    scripts = f"<script nonce='{nonce}'>{_MATHJAX_CONFIG}</script>"
    if mathjax_inline:
        inline = mathjax_inline.replace("</script", "<\\/script")
        scripts += f"<script nonce='{nonce}'>{inline}</script>"
    elif mathjax_src:
        scripts += f"<script nonce='{nonce}' src='{html.escape(mathjax_src, quote=True)}'></script>"
        csp = csp.replace("script-src ", "script-src 'self' file: ")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style>{scripts}</head>\n"
            f"<body>\n{body}\n</body></html>\n")


def questions_html(questions: list[Written], heading: str) -> str:
    """The body of a submission's written answers: one page per question."""
    return "\n".join(question_page(q, heading) for q in questions)


# -------------------------------------------------------------------------- PDF
_CHROME_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
                 "microsoft-edge", "microsoft-edge-stable", "msedge")
_CHROME_PATHS = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
    r"%PROGRAMFILES%\Google\Chrome\Application\chrome.exe",
    r"%PROGRAMFILES(X86)%\Google\Chrome\Application\chrome.exe",
    r"%LOCALAPPDATA%\Google\Chrome\Application\chrome.exe",
    r"%PROGRAMFILES(X86)%\Microsoft\Edge\Application\msedge.exe",
    r"%PROGRAMFILES%\Microsoft\Edge\Application\msedge.exe",
)


def find_chrome() -> str | None:
    """A Chromium, Chrome or Edge to print with: ``$COURSE_CHROME``, then the usual names
    on PATH, then the usual install locations on macOS and Windows."""
    if os.environ.get("COURSE_CHROME"):
        return os.environ["COURSE_CHROME"] if shutil.which(os.environ["COURSE_CHROME"]) else None
    for name in _CHROME_NAMES:
        found = shutil.which(name)
        if found:
            return found
    for raw in _CHROME_PATHS:
        path = os.path.expandvars(raw)
        if "%" not in path and Path(path).is_file():
            return path
    return None


class PrintError(RuntimeError):
    """The browser did not print the page."""


def print_pdf(html_path: Path, pdf_path: Path, chrome: str | None = None, timeout: float = 120) -> Path:
    """Print ``html_path`` to ``pdf_path`` with a headless Chromium (no header or footer).

    MathJax typesets before the page is printed: ``--virtual-time-budget`` lets the page's
    scripts and timers run to completion (virtual time runs ahead when the page is idle,
    so this costs no real waiting). A private, throw-away profile keeps the student's own
    browser out of it; background networking, sync and extensions are off."""
    chrome = chrome or find_chrome()
    if not chrome:
        raise PrintError("no Chromium, Chrome or Edge found")
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_pdf = pdf_path.with_name(f".{pdf_path.stem}.{os.getpid()}.tmp.pdf")
    with tempfile.TemporaryDirectory(prefix="written-chrome-") as profile:
        cmd = [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-default-apps", "--disable-extensions", "--disable-features=Translate,MediaRouter",
               "--mute-audio", "--hide-scrollbars", "--run-all-compositor-stages-before-draw",
               "--virtual-time-budget=30000", "--no-pdf-header-footer", "--print-to-pdf-no-header",
               f"--print-to-pdf={tmp_pdf}", html_path.as_uri()]
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout, env={**os.environ, "HOME": profile})
        except subprocess.TimeoutExpired:
            tmp_pdf.unlink(missing_ok=True)
            raise PrintError(f"{Path(chrome).name} did not finish printing within {timeout:g} s") from None
        except OSError as e:
            raise PrintError(f"cannot start {chrome}: {e.strerror}") from None
    if not tmp_pdf.is_file() or not tmp_pdf.read_bytes()[:5] == b"%PDF-":
        tmp_pdf.unlink(missing_ok=True)
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise PrintError(f"{Path(chrome).name} wrote no PDF (exit {proc.returncode}): {' / '.join(tail)}")
    os.replace(tmp_pdf, pdf_path)
    return pdf_path


# ---------------------------------------------------------------- student export
@dataclass
class Exported:
    html: Path
    pdf: Path | None
    questions: list[Written]
    problem: str = ""        # why there is no PDF, when there is none


HOW_TO_PRINT = ("open {html} in a browser (in JupyterLab: right-click it in the file browser, "
                "Open in New Browser Tab), wait until the formulas are typeset, then Print "
                "(Ctrl+P, on a Mac Cmd+P) and choose Save as PDF, with headers and footers off. "
                "Each question starts on a new page.")


def export_written(nb_path: str | Path, dest: str | Path | None = None, chrome: str | None = "auto",
                   ) -> Exported | None:
    """Write ``<hw>-written.html`` (and ``<hw>-written.pdf`` where a Chromium or Chrome is
    installed) next to the notebook, from the notebook as saved; None when it has no
    written questions (nothing is written)."""
    import nbformat

    nb_path = Path(nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    questions = written_questions(nb)
    if not questions:
        return None
    hw = (nb.metadata.get("otter") or {}).get("assignment_name") or nb_path.stem
    dest = Path(dest) if dest is not None else nb_path.parent
    html_path, pdf_path = dest / f"{hw}-written.html", dest / f"{hw}-written.pdf"
    mathjax = mathjax_script()
    body = questions_html(questions, f"{hw}: written answers ({nb_path.name})")
    html_path.write_text(document(f"{hw}: written answers", body, mathjax_inline=mathjax), encoding="utf-8")
    result = Exported(html=html_path, pdf=None, questions=questions)
    if mathjax is None:
        result.problem = "no MathJax copy found next to the course package: formulas stay as TeX"
    chrome = find_chrome() if chrome == "auto" else chrome
    if pdf_path.exists():
        pdf_path.unlink()  # never leave an older PDF beside a newer HTML
    if chrome:
        try:
            result.pdf = print_pdf(html_path, pdf_path, chrome)
        except PrintError as e:
            result.problem = str(e)
    else:
        result.problem = result.problem or "no Chromium, Chrome or Edge found to print the PDF"
    return result


def upload_message(exported: Exported, zip_name: str | None) -> str:
    """What the student uploads where (printed by ``grader.export()``)."""
    titles = ", ".join(q.title.split(".")[0].split(":")[0] for q in exported.questions)
    unanswered = [q.title.split(".")[0].split(":")[0] for q in exported.questions if not q.answered]
    lines = [f"Written answers ({len(exported.questions)} questions: {titles}) written to "
             f"{exported.html.name}" + (f" and {exported.pdf.name}." if exported.pdf else ".")]
    if unanswered:
        lines.append(f"Not answered yet: {', '.join(unanswered)}.")
    lines.append("Upload:")
    lines.append(f"  1. {zip_name or 'the zip above'} to the autograder (e.g. Gradescope's programming assignment);")
    if exported.pdf:
        lines.append(f"  2. {exported.pdf.name} to the written assignment (one question per page).")
    else:
        lines.append(f"  2. a PDF of your written answers to the written assignment. {exported.problem.capitalize()}: "
                     + HOW_TO_PRINT.format(html=exported.html.name)
                     + f" Save it as {exported.html.with_suffix('.pdf').name}.")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m activation_course.written NOTEBOOK: the written answers alone
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m activation_course.written NOTEBOOK.ipynb")
    done = export_written(sys.argv[1])
    print(upload_message(done, None) if done else "this notebook has no written questions")
