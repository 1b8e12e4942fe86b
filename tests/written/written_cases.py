"""Submissions with written answers, and an independent reading of the masters' written questions.

A *written variant* is the generated solution notebook (every autograded answer right)
with the model answers taken out of the written regions and the student's own text put
in the answer cells: each answer carries a unique tag (``ANS-<variant>-<question>``) and
a formula, so a test can find it, and only it, where it must be.
"""
from __future__ import annotations

import base64
import json
import re
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = "_Type your answer here, replacing this text._"


def master_written(hw: str) -> list[dict]:
    """[{name, points, heading, model}] of the master's manual questions, read with yaml and
    regular expressions (not with the code under test)."""
    nb = json.loads((REPO / "solutions" / hw / f"{hw}.ipynb").read_text())
    found, current, in_solution = [], None, False
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "raw" and src.lstrip().startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(src.split("\n", 1)[1])
            current = None
            if config.get("manual"):
                current = {"name": config["name"], "points": float(config["points"]), "heading": None, "model": ""}
                found.append(current)
        elif current is not None and cell["cell_type"] == "raw":
            in_solution = src.strip() == "# BEGIN SOLUTION"
            if src.strip() == "# END QUESTION":
                current = None
        elif current is not None and cell["cell_type"] == "markdown":
            if in_solution:
                current["model"] += src
            elif current["heading"] is None:
                current["heading"] = re.search(r"^#+\s*(.+)$", src, re.M).group(1).strip()
    return found


def heading_start(heading: str) -> str:
    """The part of a heading pdftotext reads back as text (up to its first formula)."""
    return heading.split("$")[0].strip()


def answer_tag(variant: str, question: str) -> str:
    return f"ANS-{variant}-{question}".replace("_", "-")


def png_bytes(width: int = 40, height: int = 20) -> bytes:
    """A small solid PNG, written by hand (no imaging library needed)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"\xcc\x33\x66" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def written_variant(hw: str, variant: str, *, skip: tuple[str, ...] = (), image: bool = False,
                    script: bool = False) -> dict:
    """The solution notebook with the student's own written answers (see the module doc).
    ``skip``: questions left with otter's placeholder; ``image``: the first answer shows a
    pasted image (a Markdown attachment); ``script``: an answer holds raw HTML that must
    not run."""
    nb = json.loads((REPO / "autograder" / hw / f"{hw}.ipynb").read_text())
    student = json.loads((REPO / "assignments" / hw / f"{hw}.ipynb").read_text())
    nb["metadata"] = student["metadata"]
    questions = [q["name"] for q in master_written(hw)]
    cells, k, in_region = [], -1, False
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if "<!-- BEGIN QUESTION -->" in src:
            k, in_region = k + 1, True
        elif "<!-- END QUESTION -->" in src:
            in_region = False
        if in_region and "otter_assign_solution_cell" in cell.get("metadata", {}).get("tags", []):
            continue   # the model answer: students never have it
        if in_region and src.strip() == PLACEHOLDER and questions[k] not in skip:
            q = questions[k]
            text = (f"**{answer_tag(variant, q)}** My answer: the backward signal is scaled by "
                    f"$\\sqrt{{n v_w}}\\,\\sigma'(z) \\le \\tfrac14$ per layer, so it vanishes.")
            cell = {**cell, "source": text}
            if image and k == 0:
                cell["source"] += "\n\n![my sketch](attachment:sketch.png)"
                cell["attachments"] = {"sketch.png": {"image/png": base64.b64encode(png_bytes()).decode()}}
            if script and k == 0:
                cell["source"] += "\n\n<script>document.title = 'PWNED'</script><b>bold?</b>"
        cells.append(cell)
    nb["cells"] = cells
    return nb


def write(nb: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


def export_zip(nb: dict, name: str, path: Path) -> Path:
    """A zip as grader.export() makes it: the notebook under its own name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, json.dumps(nb))
    return path


def class_folder(hw: str, root: Path) -> dict[str, dict]:
    """A folder of submissions for ``hw``: {submission id: what it is}. The solution, written
    variants (one renamed, one in an export zip, one with an image and raw HTML, one with a
    question left unanswered), a broken zip and another assignment's notebook."""
    questions = [q["name"] for q in master_written(hw)]
    solution = json.loads((REPO / "autograder" / hw / f"{hw}.ipynb").read_text())
    solution["metadata"] = json.loads((REPO / "assignments" / hw / f"{hw}.ipynb").read_text())["metadata"]
    other = "hw1" if hw != "hw1" else "hw2"
    cases = {
        f"solution/{hw}.ipynb": {"kind": "solution"},
        f"ann/{hw} (1).ipynb": {"kind": "variant", "variant": "ann", "skip": ()},
        f"ben/{hw}_2026_12_01T10_00_00_000000.zip": {"kind": "variant", "variant": "ben", "skip": (), "zip": True},
        f"cat/{hw}.ipynb": {"kind": "variant", "variant": "cat", "skip": (), "image": True, "script": True},
        f"dan/{hw}.ipynb": {"kind": "variant", "variant": "dan", "skip": (questions[-1],)},
        "eve/broken.zip": {"kind": "invalid"},
        f"fay/{other}.ipynb": {"kind": "invalid"},
    }
    for sid, case in cases.items():
        path = root / sid
        if case["kind"] == "solution":
            write(solution, path)
        elif case["kind"] == "variant":
            nb = written_variant(hw, case["variant"], skip=case["skip"], image=case.get("image", False),
                                 script=case.get("script", False))
            export_zip(nb, f"{hw}.ipynb", path) if case.get("zip") else write(nb, path)
        elif sid.endswith(".zip"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"PK\x03\x04 this is not a zip")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / "assignments" / other / f"{other}.ipynb", path)
    return cases
