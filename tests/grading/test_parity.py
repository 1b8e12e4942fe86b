"""Parity with Gradescope: honest but unusual submissions, each graded by the tool
(``make grade``'s code path, one batch per assignment) and by otter's Gradescope entry
point (``otter.run.run_autograder.main`` on an ``/autograder``-style folder) in the same
grading environment, must agree question by question, and every row is ``graded``:
nothing honest is flagged.

The oracle is otter's own grading, run separately; the redefinition cases also check
that the two orders (right then wrong, wrong then right) get different scores, so a
tool that graded the notebook as it ends could not pass.
"""
from __future__ import annotations

import io
import zipfile

import nbformat
import pytest

import otter_support
from grading.grading_cases import read_gradebook, run_tool

pytestmark = pytest.mark.slow

WRONG_RELU = "def relu(z):\n    return np.abs(z)\n"
IMPORT_ALL = ("import numpy, scipy, scipy.special, scipy.stats, torch, torch.nn.functional as F\n"
              "import matplotlib, matplotlib.pyplot as plt, pandas as pd, sklearn, sklearn.linear_model\n"
              "import tqdm, tqdm.auto\n"
              "print(numpy.__version__, scipy.__version__, torch.__version__, matplotlib.__version__,\n"
              "      pd.__version__, sklearn.__version__, tqdm.__version__)\n")
FIGURES_AND_PRINTS = ("import matplotlib.pyplot as plt\n"
                      "zz = np.linspace(-4, 4, 201)\n"
                      "for k in range(3):\n"
                      "    fig, ax = plt.subplots()\n"
                      "    ax.plot(zz, relu(zz)); ax.set_title(f'figure {k}')\n"
                      "    fig.savefig(f'fig{k}.png'); plt.show()\n"
                      "for i in range(3000):\n"
                      "    print('x' * 1000)\n"
                      "print(np.random.default_rng(0).normal(size=(300, 300)))\n")
HABITS = ("import random, threading, warnings, time\n"
          "from concurrent.futures import ThreadPoolExecutor\n"
          "import torch, pandas as pd\n"
          "np.random.seed(0); random.seed(0); torch.manual_seed(0); rng = np.random.default_rng(1)\n"
          "warnings.filterwarnings('ignore', category=RuntimeWarning)\n"
          "np.set_printoptions(precision=3, suppress=True); np.seterr(all='ignore')\n"
          "pd.set_option('display.max_rows', 10); torch.set_num_threads(1)\n"
          "with ThreadPoolExecutor(2) as pool:\n"
          "    sums = list(pool.map(lambda k: float(np.sum(np.tanh(rng.normal(size=1000)))), range(8)))\n"
          "t = threading.Thread(target=lambda: np.linalg.eigvals(np.eye(50)))\n"
          "t.start(); t.join()\n"
          "from tqdm.auto import tqdm\n"
          "for _ in tqdm(range(100)):\n"
          "    time.sleep(0)\n"
          "print(pd.DataFrame({'z': np.arange(5)}).describe())\n")


def cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def index_of(nb, prefix: str) -> int:
    hits = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.lstrip().startswith(prefix)]
    assert len(hits) == 1, prefix
    return hits[0]


def solution(hw: str):
    return nbformat.read(otter_support.solution_notebook(hw), as_version=4)


def insert_after(nb, prefix: str, source: str):
    nb.cells.insert(index_of(nb, prefix) + 1, nbformat.v4.new_code_cell(source))
    return nb


def hw1_cases() -> dict[str, tuple[str, object]]:
    """name -> (file name, notebook or bytes of a zip)."""
    out = {}
    nb = solution("hw1")
    out["solution, unchanged"] = ("hw1.ipynb", nb)
    out["relu redefined after its check: right then wrong"] = (
        "hw1.ipynb", insert_after(solution("hw1"), 'grader.check("q3_relu")', WRONG_RELU))
    nb = solution("hw1")
    relu_cell = nb.cells[index_of(nb, "def relu(")]
    right = relu_cell.source
    relu_cell.source = right + "\n\n" + WRONG_RELU
    out["relu redefined after its check: wrong then right"] = (
        "hw1.ipynb", insert_after(nb, 'grader.check("q3_relu")', right))
    nb = solution("hw1")
    sig = nb.cells[index_of(nb, "def sigmoid(")]
    sig.source = sig.source.replace("def sigmoid(", "def _sigmoid_impl(", 1) + \
        "\n\ndef sigmoid(z):\n    return _helper(z)\n"
    out["a helper defined after the check"] = (
        "hw1.ipynb", insert_after(nb, 'grader.check("q2_sigmoid")', "_helper = _sigmoid_impl\n"))
    nb = solution("hw1")
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and c.source.lstrip().startswith("grader.check("))]
    out["check cells deleted"] = ("hw1.ipynb", nb)
    out["an exception in a scratch cell"] = ("hw1.ipynb", insert_after(
        solution("hw1"), "import numpy as np", "scratch = [1, 2, 3]\nscratch[10]"))
    out["notebook named 'hw1 (1).ipynb'"] = ("hw1 (1).ipynb", solution("hw1"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hw1.ipynb", nbformat.writes(solution("hw1")))
        z.writestr("notes.txt", "my notes")
        z.writestr("data/points.csv", "z,a\n0,0\n")
    out["an export zip"] = ("hw1_2026_12_01T10_00_00_000000.zip", buf.getvalue())
    out["matplotlib figures and large prints"] = ("hw1.ipynb", insert_after(
        solution("hw1"), 'grader.check("q3_relu")', FIGURES_AND_PRINTS))
    out["imports of every package of the grading environment"] = ("hw1.ipynb", insert_after(
        solution("hw1"), "import numpy as np", IMPORT_ALL))
    out["seeding, threads, warnings, options, tqdm"] = ("hw1.ipynb", insert_after(
        solution("hw1"), "import numpy as np", HABITS))
    # the course package is installed in the instructor's checkout, not on Gradescope
    nb = solution("hw1")
    sig = nb.cells[index_of(nb, "def sigmoid(")]
    sig.source += ("\n\ntry:\n    from activation_course.reference import value_and_grad\n"
                   "    def sigmoid_grad(z):\n        return value_and_grad('sigmoid', z)[1]\n"
                   "except ImportError:\n    pass\n"
                   "def sigmoid_grad(z):\n    from activation_course.reference import value_and_grad\n"
                   "    return value_and_grad('sigmoid', z)[1]\n")
    out["sigmoid_grad through the course package (absent on Gradescope)"] = ("hw1.ipynb", nb)
    return out


def hw3_cases() -> dict[str, tuple[str, object]]:
    nb = solution("hw3")
    first_import = next(c for c in cells(nb) if "import torch" in c.source)
    return {"hw3 solution, unchanged": ("hw3.ipynb", solution("hw3")),
            "hw3: imports of every package, seeding, threads": ("hw3.ipynb", insert_after(
                nb, first_import.source.lstrip()[:30], IMPORT_ALL + HABITS))}


CASES = {"hw1": hw1_cases, "hw3": hw3_cases}


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    out = {}
    for hw, make in CASES.items():
        zip_path = otter_support.autograder_zip(hw)
        if not zip_path.exists():
            continue
        env = otter_support.grading_env(zip_path)
        root = tmp_path_factory.mktemp(f"parity-{hw}")
        subs, files = root / "submissions", {}
        for i, (name, (fname, content)) in enumerate(make().items()):
            path = subs / f"case{i:02d}" / fname
            path.parent.mkdir(parents=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                nbformat.write(content, path)
            files[name] = path
        gradebook = root / "out" / "gradebook.csv"
        proc = run_tool(hw, subs, "--out", gradebook, "--jobs", 2, "--timeout", 300, "--no-progress")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        rows = read_gradebook(gradebook)
        ours = {name: rows[p.relative_to(subs).as_posix()] for name, p in files.items()}
        theirs = otter_support.gradescope_run_many(zip_path, files, env, jobs=2)
        out[hw] = {"ours": ours, "gradescope": theirs, "max": otter_support.max_scores(hw)}
    if not out:
        pytest.skip("no autograder zips (run `make assign`)")
    return out


def all_cases():
    return [(hw, name) for hw, make in CASES.items() for name in make()]


@pytest.mark.parametrize("hw, name", all_cases())
def test_same_score_as_gradescope_question_by_question(parity, hw, name):
    if hw not in parity:
        pytest.skip(f"{hw}: no autograder zip")
    row, gs, maxima = parity[hw]["ours"][name], parity[hw]["gradescope"][name], parity[hw]["max"]
    assert row["status"] == "graded", row            # never flagged, never an error
    assert sorted(gs) == sorted(maxima), gs
    ours = {q: float(row[q]) for q in maxima}
    assert ours == pytest.approx(gs, abs=1e-6), (name, ours, gs)
    print(f"{hw} | {name} | {float(row['total']):g} | {sum(gs.values()):g}")


def test_the_cases_tell_check_time_from_end_of_notebook(parity):
    """Graded at the check cell: right-then-wrong keeps relu's points, wrong-then-right and
    the late helper lose them (graded as the notebook ends, it would be the reverse)."""
    gs, maxima = parity["hw1"]["gradescope"], parity["hw1"]["max"]
    assert gs["relu redefined after its check: right then wrong"]["q3_relu"] == maxima["q3_relu"]
    assert gs["relu redefined after its check: wrong then right"]["q3_relu"] < maxima["q3_relu"]
    assert gs["a helper defined after the check"]["q2_sigmoid"] < maxima["q2_sigmoid"]
    assert gs["check cells deleted"] == pytest.approx(maxima)
    assert gs["sigmoid_grad through the course package (absent on Gradescope)"]["q2_sigmoid"] < maxima["q2_sigmoid"]
