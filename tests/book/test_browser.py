"""The built book, opened in a real browser (headless Debian chromium via Playwright).

Uses the HTML that ``make book`` / ``make book-fast`` writes to ``_build/html``
(override with ``BOOK_HTML=/path/to/html``), serves it on 127.0.0.1 from a local
HTTP server thread (the search page needs http, not file://), visits every page of
``_toc.yml`` and checks what a reader would notice: the page loads, MathJax typeset
every formula, every image loaded, every internal link and anchor resolves, search
finds "mish", the console stays clean and no request leaves the machine. A full-page
screenshot of every page goes to ``_build/screenshots/`` (``BOOK_SCREENSHOTS``
overrides) for a human to look at.

Accessibility (WCAG 2.1 AA): axe-core, pinned in ``package.json`` and installed by
``make install`` into ``node_modules/``, runs on every page in light and in dark mode
and fails on any violation of the WCAG 2.0/2.1 A and AA rules; every image needs an
alt text that describes it (not empty, not a file name); every display formula
carries MathJax's hidden MathML for screen readers; and a keyboard-only walk through a
chapter reaches the table of contents, the launch buttons and the exercise solutions.

Nothing is downloaded: the browser is the system's ``/usr/bin/chromium``
(``CHROMIUM=...`` overrides).
"""
from __future__ import annotations

import functools
import html.parser
import http.server
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from a11y_support import alt_text_problem, image_alt_problems

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", REPO / "_build" / "html")).resolve()
SCREENSHOTS = Path(os.environ.get("BOOK_SCREENSHOTS", HTML.parent / "screenshots")).resolve()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL_SCHEMES = ("data:", "blob:", "about:")
# axe-core from npm (package.json pins it; `make install` runs npm install).
AXE_JS = REPO / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
COLOR_SCHEMES = ("light", "dark")  # the theme follows the reader's system setting

# Console messages that are known to be harmless, each with the reason. A message is
# ignored when it contains one of these strings; anything else fails the test.
KNOWN_HARMLESS_CONSOLE = {
    # (sphinx-thebe's doubled `const THEBE_JS_URL` script is no longer here: the book's
    # book/_ext/dedupe_inline_scripts.py keeps one copy, and test_no_console_errors
    # fails if the error comes back.)
    # pydata-sphinx-theme on a first visit, when localStorage holds no light/dark choice.
    "Got invalid theme mode: . Resetting to auto.":
        "pydata-sphinx-theme found no saved light/dark mode and falls back to auto",
}


def toc_pages() -> list[str]:
    """HTML paths (relative to the site root) of every page listed in _toc.yml."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [f"{Path(f).with_suffix('')}.html" for f in files]


def numbered_chapter_pages() -> list[str]:
    """HTML paths of the chapters in the numbered part(s) of _toc.yml (each has figures)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [f"{Path(c['file']).with_suffix('')}.html" for part in toc.get("parts", [])
            if part.get("numbered") for c in part.get("chapters", [])]


PAGES = toc_pages()
CHAPTERS = numbered_chapter_pages()


def other_built_pages() -> list[str]:
    """HTML pages Sphinx writes besides the toc's (the general index, sphinx-proof's
    index, ...); axe checks them too. index.html is only a redirect, search.html is
    checked with results."""
    skip = {"index.html", "search.html", *PAGES}
    return sorted(str(p.relative_to(HTML)) for p in HTML.rglob("*.html")
                  if not p.relative_to(HTML).parts[0].startswith("_")
                  and str(p.relative_to(HTML)) not in skip)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book at {HTML} (index.html missing): run `make book-fast` first, "
                    f"or point BOOK_HTML at a built _build/html", pytrace=False)
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


# The display-formula probe: part of _INSPECT_JS, and on its own for the planted-page test.
_DISPLAY_MATH_JS = r"""
() => Array.from(document.querySelectorAll('mjx-container[display="true"]')).map(c => {
  const mml = c.querySelector("mjx-assistive-mml > math");
  const visual = c.querySelector("mjx-math");
  return {mml: !!mml, tokens: mml ? mml.querySelectorAll("mi, mn, mo").length : 0,
          block: mml ? mml.getAttribute("display") : null,
          visualHidden: !!visual && visual.getAttribute("aria-hidden") === "true",
          tex: (c.parentElement ? c.parentElement.textContent : "").slice(0, 60)};
})
"""

# JavaScript run in every page once it has loaded and MathJax has finished.
_INSPECT_JS = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await Promise.all(Array.from(document.images).map(img =>
      img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
  // Visible text outside code, scripts and typeset math: raw TeX would show up here.
  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "MJX-CONTAINER", "TEXTAREA", "NOSCRIPT"]);
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let el = node.parentElement; el; el = el.parentElement) {
        if (skip.has(el.tagName.toUpperCase())) return NodeFilter.FILTER_REJECT;
      }
      return NodeFilter.FILTER_ACCEPT;
    }
  });
  while (walker.nextNode()) parts.push(walker.currentNode.nodeValue);
  const mathNodes = Array.from(document.querySelectorAll(".math"));
  return {
    title: document.title,
    text: parts.join(" "),
    mathjax: !!(window.MathJax && MathJax.version),
    math: mathNodes.length,
    mathUntypeset: mathNodes.filter(m => !m.querySelector("mjx-container"))
                            .map(m => m.textContent.slice(0, 80)),
    mathErrors: Array.from(document.querySelectorAll("mjx-merror"))
                     .map(m => (m.getAttribute("data-mjx-error") || m.textContent).slice(0, 80)),
    mjx: document.querySelectorAll("mjx-container").length,
    // Display formulas and what a screen reader gets: MathJax's assistive MathML
    // (a hidden <math> beside the visual output, which is itself aria-hidden).
    displayMath: (__DISPLAY_MATH__)(),
    images: Array.from(document.images).map(i => ({src: i.currentSrc || i.src,
                                                   ok: i.complete && i.naturalWidth > 0})),
    // Images a notebook cell produced (figures), and whether each has a caption.
    cellImages: Array.from(document.querySelectorAll("article .cell_output img, article figure img"))
      .map(i => ({src: (i.currentSrc || i.src).slice(-60),
                  captioned: !!(i.closest("figure") && i.closest("figure").querySelector("figcaption"))})),
    // sphinx-exercise: one div.exercise per exercise, one div.solution per solution
    // (a dropdown solution also carries the class "dropdown").
    exercises: document.querySelectorAll("article div.exercise").length,
    solutions: Array.from(document.querySelectorAll("article div.solution"))
                    .map(s => ({dropdown: s.classList.contains("dropdown"),
                                visibleText: s.innerText.length})),
    // Section headings of the page (h2), for the "What to take away" summary.
    headings: Array.from(document.querySelectorAll("article section > h2"))
                   .map(h => h.textContent.replace(/[#¶]/g, "").trim()),
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
    ids: Array.from(document.querySelectorAll("[id]")).map(e => e.id),
    names: Array.from(document.querySelectorAll("a[name]")).map(e => e.getAttribute("name")),
  };
}
"""
_INSPECT_JS = _INSPECT_JS.replace("__DISPLAY_MATH__", _DISPLAY_MATH_JS.strip())


# Every <img> on a page with its alt attribute (null when there is none).
_IMAGES_JS = r"""
() => Array.from(document.images).map(i => ({src: i.getAttribute("src") || "",
                                             alt: i.getAttribute("alt")}))
"""

def _axe_version_pinned() -> str:
    import json
    return json.loads((REPO / "package.json").read_text())["dependencies"]["axe-core"]


def run_axe(page) -> list[dict]:
    """Inject the pinned axe-core into the page and return its WCAG A/AA violations."""
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core not found at {AXE_JS}: run `make install` (npm install)",
                    pytrace=False)
    page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(
        """async (tags) => {
          const r = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                             resultTypes: ["violations"]});
          return {version: axe.version, violations: r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html.slice(0, 160)}))}))};
        }""", AXE_TAGS)


def format_axe_violations(by_page: dict[str, list[dict]]) -> str:
    """One block per rule: how many elements on which pages, then each element."""
    rules: dict[str, dict] = {}
    for where, violations in by_page.items():
        for v in violations:
            rule = rules.setdefault(v["id"], {"impact": v["impact"], "help": v["help"], "nodes": []})
            rule["nodes"] += [(where, n) for n in v["nodes"]]
    lines = []
    for rule_id, rule in sorted(rules.items(), key=lambda kv: -len(kv[1]["nodes"])):
        lines.append(f"{rule_id} ({rule['impact']}, {len(rule['nodes'])} elements): {rule['help']}")
        lines += [f"    {where}: {n['target']}  {n['html']}" for where, n in rule["nodes"]]
    return "\n".join(lines)


def _wait_for_page(page):
    page.evaluate("async () => { if (window.MathJax && MathJax.startup && MathJax.startup.promise)"
                  " await MathJax.startup.promise; }")


@pytest.fixture(scope="module")
def site(server):
    """Visit every toc page and the search page once; return what was observed."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM} (set CHROMIUM=...); nothing is downloaded",
                    pytrace=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    observed = {"pages": {}, "requests": [], "blocked": [], "console": [], "search": None,
                "axe": {scheme: {} for scheme in COLOR_SCHEMES}, "axe_version": None}

    def on_route(route):
        url = route.request.url
        observed["requests"].append(url)
        if url.startswith(server) or url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            observed["blocked"].append(url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        context.route("**/*", on_route)
        page = context.new_page()
        current = {"url": None}
        page.on("console", lambda m: m.type == "error" and observed["console"].append(
            (current["url"], f"{m.text} @ {m.location.get('url', '')}")))
        page.on("pageerror", lambda e: observed["console"].append((current["url"], f"uncaught: {e}")))

        for rel in ["index.html"] + PAGES:
            url = server + rel
            current["url"] = rel
            response = page.goto(url, wait_until="load")
            status = response.status if response else None
            if rel == "index.html" and status == 200:
                # index.html is a meta-refresh redirect to the root page of the toc
                try:
                    page.wait_for_url(re.compile(re.escape(PAGES[0]) + "$"), timeout=10_000)
                    page.wait_for_load_state("load")
                except Exception:
                    pass  # test_every_toc_page_loads reports where it ended up
            info = page.evaluate(_INSPECT_JS) if status == 200 else {}
            info["status"] = status
            info["final_url"] = page.url
            if status == 200:
                info["imageAlts"] = page.evaluate(_IMAGES_JS)
            if status == 200 and rel != "index.html":
                shot = SCREENSHOTS / (rel.replace("/", "__").removesuffix(".html") + ".png")
                page.screenshot(path=str(shot), full_page=True)
                info["screenshot"] = shot
            observed["pages"][rel] = info

        current["url"] = "search.html?q=mish"
        page.goto(server + "search.html?q=mish", wait_until="load")
        try:
            page.wait_for_selector("#search-results ul.search li", timeout=30_000)
        except Exception as exc:  # reported by the search test, with what the page showed
            observed["search_error"] = repr(exc)
        observed["search"] = page.evaluate(
            "() => Array.from(document.querySelectorAll('#search-results ul.search li a'))"
            ".map(a => a.href)")
        observed["search_text"] = page.evaluate(
            "() => (document.querySelector('#search-results') || document.body).innerText.slice(0, 300)")
        page.screenshot(path=str(SCREENSHOTS / "search-mish.png"), full_page=True)
        search_page = "search.html?q=mish"
        observed["search_images"] = page.evaluate(_IMAGES_JS)

        # axe-core on every page (the search page with its results), in both colour
        # schemes: "auto" mode follows the reader's system setting.
        observed["axe_pages"] = PAGES + other_built_pages() + [search_page]
        for scheme in COLOR_SCHEMES:
            page.emulate_media(color_scheme=scheme)
            for rel in observed["axe_pages"]:
                current["url"] = f"{rel} ({scheme})"
                page.goto(server + rel, wait_until="load")
                _wait_for_page(page)
                if rel == search_page:
                    try:
                        page.wait_for_selector("#search-results ul.search li", timeout=30_000)
                    except Exception:
                        pass  # reported by test_search_finds_mish
                # the theme sets its colour mode from the system setting by script, and
                # colours fade in (CSS transitions): measure contrast once both are done
                page.wait_for_function("(s) => document.documentElement.dataset.theme === s",
                                       arg=scheme, timeout=10_000)
                page.evaluate("() => Promise.race([Promise.all(document.getAnimations().map(a => a.finished)),"
                              " new Promise(r => setTimeout(r, 2000))])")  # an endless one: 2 s
                result = run_axe(page)
                observed["axe_version"] = result["version"]
                observed["axe"][scheme][rel] = result["violations"]
        browser.close()
    return observed


def _loaded(site):
    return {rel: info for rel, info in site["pages"].items() if info.get("status") == 200}


def test_every_toc_page_loads(site):
    assert len(PAGES) >= 7, f"_toc.yml lists only {PAGES}"
    bad = {rel: info.get("status") for rel, info in site["pages"].items() if info.get("status") != 200}
    assert not bad, f"pages that did not load (HTTP status): {bad}"
    assert site["pages"]["index.html"]["final_url"].endswith(PAGES[0]), \
        f"index.html should lead to {PAGES[0]}, got {site['pages']['index.html']['final_url']}"
    untitled = [rel for rel, info in _loaded(site).items() if not info["title"].strip()]
    assert not untitled, f"pages without a title: {untitled}"


def test_mathjax_typesets_every_formula(site):
    problems = []
    for rel, info in _loaded(site).items():
        if rel == "index.html":
            continue
        for raw in ("$$", r"\(", r"\)", r"\[", r"\]", r"\begin{", r"\frac"):
            if raw in info["text"]:
                i = info["text"].index(raw)
                problems.append(f"{rel}: raw {raw!r} in the visible text: "
                                f"...{info['text'][max(0, i - 60):i + 60]!r}")
        # Inline TeX that never reached MathJax (e.g. "$N(0,1)$" in a table a cell printed).
        inline = re.search(r"\$[^$\s][^$\n]{0,200}\$", info["text"])
        if inline:
            problems.append(f"{rel}: untypeset inline TeX in the visible text: {inline.group(0)!r}")
        if info["math"] and not info["mathjax"]:
            problems.append(f"{rel}: {info['math']} formulas but MathJax did not load")
        if info["mathUntypeset"]:
            problems.append(f"{rel}: formulas without an mjx-container: {info['mathUntypeset'][:3]}")
        if info["mathErrors"]:
            problems.append(f"{rel}: MathJax errors: {info['mathErrors'][:3]}")
    assert not problems, "\n".join(problems)
    chapters_with_math = [rel for rel, info in _loaded(site).items() if info.get("mjx", 0) > 0]
    assert any("03-" in rel for rel in chapters_with_math), \
        f"expected typeset math in the stability chapter; pages with math: {chapters_with_math}"


def test_every_image_loaded(site):
    broken = [f"{rel}: {img['src']}" for rel, info in _loaded(site).items()
              for img in info["images"] if not img["ok"]]
    assert not broken, "images with naturalWidth 0 (not loaded):\n" + "\n".join(broken)


def test_every_chapter_shows_captioned_figures(site):
    """Each numbered chapter draws figures at build time; each has a caption.

    A chapter whose figures silently vanish (e.g. the kernel ran with a non-inline
    matplotlib backend) shows only `<Figure size ...>` text instead of an image.
    """
    problems = []
    for rel in CHAPTERS:
        info = site["pages"].get(rel, {})
        if info.get("status") != 200:
            continue  # reported by test_every_toc_page_loads
        if not info["cellImages"]:
            problems.append(f"{rel}: no figure produced by a cell")
        if "<Figure size" in info["text"]:
            problems.append(f"{rel}: a figure was printed as text ('<Figure size ...>'), not drawn")
        uncaptioned = [img["src"] for img in info["cellImages"] if not img["captioned"]]
        if uncaptioned:
            problems.append(f"{rel}: {len(uncaptioned)} figure(s) without a caption "
                            f"(use the `mystnb: figure: caption:` cell metadata)")
    assert not problems, "\n".join(problems)


class _Anchors(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.anchors = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.anchors.add(value)


@functools.lru_cache(maxsize=None)
def _fetch(url: str) -> tuple[int, set[str] | None]:
    """HTTP status of a local URL and, for HTML, the ids it defines."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read()
            status = resp.status
            ctype = resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    if "html" not in ctype:
        return status, None
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    return status, parser.anchors


def test_every_internal_link_resolves(site, server):
    problems, checked = [], 0
    for rel, info in _loaded(site).items():
        own_ids = set(info["ids"]) | set(info["names"])
        for href in info["links"]:
            if not href.startswith(server):
                continue  # external (GitHub, Binder, ...): not fetched, no internet
            target, _, fragment = href.partition("#")
            fragment = urllib.parse.unquote(fragment)
            status, anchors = _fetch(target)
            checked += 1
            if status != 200:
                problems.append(f"{rel}: {href} -> HTTP {status}")
            elif fragment:
                page_url = server + rel
                ids = own_ids if target == page_url else anchors
                if ids is not None and fragment not in ids:
                    problems.append(f"{rel}: {href}: no element with id {fragment!r}")
    assert checked > 20, f"only {checked} internal links found; is the navigation missing?"
    assert not problems, "broken internal links:\n" + "\n".join(sorted(set(problems)))


def test_search_finds_mish(site):
    hits = site["search"] or []
    assert hits, (f"search for 'mish' returned nothing ({site.get('search_error', 'no error')}); "
                  f"the page said: {site.get('search_text')!r}")
    assert any("02-common-activations" in h or "assignments" in h for h in hits), \
        f"search for 'mish' did not find the chapter on activations: {hits}"


MIN_EXERCISES = 3
SUMMARY_HEADING = "What to take away"


def test_every_chapter_has_exercises_with_collapsed_solutions(site):
    """Chapters 1-4 each have >= 3 sphinx-exercise exercises; every solution is a dropdown."""
    problems = []
    for rel in CHAPTERS:
        info = site["pages"].get(rel, {})
        if info.get("status") != 200:
            continue  # reported by test_every_toc_page_loads
        if info["exercises"] < MIN_EXERCISES:
            problems.append(f"{rel}: {info['exercises']} exercise(s), want at least {MIN_EXERCISES}")
        if len(info["solutions"]) < info["exercises"]:
            problems.append(f"{rel}: {info['exercises']} exercises but only "
                            f"{len(info['solutions'])} solutions")
        open_solutions = [s for s in info["solutions"] if not s["dropdown"]]
        if open_solutions:
            problems.append(f"{rel}: {len(open_solutions)} solution(s) not collapsed "
                            f"(use `:class: dropdown`)")
    assert len(CHAPTERS) >= 4, f"expected chapters 1-4 in the numbered part, got {CHAPTERS}"
    assert not problems, "\n".join(problems)


def test_every_chapter_ends_with_a_summary(site):
    problems = []
    for rel in CHAPTERS:
        info = site["pages"].get(rel, {})
        if info.get("status") != 200:
            continue
        headings = info["headings"]
        if not any(h.endswith(SUMMARY_HEADING) for h in headings):
            problems.append(f"{rel}: no section '{SUMMARY_HEADING}' among {headings}")
    assert not problems, "\n".join(problems)


def test_no_console_errors(site):
    errors = [f"{where}: {text}" for where, text in site["console"]
              if not any(known in text for known in KNOWN_HARMLESS_CONSOLE)]
    assert not errors, "console errors (add a harmless one to KNOWN_HARMLESS_CONSOLE " \
                       "with the reason only if it is truly harmless):\n" + "\n".join(errors)


def test_no_request_leaves_localhost(site, server):
    assert site["requests"], "no requests were recorded; the route hook did not run"
    assert all(u.startswith(server) or u.startswith(LOCAL_SCHEMES) for u in site["requests"]
               if u not in site["blocked"])
    assert not site["blocked"], "requests to non-local URLs (blocked):\n" + "\n".join(sorted(set(site["blocked"])))


def test_screenshots_saved(site):
    shots = [info.get("screenshot") for rel, info in _loaded(site).items() if rel != "index.html"]
    assert len(shots) == len(PAGES)
    missing = [str(s) for s in shots if not (s and s.is_file() and s.stat().st_size > 10_000)]
    assert not missing, f"missing or empty screenshots: {missing}"


# --- Accessibility ---------------------------------------------------------------

def test_axe_finds_no_wcag_violations(site):
    """axe-core (the pinned npm version) finds no WCAG 2.0/2.1 A or AA violation on any
    page, light or dark. Fix the book's sources, or, where the theme or an extension
    writes the markup, book/_templates, book/_static/custom.css or book/_ext; never
    switch a rule off."""
    assert site["axe_version"] == _axe_version_pinned(), \
        f"ran axe-core {site['axe_version']}, package.json pins {_axe_version_pinned()}"
    assert "genindex.html" in site["axe_pages"], site["axe_pages"]
    for scheme in COLOR_SCHEMES:
        assert set(site["axe"][scheme]) == set(PAGES) | {"search.html?q=mish"} \
            | set(site["axe_pages"]), \
            f"axe did not run on every page in {scheme} mode: {sorted(site['axe'][scheme])}"
    by_page = {f"{rel} [{scheme}]": violations for scheme in COLOR_SCHEMES
               for rel, violations in site["axe"][scheme].items() if violations}
    assert not by_page, "axe-core WCAG 2.1 A/AA violations, by rule:\n" + format_axe_violations(by_page)


def test_every_image_has_a_real_alt_text(site):
    images = {rel: info.get("imageAlts", []) for rel, info in site["pages"].items()}
    images["search.html?q=mish"] = site.get("search_images", [])
    problems = [f"{rel}: {p}" for rel, imgs in images.items() for p in image_alt_problems(imgs)]
    checked = sum(len(imgs) for imgs in images.values())
    figures = sum(len(site["pages"].get(rel, {}).get("cellImages", [])) for rel in CHAPTERS)
    assert figures >= 10 and checked >= figures, \
        f"only {checked} images seen ({figures} chapter figures); is the image collector broken?"
    assert not problems, ("images whose alt text does not describe them (give each figure "
                          "cell `mystnb: image: alt: ...`):\n" + "\n".join(problems))


def display_math_problems(formulas: list[dict]) -> list[str]:
    problems = []
    for m in formulas:
        if not m["mml"] or m["tokens"] == 0:
            problems.append(f"no assistive MathML for {m['tex']!r}")
        elif m["block"] != "block" or not m["visualHidden"]:
            problems.append(f"MathML not a block, or visual math not aria-hidden: {m['tex']!r}")
    return problems


def test_display_formulas_reach_screen_readers(site):
    """MathJax's assistive MathML: each display formula has a hidden <math> copy with
    content, and the visual rendering is hidden from assistive technology."""
    problems, total = [], 0
    for rel, info in _loaded(site).items():
        total += len(info.get("displayMath", []))
        problems += [f"{rel}: {p}" for p in display_math_problems(info.get("displayMath", []))]
    assert total >= 10, f"only {total} display formulas found; is MathJax typesetting?"
    assert not problems, "\n".join(problems[:20])


_SYNTHETIC_PAGE = """<!doctype html><html lang="en"><head><title>planted</title></head><body>
<main><h1>Planted problems</h1>
<img id="good" src="data:image/png;base64,iVBORw0KGgo="
     alt="Line chart of the loss against the epoch, falling from 2 to 0.1">
<img id="hash" src="../_images/55e05255b7b3497fb86a530cc027e835.png"
     alt="../_images/55e05255b7b3497fb86a530cc027e835.png">
<img id="name" src="plots/relu.png" alt="relu.png">
<img id="empty" src="plots/a.png" alt="">
<img id="none" src="plots/b.png">
<img id="word" src="plots/c.png" alt="Figure">
<button aria-label="Close">Open the menu</button>
</main></body></html>"""


def test_the_checks_catch_planted_problems():
    """The alt-text check and the axe run both fail on a page with planted problems."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM} (set CHROMIUM=...)", pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.route("**/*", lambda route: route.abort())  # nothing to fetch: images stay broken
        page.set_content(_SYNTHETIC_PAGE)
        images = page.evaluate(_IMAGES_JS)
        axe = run_axe(page)
        browser.close()
    problems = image_alt_problems(images)
    flagged = {img["src"] for img in images if alt_text_problem(img["alt"], img["src"])}
    assert len(images) == 6
    assert images[0]["src"] not in flagged, problems
    assert len(problems) == 5, problems
    rules = {v["id"] for v in axe["violations"]}
    assert {"image-alt", "label-content-name-mismatch"} <= rules, rules
    report = format_axe_violations({"planted.html": axe["violations"]})
    assert "label-content-name-mismatch (serious, 1 elements)" in report, report
    assert "planted.html: #none" in report, report


def test_alt_text_problem_rules():
    good = ("Two side-by-side plots over z: the S-shaped sigmoid rising from 0 to 1 "
            "with its dashed derivative peaking at 0.25; the bound (1/4)^n and z/2.")
    assert alt_text_problem(good, "../_images/55e0.png") is None
    assert alt_text_problem("Binder logo", "../_static/images/logo_binder.svg") is None
    for bad in (None, "", "  ", "fig.png", "../_images/x.png", "_images/abc", "logo_binder",
                "55e05255b7b3497fb86a530cc027e835", "Image", "plot."):
        assert alt_text_problem(bad, "../_static/images/logo_binder.svg") is not None, bad


# A keyboard-only reader: Tab through a chapter from the top.
_FOCUSED_JS = r"""
() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const cs = getComputedStyle(e);
  return {tag: e.tagName.toLowerCase(), id: e.id || "", cls: e.className && e.className.baseVal === undefined
            ? e.className : "", href: e.getAttribute("href") || "",
          label: (e.getAttribute("aria-label") || e.textContent || "").trim().slice(0, 50),
          toc: !!e.closest("nav.bd-docs-nav"), solution: !!e.closest("div.solution"),
          launch: !!e.closest(".dropdown-launch-buttons"), prevNext: !!e.closest(".prev-next-area"),
          ring: (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== "none"};
}
"""


def test_keyboard_reaches_toc_launch_buttons_and_solutions(server):
    """Tab through chapter 1 from the top: the table of contents, the launch button and
    the collapsed solutions are reached and work with the keyboard alone, each with a
    visible focus ring, and the walk reaches the page's next-chapter link (no trap)."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM} (set CHROMIUM=...)", pytrace=False)
    chapter = CHAPTERS[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(server)
                   or r.request.url.startswith(LOCAL_SCHEMES) else r.abort())
        page.goto(server + chapter, wait_until="load")
        _wait_for_page(page)
        seen, found = [], {}
        for _ in range(800):
            page.keyboard.press("Tab")
            f = page.evaluate(_FOCUSED_JS)
            if not f:
                continue
            seen.append(f)
            for kind in ("toc", "launch", "solution", "prevNext"):
                if f[kind] and kind not in found:
                    found[kind] = f
            if f["launch"] and "launch_opened" not in found:
                page.keyboard.press("Enter")  # opens the dropdown
                found["launch_opened"] = page.evaluate(
                    "() => !!document.querySelector('.dropdown-launch-buttons .dropdown-menu.show')")
                page.keyboard.press("ArrowDown")
                found["launch_item"] = page.evaluate(
                    "() => document.activeElement.closest('.dropdown-launch-buttons .dropdown-menu')"
                    " ? document.activeElement.textContent.trim() : null")
                page.keyboard.press("Escape")
            if f["solution"] and f["tag"] == "button" and "solution_opened" not in found:
                solution = page.evaluate_handle("() => document.activeElement.closest('div.solution')")
                hidden_before = solution.evaluate("s => s.classList.contains('toggle-hidden')")
                page.keyboard.press("Enter")
                found["solution_opened"] = solution.evaluate(
                    "s => ({hiddenBefore: %s, hidden: s.classList.contains('toggle-hidden'),"
                    " expanded: s.querySelector('button.toggle-button').getAttribute('aria-expanded'),"
                    " bodyHeight: Array.from(s.children).filter(c => !c.classList.contains('admonition-title'))"
                    "   .reduce((h, c) => h + c.getBoundingClientRect().height, 0)})"
                    % ("true" if hidden_before else "false"))
            if f["prevNext"]:
                break
        toc_link = found.get("toc")
        if toc_link:  # a TOC link opens its page with Enter
            page.goto(server + chapter, wait_until="load")
            page.focus(f"nav.bd-docs-nav a[href='{toc_link['href']}']")
            with page.expect_navigation(wait_until="load", timeout=10_000):
                page.keyboard.press("Enter")
            found["toc_went_to"] = page.url
        browser.close()
    walk = [f"{f['tag']}.{f['cls'][:30]} {f['label'][:30]!r}" for f in seen[:40]]
    assert "toc" in found, f"Tab never reached a table-of-contents link; first stops: {walk}"
    assert "launch" in found, f"Tab never reached the launch button; first stops: {walk}"
    assert found.get("launch_opened"), "Enter on the launch button did not open its menu"
    assert found.get("launch_item") and "Binder" in found["launch_item"], \
        f"ArrowDown in the launch menu did not reach the Binder item: {found.get('launch_item')!r}"
    assert "solution" in found and "solution_opened" in found, \
        "Tab never reached an exercise solution's toggle button"
    opened = found["solution_opened"]
    assert opened["hiddenBefore"] and not opened["hidden"] and opened["expanded"] == "true" \
        and opened["bodyHeight"] > 20, f"Enter did not open the solution: {opened}"
    assert "prevNext" in found, "Tab never reached the next-chapter link at the end of the page"
    no_ring = [f"{f['tag']} {f['label']!r}" for f in (found["toc"], found["launch"], found["solution"])
               if not f["ring"]]
    assert not no_ring, f"focused without a visible focus ring: {no_ring}"
    target = urllib.parse.urljoin(server + chapter, toc_link["href"]).split("#")[0]
    assert found["toc_went_to"].split("#")[0] == target, \
        f"Enter on the TOC link {toc_link['href']} went to {found['toc_went_to']}"


@pytest.mark.parametrize("assistive", [True, False])
def test_the_mathml_probe_sees_assistive_mml_missing(assistive):
    """The vendored MathJax on a planted page: the probe finds the hidden MathML when
    assistive MathML is on and reports every display formula when it is off."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    mathjax = REPO / "book" / "_vendor" / "mathjax" / "es5" / "tex-chtml.js"
    if not mathjax.is_file():
        pytest.fail(f"vendored MathJax missing at {mathjax}: run `make install`", pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.route("**/*", lambda route: route.abort())
        page.set_content('<html lang="en"><body><div class="math">\\[ z = W a + b \\]</div>'
                         '<div class="math">\\[ \\sigma(z) = \\frac{1}{1 + e^{-z}} \\]</div></body></html>')
        page.evaluate("on => { window.MathJax = {options: {enableAssistiveMml: on,"
                      " menuOptions: {settings: {assistiveMml: on}}}}; }", assistive)
        page.add_script_tag(path=str(mathjax))
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        _wait_for_page(page)
        formulas = page.evaluate(_DISPLAY_MATH_JS)
        browser.close()
    assert len(formulas) == 2, formulas
    problems = display_math_problems(formulas)
    assert len(problems) == (0 if assistive else 2), problems
