"""Accessibility checks shared by the book's browser test and the alt-text source test."""
from __future__ import annotations

import re
import urllib.parse

_IMAGE_EXTENSIONS = re.compile(r"\.(png|jpe?g|gif|svg|webp|bmp|tiff?)(?=$|[?#\s\"')])", re.I)
_PLACEHOLDER_ALTS = {"image", "img", "figure", "fig", "picture", "plot", "graph", "chart",
                     "png", "output", "untitled", "alt", "alt text"}


def alt_text_problem(alt: str | None, src: str) -> str | None:
    """Why an image's alt text does not describe it, or None when it may.

    Catches what a tool writes when nobody wrote a description: no alt at all, an
    empty one, the file name or path (Sphinx's default for a notebook output is its
    ``../_images/<sha256>.png``), a bare hash, or a placeholder word.
    """
    if alt is None:
        return "no alt attribute"
    text = alt.strip()
    if not text:
        return "empty alt text"
    name = urllib.parse.unquote(src.split("?")[0].split("#")[0].rsplit("/", 1)[-1])
    stem = name.rsplit(".", 1)[0]
    if _IMAGE_EXTENSIONS.search(text):
        return "looks like a file name (image extension)"
    if not re.search(r"\s", text) and ("/" in text or "\\" in text):
        return "looks like a path"
    if re.search(r"[0-9a-f]{16,}", text, re.I):
        return "contains a hash"
    if text in (name, stem):
        return "is the file name"
    if text.lower().rstrip(".") in _PLACEHOLDER_ALTS:
        return "is a placeholder word"
    return None


def image_alt_problems(images: list[dict]) -> list[str]:
    return [f"{problem}: alt={img['alt']!r} src={img['src'][-70:]!r}"
            for img in images if (problem := alt_text_problem(img["alt"], img["src"]))]
