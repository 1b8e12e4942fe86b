"""Generate student notebooks and autograder zips from the otter-assign masters.

``make assign`` runs ``python -m course_tools assign [HW...]``. For every master
notebook ``solutions/<hw>/<hw>.ipynb`` it runs ``otter assign`` (which also
checks that the solutions score 100%) into a scratch folder and then writes, with
stable names and byte-stable contents:

* ``assignments/<hw>/``: the student notebook and any support files;
* ``autograder/<hw>/<hw>-autograder.zip``: the zip for ``otter run``, ``otter grade``
  and Gradescope (otter puts a timestamp in its name; we drop it);
* ``autograder/<hw>/<hw>.ipynb``: the solution notebook, for instructors;
* ``autograder/<hw>/otter_config.json`` and any support files the master lists.

``autograder/<hw>/`` and ``assignments/<hw>/`` are wholly generated: both are
emptied first.

Generated notebooks get deterministic cell ids and zips get fixed member dates, so
regenerating an unchanged master rewrites identical bytes and a diff means the
master changed. ``--check`` regenerates into a temporary folder and lists every
generated file that differs from the committed one (the staleness test uses it); it
exits 1 when any does (``course_tools.exits``). The course is ``settings.course()``: the
checkout, or ``$COURSE_ROOT`` / ``python -m course_tools --root DIR``.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from . import points
from .exits import CannotRun, Problems
from .processes import subprocess_env
from .settings import Course, course

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
log = logging.getLogger(__name__)


def masters(where: Course | None = None) -> dict[str, Path]:
    """Map assignment name -> master notebook, for every ``solutions/<hw>/<hw>.ipynb`` of
    the course (``settings.course()`` unless given)."""
    return (where or course()).masters()


def _normalise_notebook(path: Path) -> None:
    """Give cells deterministic ids and drop run-to-run noise, in place."""
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb.get("cells", [])):
        cell["id"] = f"cell-{i:03d}"
        if cell.get("cell_type") == "code":
            cell["execution_count"] = None
            cell["outputs"] = []
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def _rewrite_zip(src: Path, dest: Path) -> None:
    """Copy a zip with sorted members, fixed dates and fixed modes (byte-stable)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in sorted(zin.namelist()):
            if name.endswith("/"):
                continue
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            mode = 0o755 if name in ("run_autograder", "setup.sh") else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, zin.read(name))


def _otter() -> list[str]:
    return [sys.executable, "-m", "otter"]


def generate(hw: str, master: Path, student_dir: Path, autograder_dir: Path) -> None:
    """Run otter assign on one master and lay its outputs out under stable names.

    Refuses first, naming each question, when a master states a question's points in
    two ways that disagree (``points.problems``): otter would silently use one of them.
    """
    disagreements = points.check_master(master)
    if disagreements:
        raise Problems(f"{master}: points disagree with the questions' `points:` configs:\n  "
                       + "\n  ".join(disagreements))
    with tempfile.TemporaryDirectory(prefix=f"assign-{hw}-") as tmp:
        dist = Path(tmp) / "dist"
        proc = subprocess.run(
            _otter() + ["assign", "--no-pdfs", str(master), str(dist)],
            cwd=master.parent, env=subprocess_env(bin_dir=Path(sys.executable).parent), capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise Problems(f"otter assign failed for {hw} (exit {proc.returncode}):\n"
                           + proc.stdout[-20000:] + proc.stderr[-20000:])

        if student_dir.exists():
            shutil.rmtree(student_dir)
        shutil.copytree(dist / "student", student_dir)
        for nb in student_dir.rglob("*.ipynb"):
            _normalise_notebook(nb)

        if autograder_dir.exists():
            shutil.rmtree(autograder_dir)
        autograder_dir.mkdir(parents=True)
        for item in sorted((dist / "autograder").iterdir()):
            if item.suffix == ".zip":
                _rewrite_zip(item, autograder_dir / f"{hw}-autograder.zip")
            elif item.is_file():
                shutil.copy2(item, autograder_dir / item.name)
                if item.suffix == ".ipynb":
                    _normalise_notebook(autograder_dir / item.name)
            else:
                shutil.copytree(item, autograder_dir / item.name, dirs_exist_ok=True)


def generated_files(student_dir: Path, autograder_dir: Path, hw: str) -> dict[str, bytes]:
    """Everything ``generate`` writes for one assignment, keyed by a display path."""
    files = {}
    for p in sorted(student_dir.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            files[f"assignments/{hw}/{p.relative_to(student_dir)}"] = p.read_bytes()
    for p in sorted(autograder_dir.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            files[f"autograder/{hw}/{p.relative_to(autograder_dir)}"] = p.read_bytes()
    return files


def _zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def stale_files(only: list[str] | None = None, where: Course | None = None) -> list[str]:
    """Regenerate into a scratch folder; return the committed files that differ."""
    where = where or course()
    problems = []
    with tempfile.TemporaryDirectory(prefix="assign-check-") as tmp:
        for hw, master in where.masters().items():
            if only and hw not in only:
                continue
            sdir, adir = Path(tmp) / "assignments" / hw, Path(tmp) / "autograder" / hw
            log.info("otter assign %s (check) ...", master.relative_to(where.root))
            generate(hw, master, sdir, adir)
            fresh = generated_files(sdir, adir, hw)
            committed = generated_files(where.student_dir(hw), where.autograder_dir(hw), hw)
            for name in sorted(set(fresh) | set(committed)):
                if name not in committed:
                    problems.append(f"{name}: missing (run `make assign`)")
                elif name not in fresh:
                    problems.append(f"{name}: no longer generated (delete it or run `make assign`)")
                elif fresh[name] != committed[name]:
                    detail = ""
                    if name.endswith(".zip"):
                        a, b = _zip_members(fresh[name]), _zip_members(committed[name])
                        changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                        detail = f" (members differ: {', '.join(changed)})"
                    problems.append(f"{name}: stale, differs from its master{detail} (run `make assign`)")
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``assign`` command's arguments."""
    parser.add_argument("hw", nargs="*", help="assignments to generate (default: all in solutions/)")
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary folder and report stale committed files (exit 1)")


def run(args: argparse.Namespace) -> int:
    """``python -m course_tools assign [HW...] [--check]``."""
    where = course()
    found = where.masters()
    unknown = [h for h in args.hw if h not in found]
    if unknown:
        raise CannotRun(f"no master notebook for {unknown} in {where.solutions}; have {sorted(found)}")
    if args.check:
        problems = stale_files(args.hw or None, where)
        for p in problems:
            print(p)
        print("generated files are up to date" if not problems else f"{len(problems)} stale file(s)")
        return 1 if problems else 0
    for hw, master in found.items():
        if args.hw and hw not in args.hw:
            continue
        log.info("otter assign %s ...", master.relative_to(where.root))
        generate(hw, master, where.student_dir(hw), where.autograder_dir(hw))
        print(f"{hw} -> assignments/{hw}/, autograder/{hw}/{hw}-autograder.zip", flush=True)
    return 0


if __name__ == "__main__":   # the one entry point is python -m course_tools
    import sys
    print("usage: python -m course_tools assign ... (see python -m course_tools --help)", file=sys.stderr)
    raise SystemExit(2)
