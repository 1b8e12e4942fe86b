"""Intake: find submissions, read and check each one without running any of it.

A submission is a notebook or the zip that ``grader.export()`` makes. Anything that cannot
be graded as it stands (not a notebook, empty, a broken or unsafe zip, a notebook for
another assignment) raises ``Invalid`` with the reason its row will give.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .assignment import AutograderZip, ToolError

MAX_SUBMISSION_BYTES = 100 * 2**20
MAX_ZIP_TOTAL = 200 * 2**20
MAX_ZIP_MEMBERS = 2000


@dataclass
class Submission:
    id: str
    path: Path

    @property
    def slug(self) -> str:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", self.id)[-80:]
        return f"{base}-{hashlib.sha1(self.id.encode()).hexdigest()[:8]}"


def discover(paths: list[str], exclude: list[Path] = ()) -> tuple[list[Submission], int]:
    """Submissions under ``paths``: .ipynb and .zip files, recursively in folders
    (hidden folders, checkpoints and __MACOSX skipped); a file named explicitly is
    taken whatever its extension. Returns (submissions, number of other files ignored)."""
    subs, ignored, seen = [], 0, set()
    excluded = [p.resolve() for p in exclude]
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                subs.append(Submission(id=p.name, path=p))
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith(".") or part in ("__MACOSX", "__pycache__") for part in rel.parts):
                    continue
                if any(f.resolve() == e or e in f.resolve().parents for e in excluded):
                    continue
                if not f.is_file():
                    continue
                if f.suffix.lower() not in (".ipynb", ".zip"):
                    ignored += 1
                    continue
                key = f.resolve()
                if key not in seen:
                    seen.add(key)
                    subs.append(Submission(id=rel.as_posix(), path=f))
        else:
            raise ToolError(f"no such file or folder: {raw}")
    ids = [s.id for s in subs]
    for s in subs:  # two files named alike in different places: keep ids unique
        if ids.count(s.id) > 1:
            s.id = str(s.path)
    return subs, ignored


class Invalid(Exception):
    """The submission cannot be graded as it stands (its row says why)."""


@dataclass
class Prepared:
    notebook: dict
    extra_files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    shadowing: list[str] = field(default_factory=list)
    filename: str = ""   # the notebook's own file name, kept as Gradescope keeps it


def notebook_filename(name: str, a: AutograderZip) -> str:
    base = Path(name).name
    if not base.lower().endswith(".ipynb") or base.startswith(".") or "/" in base or "\\" in base:
        return f"{a.name}.ipynb"
    return base


def _safe_member(name: str) -> bool:
    parts = Path(name).parts
    return not (name.startswith(("/", "\\")) or ".." in parts or ":" in name)


@dataclass
class Raw:
    """A submission read and checked with the standard library only (no nbformat yet)."""
    text: str
    extra_files: dict[str, bytes]
    notes: list[str]
    filename: str


def read(sub: Submission, a: AutograderZip) -> Raw:
    """The quick checks (size, zip, UTF-8, JSON with a list of cells, the assignment's
    name), fast enough to run before a kernel is started."""
    notes: list[str] = []
    extra: dict[str, bytes] = {}
    try:
        size = sub.path.stat().st_size
    except OSError as e:
        raise Invalid(f"cannot read the file: {e.strerror}") from None
    if size == 0:
        raise Invalid("empty file")
    if size > MAX_SUBMISSION_BYTES:
        raise Invalid(f"file too large ({size / 2**20:.0f} MiB > {MAX_SUBMISSION_BYTES // 2**20} MiB)")
    data = sub.path.read_bytes()
    filename = notebook_filename(sub.path.name, a)
    if zipfile.is_zipfile(io.BytesIO(data)):
        data, extra, zip_notes, member = _from_zip(data, a)
        notes += zip_notes
        filename = notebook_filename(member, a)
    elif sub.path.suffix.lower() == ".zip":
        raise Invalid("named .zip but not a zip archive")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("not a notebook: not UTF-8 text (a binary file?)") from None
    if not text.strip():
        raise Invalid("empty file")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise Invalid(f"not a notebook: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        raise Invalid("not a notebook: JSON without a list of cells")
    meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    otter_meta = meta.get("otter") if isinstance(meta.get("otter"), dict) else {}
    got = otter_meta.get("assignment_name")
    if got and got != a.name:
        raise Invalid(f"a notebook for assignment {got!r}, not {a.name!r}")
    return Raw(text=text, extra_files=extra, notes=notes, filename=filename)


def prepare(sub: Submission, a: AutograderZip, has_module=lambda name: False, raw: Raw | None = None) -> Prepared:
    """Read and check a submission without running any of it (``read``, then nbformat's
    own validation). ``has_module(name)``: is ``name`` importable in the grading
    environment (a shipped file of that name would shadow it)?"""
    raw = raw or read(sub, a)
    notes, extra, filename = list(raw.notes), dict(raw.extra_files), raw.filename
    nb = _parse_notebook(raw.text)
    meta = nb.setdefault("metadata", {})
    otter_meta = meta.get("otter") if isinstance(meta.get("otter"), dict) else {}
    got = otter_meta.get("assignment_name")
    if got and got != a.name:
        raise Invalid(f"a notebook for assignment {got!r}, not {a.name!r}")
    if not got:
        notes.append("notebook metadata names no assignment")
    ks = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    if ks.get("name") != "python3":
        notes.append(f"kernel {ks.get('name')!r} replaced by the course's python3" if ks.get("name")
                     else "no kernelspec; graded with the course's python3")
    meta["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    shadowing = []
    for name in list(extra):
        top = Path(name).parts[0]
        stem = top[:-3] if top.endswith(".py") else top
        if name.endswith((".py", ".pyc", ".so", ".pth")) and stem.isidentifier() and (
                stem in sys.stdlib_module_names or stem in sys.builtin_module_names
                or has_module(stem) or (a.files_dir / f"{stem}.py").is_file()
                or (a.files_dir / stem / "__init__.py").is_file()):
            shadowing.append(name)
            del extra[name]
    extra.pop(filename, None)
    return Prepared(notebook=nb, extra_files=extra, notes=notes, shadowing=shadowing, filename=filename)


def _from_zip(data: bytes, a: AutograderZip) -> tuple[bytes, dict[str, bytes], list[str], str]:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in z.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise Invalid(f"broken zip archive ({e})") from None
    if len(infos) > MAX_ZIP_MEMBERS:
        raise Invalid(f"zip has {len(infos)} files (more than {MAX_ZIP_MEMBERS})")
    if sum(i.file_size for i in infos) > MAX_ZIP_TOTAL:
        raise Invalid(f"zip expands to more than {MAX_ZIP_TOTAL // 2**20} MiB")
    bad = [i.filename for i in infos if not _safe_member(i.filename)]
    if bad:
        raise Invalid(f"zip member with an unsafe path: {bad[0]!r}")
    usable = [i for i in infos if not any(p.startswith(".") or p == "__MACOSX"
                                          for p in Path(i.filename).parts)]
    nbs = [i for i in usable if i.filename.lower().endswith(".ipynb")]
    if not nbs:
        raise Invalid("zip holds no notebook")
    if len(nbs) > 1:
        named = [i for i in nbs if Path(i.filename).name == f"{a.name}.ipynb"]
        if len(named) != 1:
            raise Invalid(f"zip holds {len(nbs)} notebooks: {', '.join(i.filename for i in nbs[:4])}")
        nbs = named
    try:
        nb_bytes = z.read(nbs[0])
        extra = {}
        for i in usable:
            if i is nbs[0] or i.filename.lower().endswith(".pdf"):
                continue
            extra[i.filename] = z.read(i)
    except Exception as e:  # CRC errors, unsupported compression, truncated data
        raise Invalid(f"cannot read the zip's contents ({e})") from None
    notes = [f"from zip ({nbs[0].filename}" + (f" + {len(extra)} file(s))" if extra else ")")]
    return nb_bytes, extra, notes, nbs[0].filename


def _parse_notebook(text: str) -> dict:
    import nbformat

    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:
        raise Invalid(f"not a readable notebook ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(nb.get("cells"), list):
        raise Invalid("not a notebook: no cells")
    for cell in nb.cells:
        if not isinstance(cell.get("source", ""), str):
            raise Invalid("not a notebook: a cell's source is not text")
    return json.loads(nbformat.writes(nb))
