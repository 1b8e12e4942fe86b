"""Assignment 2 (backprop, vanishing/exploding gradients, initialization): fast checks.

The autograder's own test files (read from the committed zip) are run in-process
against the solution and against every implementation in ``hw2_variants``: a quick
version of the otter suite in ``test_hw2_autograder.py``. Also: points, the student
API, the provided activations, and that the statistical and experimental thresholds
of the hidden tests hold for correct code whatever random stream it draws.
"""
from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hw2_variants import RIGHT, WRONG  # noqa: E402

from activation_course import reference  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HW = "hw2"
MASTER = REPO / "solutions" / HW / f"{HW}.ipynb"
SOLUTION = REPO / "autograder" / HW / f"{HW}.ipynb"
STUDENT = REPO / "assignments" / HW / f"{HW}.ipynb"
ZIP = REPO / "autograder" / HW / f"{HW}-autograder.zip"

API = {
    "mlp_forward": "(x, Ws, act)",
    "mlp_backward": "(dL_dy, cache, Ws, act_grad)",
    "grad_norms": "(grads)",
    "preactivation_variance": "(n_in, var_w, second_moment)",
    "xavier_normal": "(n_out, n_in, rng)",
    "he_normal": "(n_out, n_in, rng)",
    "depth_experiment": "(act, act_grad, init, depth, width, batch, rng)",
}


def _cells(path):
    return json.loads(Path(path).read_text())["cells"]


def _src(cell):
    return "".join(cell["source"])


def _questions():
    out = {}
    for c in _cells(MASTER):
        if c["cell_type"] == "raw" and _src(c).startswith("# BEGIN QUESTION"):
            cfg = yaml.safe_load(_src(c).split("\n", 1)[1])
            out[cfg["name"]] = cfg
    return out


def _zip_tests():
    """{question: [test cases]} from the committed autograder zip, read by otter's own class."""
    from otter.test_files.ok_test import OKTestFile
    tests = {}
    with zipfile.ZipFile(ZIP) as z:
        for name in sorted(z.namelist()):
            if name.startswith("tests/") and name.endswith(".py"):
                mod: dict = {}
                exec(z.read(name).decode(), mod)
                tf = OKTestFile.from_spec(mod["test"], path=name)
                tests[tf.name] = tf.test_cases
    return tests


def _run_case(tc, env: dict) -> tuple[bool, str]:
    """One OK-format case run as otter runs it (a doctest in the notebook's globals), with the
    zip's helper modules (hw2_checks, hw2_oracle) importable: (passed, otter's failure text)."""
    from otter.test_files.ok_test import run_doctest
    return run_doctest(tc.name, tc.body, env)


def _zip_helpers() -> None:
    """Make the zip's helper modules (files/hw2_checks.py, files/hw2_oracle.py) importable,
    as otter does by copying them next to the submission."""
    import atexit
    import shutil
    import tempfile
    where = Path(tempfile.mkdtemp(prefix="hw2-files-"))
    atexit.register(shutil.rmtree, where, True)
    with zipfile.ZipFile(ZIP) as z:
        for name in z.namelist():
            if name.startswith("files/") and name.endswith(".py"):
                (where / Path(name).name).write_bytes(z.read(name))
    sys.path.insert(0, str(where))


if ZIP.exists():
    _zip_helpers()
TESTS = _zip_tests() if ZIP.exists() else {}


def _environment(extra: str = "") -> dict:
    """The graded notebook's global namespace: its code cells as otter runs them, then ``extra``."""
    env: dict = {"__name__": "__main__"}
    for c in _cells(SOLUTION):
        src = _src(c)
        if (c["cell_type"] != "code" or "otter_ignore" in c.get("metadata", {}).get("tags", [])
                or "otter" in src.split("\n", 1)[0].lower() or "grader." in src):
            continue
        exec(compile(src, "<hw2 cell>", "exec"), env)
    if extra:
        exec(compile(extra, "<variant>", "exec"), env)
    return env


def _grade(env: dict, only=None) -> dict[str, float]:
    """Score per question, as otter adds it up: the points of the cases that pass."""
    scores = {}
    for q, cases in TESTS.items():
        if only and q not in only:
            continue
        total = 0.0
        for tc in cases:
            if _run_case(tc, env)[0]:
                total += tc.points
        scores[q] = total
    return scores


@pytest.fixture(scope="module")
def full_marks():
    return {q: float(sum(tc.points for tc in cases)) for q, cases in TESTS.items()}


def test_points_add_up_to_100(full_marks):
    qs = _questions()
    assert sum(q["points"] for q in qs.values()) == 100
    auto = {name: q["points"] for name, q in qs.items() if not q.get("manual")}
    assert full_marks == pytest.approx({k: float(v) for k, v in auto.items()})
    assert all(re.fullmatch(r"q\d+_[a-z0-9_]+", name) for name in qs), sorted(qs)
    # Every question states its points in its heading.
    text = "\n".join(_src(c) for c in _cells(MASTER) if c["cell_type"] == "markdown")
    for name, q in qs.items():
        number = name.split("_")[0][1:]
        assert re.search(rf"## Q{number}\..*\({q['points']} points", text), f"{name}: points not stated"


def test_student_notebook_has_the_api_and_no_answers():
    cells = _cells(STUDENT)
    text = "\n".join(_src(c) for c in cells)
    for name, sig in API.items():
        assert f"def {name}{sig}:" in text, f"student notebook lacks def {name}{sig}"
    answers = [_src(c) for c in cells if "otter_answer_cell" in c.get("metadata", {}).get("tags", [])
               and c["cell_type"] == "code"]
    assert len(answers) == len(API)
    for ans in answers:
        body = [ln for ln in ans.splitlines()[1:] if ln.strip() and not ln.strip().startswith(('"""', "``"))]
        assert body[-1].strip() == "...", f"answer cell is not a stub:\n{ans}"


@pytest.fixture(scope="module")
def provided():
    return _environment()


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "swish", "mish"])
def test_provided_activations_match_reference(provided, name):
    act, act_grad = provided["get_activation"](name)
    z = np.concatenate([np.linspace(-30, 30, 241), [0.0, -1e-8, 1e-8, 700.0, -700.0]]).reshape(-1, 1)
    keep = z.copy()
    f_ref, df_ref = reference.value_and_grad(name, z)
    with np.errstate(all="raise"):
        f, df = act(z), act_grad(z)
    assert np.array_equal(z, keep)
    np.testing.assert_allclose(f, f_ref, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(df, df_ref, rtol=1e-12, atol=1e-300)
    assert f.shape == df.shape == z.shape
    z32 = z.astype(np.float32)
    assert act(z32).dtype == np.float32 and act_grad(z32).dtype == np.float32
    if name == "relu":
        assert act_grad(np.array(0.0)) == 1.0  # the note's convention at the kink


def test_provided_activation_rejects_unknown_names(provided):
    with pytest.raises(ValueError, match="unknown activation 'gelu'; choose one of sigmoid, tanh"):
        provided["get_activation"]("gelu")


def test_solution_scores_full_marks_in_process(full_marks):
    assert _grade(_environment()) == full_marks


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_implementation_loses_points_on_its_question(name, full_marks):
    question, may_also_lose, code = WRONG[name]
    scores = _grade(_environment(code))
    assert scores[question] < full_marks[question], f"{name} keeps full marks on {question}"
    for q, s in scores.items():
        if q != question and q not in may_also_lose:
            assert s == full_marks[q], f"{name} also loses points on {q} ({s}/{full_marks[q]})"


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_correct_alternative_keeps_full_marks_in_process(name, full_marks):
    assert _grade(_environment(RIGHT[name])) == full_marks


def test_thresholds_hold_for_other_random_streams():
    """Correct code that draws a different (but honest) random stream still passes.

    Students may draw weights in another order or layout than the solution, which
    amounts to other samples from the same distributions. Rerun the initializer tests
    and the experiment's property tests with functions that draw from a child
    generator seeded by the rng passed in: the statistical tolerances and the
    experiment's thresholds must hold for every one of these streams.
    """
    env = _environment()
    xavier, he, experiment = env["xavier_normal"], env["he_normal"], env["depth_experiment"]
    cases = [tc for q in ("q6_xavier_normal", "q7_he_normal") for tc in TESTS[q]]
    cases += [tc for tc in TESTS["q8_depth_experiment"]
              if re.search(r"check_depth_experiment_(sigmoid_vanishes|tanh|relu_family)\(", tc.body)]
    assert len(cases) == 11
    for k in range(12):
        def child(rng, k=k):
            return np.random.default_rng([k, int(rng.integers(2**32))])
        env["xavier_normal"] = lambda o, i, rng, k=k: xavier(o, i, child(rng, k))
        env["he_normal"] = lambda o, i, rng, k=k: he(o, i, child(rng, k))
        env["depth_experiment"] = lambda *args, k=k: experiment(*args[:-1], child(args[-1], k))
        for tc in cases:
            passed, message = _run_case(tc, env)
            assert passed, message  # otter's report, with the check's message, if a threshold fails
