"""Grade notebooks through the real autograder (``otter run`` with the committed zip).

The wrong-implementation suites build notebook variants from the generated
solution notebook and grade them exactly as an instructor would, so a test only
passes if the shipped autograder itself tells right from wrong.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent


def autograder_zip(hw: str) -> Path:
    return REPO / "autograder" / hw / f"{hw}-autograder.zip"


def solution_notebook(hw: str) -> Path:
    return REPO / "autograder" / hw / f"{hw}.ipynb"


def student_notebook(hw: str) -> Path:
    return REPO / "assignments" / hw / f"{hw}.ipynb"


def variant(hw: str, code: str, dest: Path, base: Path | None = None) -> Path:
    """The solution notebook with ``code`` appended as a last cell.

    The appended cell redefines one or more student functions. otter grades a
    question when its ``grader.check`` cell runs and keeps that result, so the
    notebook's own ``grader.check`` cells are removed: every question is then
    graded after the last cell, and sees the variant. The notebook is written to
    ``dest`` under the assignment's file name (otter expects it).
    """
    nb = nbformat.read(base or solution_notebook(hw), as_version=4)
    nb.cells = [c for c in nb.cells
                if not (c.cell_type == "code" and c.source.lstrip().startswith("grader.check("))]
    nb.cells.append(nbformat.v4.new_code_cell(code))
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{hw}.ipynb"
    nbformat.write(nb, out)
    return out


def otter_run(hw: str, notebook: Path, timeout: float = 600) -> dict[str, float]:
    """Grade one notebook with ``otter run``; return {question: score} (no 'Public Tests')."""
    from course_tools.processes import subprocess_env

    with tempfile.TemporaryDirectory(prefix=f"otter-run-{hw}-") as out:
        env = subprocess_env(bin_dir=Path(sys.executable).parent)
        proc = subprocess.run(
            [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(autograder_zip(hw)),
             "-o", out, str(notebook)],
            capture_output=True, text=True, timeout=timeout, env=env,
        )
        results = Path(out) / "results.json"
        if not results.exists():
            raise RuntimeError(f"otter run wrote no results for {notebook}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        data = json.loads(results.read_text())
    return {t["name"]: float(t.get("score") or 0.0) for t in data["tests"] if "max_score" in t}


def otter_run_many(hw: str, notebooks: dict[str, Path], jobs: int | None = None) -> dict[str, dict[str, float]]:
    """Grade several notebooks, ``jobs`` at a time (default: the number of cores)."""
    jobs = jobs or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {name: pool.submit(otter_run, hw, path) for name, path in notebooks.items()}
        return {name: f.result() for name, f in futures.items()}


def max_scores(hw: str) -> dict[str, float]:
    """Points per question, read from the autograder zip's test files by otter's own
    test-file classes (OK-format and exception-format alike): the suites' one reader."""
    import zipfile

    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(autograder_zip(hw)) as z:
            z.extractall(tmp)
        return {tf.name: float(tf.possible) for tf in
                (create_test_file(str(p), NBMetadataConfig()) for p in sorted(Path(tmp, "tests").glob("*.py")))}


# ----------------------------------------------------------- packing many items into few runs
# An otter run costs seconds, so the wrong-implementation suites pack several items
# (mutants or rewrites) into one notebook: each item is graded in its own copy of the
# notebook's globals, and items that share a question never share a notebook.

@dataclass(frozen=True)
class Mutant:
    """A deliberately wrong implementation: ``code`` must lose points on ``question``."""
    id: str
    question: str
    mistake: str
    code: str


@dataclass(frozen=True)
class Rewrite:
    """A correct implementation written differently: keeps full marks on ``questions``."""
    id: str
    questions: tuple[str, ...]
    style: str
    code: str


def questions_of(item) -> tuple[str, ...]:
    """The questions an item targets: ``item.question`` (a mutant) or ``item.questions``."""
    return (item.question,) if hasattr(item, "question") else tuple(item.questions)


def pack(items) -> list[list]:
    """Greedy packing: items that share a question never share a notebook. (Each item is
    graded in its own copy of the globals, on its own questions only, so a mistake that
    a later question's tests would also call cannot cost that question here.)"""
    rounds: list[tuple[set, list]] = []
    for item in items:
        qs = set(questions_of(item))
        for used, members in rounds:
            if not used & qs:
                used |= qs
                members.append(item)
                break
        else:
            rounds.append((qs, [item]))
    return [members for _, members in rounds]


def graded_cell(item) -> str:
    """A notebook cell that grades ``item`` in its own copy of the notebook's globals."""
    checks = "".join(f"grader.check({q!r}, global_env=_item_ns)\n" for q in questions_of(item))
    return (f"# {type(item).__name__} {item.id}\n"
            f"_item_ns = dict(globals())\n"
            f"exec(compile({item.code!r}, {('<' + item.id + '>')!r}, 'exec'), _item_ns)\n"
            + checks)


def packed_notebook(hw: str, items, dest: Path) -> Path:
    """The solution notebook with one graded cell per item appended (via ``variant``)."""
    nb = None
    for item in items:
        nb = variant(hw, graded_cell(item), dest, base=nb)
    return nb


def answer_pairs(student, solution) -> list[tuple[dict, dict]]:
    """(student answer cell, solution cell) in order. A model answer (tag ``model_answer``)
    is a solution cell that otter drops from the student notebook: it has no answer cell."""
    def tagged(nb, tag):
        return [c for c in nb["cells"] if tag in c["metadata"].get("tags", [])
                and "model_answer" not in c["metadata"].get("tags", [])]
    answers, solutions = tagged(student, "otter_answer_cell"), tagged(solution, "otter_assign_solution_cell")
    assert answers and len(answers) == len(solutions), "answer cells and solution cells do not pair up"
    return list(zip(answers, solutions))


def pasted_student_notebook(hw: str, dest: Path) -> Path:
    """The student notebook with the solution code pasted into its answer cells, in order."""
    solution = nbformat.read(solution_notebook(hw), as_version=4)
    student = nbformat.read(student_notebook(hw), as_version=4)
    for cell, sol in answer_pairs(student, solution):
        cell.source = sol.source
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{hw}.ipynb"
    nbformat.write(student, out)
    return out


class Catalogue:
    """Mutants and rewrites of one assignment, packed into as few notebooks as possible.

    ``round_of`` maps each item's id to the notebook that grades it; ``notebooks(root)``
    writes the packed notebooks plus the student notebook with the solutions pasted in.
    """

    def __init__(self, hw: str, mutants, rewrites):
        self.hw = hw
        self.mutant_rounds, self.rewrite_rounds = pack(mutants), pack(rewrites)
        self.round_of = {item.id: f"{kind}-{i}"
                         for kind, rounds in (("mutants", self.mutant_rounds), ("rewrites", self.rewrite_rounds))
                         for i, members in enumerate(rounds) for item in members}

    def notebooks(self, root: Path, with_solution: bool = False) -> dict[str, Path]:
        notebooks = {"pasted-student": pasted_student_notebook(self.hw, root / "pasted-student")}
        if with_solution:
            notebooks["solution"] = solution_notebook(self.hw)
        for kind, rounds in (("mutants", self.mutant_rounds), ("rewrites", self.rewrite_rounds)):
            for i, items in enumerate(rounds):
                notebooks[f"{kind}-{i}"] = packed_notebook(self.hw, items, root / f"{kind}-{i}")
        return notebooks

    def grade(self, root: Path, with_solution: bool = False) -> dict[str, dict[str, float]]:
        """Every notebook through the real autograder, in parallel; a score table for ``-s``."""
        import time

        notebooks = self.notebooks(root, with_solution)
        start = time.perf_counter()
        graded = otter_run_many(self.hw, notebooks)
        print(f"\n{self.hw}: graded {len(notebooks)} notebooks in {time.perf_counter() - start:.1f} s")
        for item in [m for r in self.mutant_rounds for m in r] + [w for r in self.rewrite_rounds for w in r]:
            got = ", ".join(f"{q} {graded[self.round_of[item.id]][q]:g}" for q in questions_of(item))
            print(f"  {type(item).__name__.lower():8s} {item.id:36s} {got}")
        return graded

    # --- the checks every assignment's suite makes (hidden tests decide the grade)
    def mutant_score(self, graded, mutant) -> float:
        return graded[self.round_of[mutant.id]][mutant.question]

    def lost_elsewhere(self, graded, maxima, i: int) -> dict[str, float]:
        """Questions that no mutant of round ``i`` targets, yet lost points."""
        allowed = {q for m in self.mutant_rounds[i] for q in questions_of(m)}
        return {q: s for q, s in graded[f"mutants-{i}"].items() if q not in allowed and s < maxima[q]}

    def rewrite_lost(self, graded, maxima, rewrite) -> dict[str, float]:
        scores = graded[self.round_of[rewrite.id]]
        return {q: scores[q] for q in rewrite.questions if scores[q] < maxima[q]}


# ----------------------------------------------------------- Gradescope's own entry point
def grading_env(hw_zip: Path):
    """The grading environment the zip's environment.yml declares (the tool's cached venv)."""
    import zipfile

    from course_tools.grading.environment import ensure_env
    return ensure_env(zipfile.ZipFile(hw_zip).read("environment.yml").decode())


def gradescope_run(hw_zip: Path, submission: Path, env, timeout: float = 600) -> dict[str, float]:
    """Grade one submission as Gradescope does: otter's ``run_autograder.main`` on an
    ``/autograder``-style folder (source/ = the zip, submission/ = the uploaded file, an
    uploaded zip extracted), run by the grading environment's interpreter.
    Returns {question: score}."""
    import shutil
    import zipfile

    from course_tools.processes import subprocess_env

    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        ag = Path(tmp)
        (ag / "results").mkdir()
        with zipfile.ZipFile(hw_zip) as z:
            z.extractall(ag / "source")
        sub = ag / "submission"
        sub.mkdir()
        if zipfile.is_zipfile(submission):
            with zipfile.ZipFile(submission) as z:
                z.extractall(sub)
        else:
            shutil.copy(submission, sub / submission.name)
        proc = subprocess.run([str(env.python), "-c", "import sys\nfrom otter.run.run_autograder import main\n"
                               "main(sys.argv[1])", str(ag)], cwd=ag, capture_output=True, text=True,
                              timeout=timeout, env=subprocess_env(bin_dir=env.bin_dir, drop_python_vars=True,
                                                                 MPLBACKEND=None))
        results = ag / "results" / "results.json"
        if not results.exists():
            raise RuntimeError(f"run_autograder wrote no results for {submission}:\n"
                               f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        data = json.loads(results.read_text())
    return {t["name"]: float(t.get("score") or 0.0) for t in data["tests"] if "max_score" in t}


def gradescope_run_many(hw_zip: Path, submissions: dict[str, Path], env, jobs: int | None = None):
    jobs = jobs or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {name: pool.submit(gradescope_run, hw_zip, path, env) for name, path in submissions.items()}
        return {name: f.result() for name, f in futures.items()}
