"""Drop duplicate inline ``<script>`` blocks from every HTML page.

Why: under Sphinx 7.x, an inline script registered with ``app.add_js_file(None,
body=...)`` after the HTML builder was initialised is stored twice, once with the
filename ``None`` (added straight to the builder) and once with ``''`` (re-added
from the registry in ``prepare_writing``). The two copies compare unequal, so both
are written. sphinx-thebe registers its configuration this way, and the second
``const THEBE_JS_URL = ...`` throws "Identifier 'THEBE_JS_URL' has already been
declared" in the browser; sphinx-togglebutton's selector is doubled the same way.
Sphinx fixed this upstream (sphinx-doc/sphinx#13402, in Sphinx 8.2), which Jupyter
Book 1 cannot use yet. Until then this handler keeps the first copy of each script.
"""
from __future__ import annotations


def _key(js):
    attributes = getattr(js, "attributes", {}) or {}
    return (getattr(js, "filename", js) or "", getattr(js, "priority", None),
            tuple(sorted(attributes.items())))


def dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = _key(js)
        if key not in seen:
            seen.add(key)
            unique.append(js)
    # A new list for this page only: the builder's own list is left as it is.
    context["script_files"] = unique


def setup(app):
    # Late priority: run after extensions that add page-specific scripts.
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
