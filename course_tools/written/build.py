"""``make written``: every submission's written answers as a PDF, one page per question
and submission for grading by question, and a score sheet to fill in.

Submissions are read as ``make grade`` reads them (``grading.intake``: notebooks and
export zips, found recursively, renamed files, the same refusals for broken ones), and
rendered by the students' own renderer (``activation_course.written``), so an
instructor's PDF is the page a student printed.
"""
from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from activation_course import written as render

from ..grading.assignment import AutograderZip, ToolError
from ..settings import CHECKOUT
from ..grading.intake import Invalid, Submission, _parse_notebook, discover, read
from .master import MasterQuestion, written_questions

MATHJAX = render.CHECKOUT_MATHJAX   # what `make install` vendors from npm
MATHJAX_DIR = "_mathjax"


@dataclass
class Entry:
    """One submission's written answers (or why there are none)."""
    sub: Submission
    name: str                                  # file-safe, unique: OUT/pdf/<name>.pdf
    label: str = ""                            # what question pages call it (anonymised or the id)
    answers: dict[str, render.Written] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    invalid: str = ""
    pdf: Path | None = None


def safe_names(subs: list[Submission]) -> dict[str, str]:
    """File names for submissions: the id without its extension, path separators as '__'."""
    names, taken = {}, set()
    for s in subs:
        stem = re.sub(r"\.(ipynb|zip)$", "", s.id, flags=re.I)
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", stem.replace("/", "__")).strip("._") or "submission"
        base = base[-100:]
        name = base if base.lower() not in taken else f"{base}-{hashlib.sha1(s.id.encode()).hexdigest()[:8]}"
        taken.add(name.lower())
        names[s.id] = name
    return names


def _key(title: str) -> str:
    return " ".join(title.split()).casefold()


def match(regions: list[render.Written], questions: list[MasterQuestion]) -> tuple[dict[str, render.Written], list[str]]:
    """Assign a notebook's written regions to the master's questions: by the prompt's
    heading, or by position when the headings were changed but the count is right."""
    by_title = {_key(q.title): q for q in questions}
    got, notes = {}, []
    if all(_key(r.title) in by_title for r in regions):
        for r in regions:
            got.setdefault(by_title[_key(r.title)].name, r)
    elif len(regions) == len(questions):
        got = {q.name: r for q, r in zip(questions, regions)}
        notes.append("prompt headings changed: written answers matched by position")
    else:
        for r in regions:
            q = by_title.get(_key(r.title))
            if q is None:
                notes.append(f"a written answer under an unknown heading ({r.title[:60]!r}) is not shown")
            else:
                got.setdefault(q.name, r)
    for q in questions:
        if q.name not in got:
            notes.append(f"{q.name}: no answer region (its BEGIN/END QUESTION cells are missing)")
        elif not got[q.name].answered:
            notes.append(f"{q.name}: not answered")
    return got, notes


def collect(subs: list[Submission], a: AutograderZip, questions: list[MasterQuestion]) -> list[Entry]:
    import nbformat

    names = safe_names(subs)
    entries = []
    for s in subs:
        e = Entry(sub=s, name=names[s.id], label=s.id)
        try:
            raw = read(s, a)
            nb = nbformat.from_dict(_parse_notebook(raw.text))
            e.answers, e.notes = match(render.written_questions(nb), questions)
        except Invalid as exc:
            e.invalid = str(exc)
        except Exception as exc:  # noqa: BLE001 - a notebook nbformat accepts but otter's filter does not
            e.invalid = f"its written answers cannot be read ({type(exc).__name__}: {str(exc)[:120]})"
        entries.append(e)
    return entries


def anonymise(entries: list[Entry]) -> list[Entry]:
    """Labels S001, S002, ... in an order that does not follow the names."""
    order = sorted(entries, key=lambda e: hashlib.sha256(e.sub.id.encode()).hexdigest())
    width = max(3, len(str(len(order))))
    for i, e in enumerate(order, 1):
        e.label = f"S{i:0{width}d}"
    return order


def _missing_page(q: MasterQuestion, heading: str, why: str) -> str:
    return (f"<section class='page'><p class='running'>{html.escape(heading)}</p>"
            f"<div class='prompt'>{render.cells_html(q.prompt)}</div>"
            f"<div class='answer'><p class='missing'>({html.escape(why)})</p></div></section>")


def submission_body(e: Entry, questions: list[MasterQuestion], hw: str) -> str:
    heading = f"{hw}: written answers of {e.sub.id}"
    pages = []
    for q in questions:
        r = e.answers.get(q.name)
        pages.append(render.question_page(r, heading) if r is not None
                     else _missing_page(q, heading, "no answer region in this notebook"))
    return "\n".join(pages)


def question_body(q: MasterQuestion, entries: list[Entry], hw: str, anonymised: bool) -> str:
    parts = [f"<h1>{html.escape(hw)}: {html.escape(q.name)} ({q.points:g} points)</h1>",
             f"<div class='prompt'>{render.cells_html(q.prompt)}</div>",
             "<div class='model'><p class='label'>Model answer (from the master; instructors only)</p>"
             f"{render.cells_html(q.model)}</div>",
             f"<p>{sum(1 for e in entries if not e.invalid)} submissions"
             + (", anonymised (labels as in the score sheet's label column)" if anonymised else "") + ".</p>"]
    invalid = []
    for e in entries:
        if e.invalid:
            invalid.append(e)
            continue
        r = e.answers.get(q.name)
        if r is None:
            body = "<p class='missing'>(no answer region in this notebook)</p>"
        elif not r.answered:
            body = "<p class='missing'>(no answer written)</p>"
        else:
            body = render.cells_html(r.answer)
        parts.append(f"<section class='submission' id='{html.escape(e.label, quote=True)}'>"
                     f"<p class='label'>{html.escape(e.label)}</p>{body}</section>")
    if invalid:
        items = "".join(f"<li>{html.escape(e.label)}: {html.escape(e.invalid)}</li>" for e in invalid)
        parts.append(f"<h2>Not shown: submissions that could not be read</h2><ul>{items}</ul>")
    return "\n".join(parts)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class Built:
    entries: list[Entry]
    questions: list[MasterQuestion]
    scores_csv: Path
    kept_scores: bool
    seconds: float
    printed: int
    print_errors: list[str]


def build(a: AutograderZip, paths: list[str], out: Path, anonymised: bool = False, jobs: int | None = None,
          pdf: bool = True, chrome: str | None = None, announce=print) -> Built:
    from .scores import write_template

    t0 = time.monotonic()
    questions = written_questions(a.name)
    if not questions:
        raise ToolError(f"{a.name} has no written (manual) questions in its master")
    subs, ignored = discover(paths, exclude=[out])
    if not subs:
        raise ToolError(f"no submissions (.ipynb or .zip) found in {' '.join(paths)}"
                        + (f" ({ignored} other files ignored)" if ignored else ""))
    if not MATHJAX.is_file():
        raise ToolError(f"missing {MATHJAX.relative_to(CHECKOUT)}: run `make install` (it vendors MathJax from npm)")
    chrome = chrome or render.find_chrome()
    if pdf and not chrome:
        raise ToolError("no Chromium or Chrome to print the PDFs (Debian: apt-get install chromium); "
                        "--no-pdf writes the HTML pages only")
    entries = collect(subs, a, questions)
    if anonymised:
        page_order = anonymise(entries)
    else:
        page_order = entries
    (out / MATHJAX_DIR).mkdir(parents=True, exist_ok=True)
    shutil.copy2(MATHJAX, out / MATHJAX_DIR / MATHJAX.name)
    src = f"../{MATHJAX_DIR}/{MATHJAX.name}"

    for e in entries:
        if not e.invalid:
            _write(out / "html" / f"{e.name}.html",
                   render.document(f"{a.name}: {e.sub.id}", submission_body(e, questions, a.name), mathjax_src=src))
    for q in questions:
        _write(out / "questions" / f"{q.name}.html",
               render.document(f"{a.name}: {q.name}", question_body(q, page_order, a.name, anonymised),
                               mathjax_src=src))

    errors: list[str] = []
    printed = 0
    if pdf:
        todo = [e for e in entries if not e.invalid]

        def one(e: Entry):
            try:
                e.pdf = render.print_pdf(out / "html" / f"{e.name}.html", out / "pdf" / f"{e.name}.pdf", chrome)
            except render.PrintError as exc:
                e.notes.append(f"no PDF: {exc}")
                errors.append(f"{e.sub.id}: {exc}")

        with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            list(pool.map(one, todo))
        printed = sum(1 for e in todo if e.pdf)
    scores_csv, kept = write_template(out, entries, questions, anonymised)
    return Built(entries=entries, questions=questions, scores_csv=scores_csv, kept_scores=kept,
                 seconds=time.monotonic() - t0, printed=printed, print_errors=errors)
