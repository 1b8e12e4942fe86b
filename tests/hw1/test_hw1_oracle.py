"""Fast checks of Assignment 1's test helpers (solutions/hw1/hw1_oracle.py, the hidden
checks, and hw1_checks.py, the public ones), without otter.

The oracle's closed forms must agree with torch autograd in float64 (written
here, from each activation's definition); its checks must pass sound
implementations and fail broken ones with a message that names the problem. Every
test cell of the master is one import and calls into a helper (tests/check_cells.py):
run in process, they pass the solution and every rewrite of ``hw1_catalogue``, and each
of its mutants fails a cell of its question with a message. Also: the autograder zip
ships the oracle but none of the solution's source, and the points add up.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import expit

from check_cells import calls, run, solution_env
from otter_support import autograder_zip, max_scores, solution_notebook

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("hw1_oracle", REPO / "solutions" / "hw1" / "hw1_oracle.py")
O = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = O
_spec.loader.exec_module(O)

Z = np.array([-30.0, -5.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 2.0, 10.0, 30.0])


# ------------------------------------------------------------ the oracle against torch autograd

def _autograd(name, z, a=0.25, beta=1.0, upstream=None):
    """f, df/dz and df/dbeta or dL/da by torch autograd in float64, each activation
    written from its definition (the independent check on the oracle's closed forms)."""
    z64 = np.array(z, dtype=np.float64)
    zt = torch.tensor(z64, requires_grad=True)
    wrt = [zt]
    if name == "prelu":
        p = torch.tensor(np.array(a, dtype=np.float64), requires_grad=True)
    elif name == "swish":  # one beta per entry, so autograd returns the elementwise df/dbeta
        p = torch.tensor(np.broadcast_to(np.float64(beta), z64.shape).copy(), requires_grad=True)
    if name in ("prelu", "swish"):
        wrt.append(p)
    sp = lambda v: torch.logaddexp(v, torch.zeros_like(v))  # noqa: E731
    # torch.where takes the z >= 0 branch at 0: autograd's slope there is 1 (the note's convention)
    y = {
        "sigmoid": lambda: torch.sigmoid(zt),
        "relu": lambda: torch.where(zt >= 0, zt, torch.zeros_like(zt)),
        "leaky_relu": lambda: torch.where(zt >= 0, zt, 0.01 * zt),
        "prelu": lambda: torch.where(zt >= 0, zt, p * zt),
        "swish": lambda: zt * torch.sigmoid(p * zt),
        "softplus": lambda: sp(zt),
        "mish": lambda: zt * torch.tanh(sp(zt)),
    }[name]()
    up = torch.ones_like(y) if upstream is None else torch.tensor(np.array(upstream, dtype=np.float64))
    grads = torch.autograd.grad(y, wrt, grad_outputs=up)
    out = {"f": y.detach().numpy(), "df": grads[0].numpy()}
    if name == "prelu":
        out["da"] = grads[1].numpy()
    if name == "swish":
        out["dbeta"] = grads[1].numpy()
    return out


INPUTS = np.concatenate([O.typical_z(1), O.EXTREME, O.float64_grid(), O.float32_grid().astype(np.float64)])
PARAMS = {"sigmoid": [{}], "relu": [{}], "leaky_relu": [{}], "softplus": [{}], "mish": [{}],
          "prelu": [{"a": a} for a in O.PRELU_SLOPES],
          "swish": [{"beta": b} for b in O.SWISH_BETAS + (1.7,)]}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_oracle_matches_autograd(name):
    # autograd's sigmoid backward forms s (1 - s), which loses relative accuracy for large
    # |z|; the comparison is still ten times tighter than grading (rtol 1e-6, atol 1e-10)
    for params in PARAMS[name]:
        z = INPUTS if not (name == "swish" and params["beta"] > 1) else INPUTS[np.abs(INPUTS) < 1e300]
        ours, ref = O.oracle(name, z, **params), _autograd(name, z, **params)
        assert set(ours) >= set(ref)
        for which in ref:
            np.testing.assert_allclose(ours[which], ref[which], rtol=1e-7, atol=1e-11,
                                       err_msg=f"{name} {which} {params}")


@pytest.mark.parametrize("case", [((6, 5), ()), ((3, 4, 5, 6), (4, 1, 1)), ((8, 5), (5,)), ((4, 5), (4, 5))])
def test_oracle_prelu_da_matches_autograd(case):
    z_shape, a_shape = case
    rng = np.random.default_rng(0)
    z = rng.normal(size=z_shape)
    z.ravel()[:3] = 0.0
    a = rng.uniform(0, 0.5, size=a_shape)
    up = rng.normal(size=z_shape)
    ours, ref = O.oracle("prelu", z, a=a, upstream=up), _autograd("prelu", z, a=a, upstream=up)
    assert ours["da"].shape == a_shape
    np.testing.assert_allclose(ours["da"], ref["da"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours["df"] * up, ref["df"], rtol=1e-12, atol=1e-15)  # autograd: upstream * df/dz


def test_oracle_prelu_da_by_hand():
    # z of shape (N=2, C=2, 1, 2); one slope per channel; dL/da_c = sum over n, w of upstream * z where z < 0
    z = np.array([[[[-1.0, 2.0]], [[-3.0, -4.0]]], [[[0.0, -5.0]], [[6.0, 0.5]]]])
    up = np.array([[[[1.0, 9.0]], [[2.0, 1.0]]], [[[9.0, 3.0]], [[9.0, 9.0]]]])
    a = np.array([0.1, 0.2]).reshape(2, 1, 1)
    da = O.oracle("prelu", z, a=a, upstream=up)["da"]
    assert da.shape == (2, 1, 1)
    np.testing.assert_allclose(da.ravel(), [1 * -1 + 3 * -5, 2 * -3 + 1 * -4])
    assert float(O.oracle("prelu", z, a=0.25, upstream=up)["da"]) == pytest.approx(-16 - 10)


def test_oracle_edge_values():
    assert float(O.oracle("mish", 0.0)["df"]) == pytest.approx(0.6, abs=1e-15)
    assert float(O.oracle("relu", 0.0)["df"]) == 1.0
    big = O.oracle("softplus", np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(big["f"], [0.0, 1000.0])
    for name in ("sigmoid", "swish", "softplus", "mish"):
        for which, v in O.oracle(name, O.float64_grid()).items():
            assert np.isfinite(v).all(), (name, which)


def test_grids_cover_the_ranges():
    g64, g32 = O.float64_grid(), O.float32_grid()
    assert g64.min() == -1000 and g64.max() == 1000 and 0.0 in g64
    assert g32.dtype == np.float32
    assert np.finfo(np.float32).max in g32 and -np.finfo(np.float32).max in g32
    assert np.isfinite(g32).all()


# ------------------------------------------------------------ the checks can pass and fail

def _stable_sigmoid(z):
    return expit(z)


def _naive_sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z)))


def test_checks_pass_sound_code():
    O.check_values(_stable_sigmoid, "sigmoid", "f")
    O.check_values(_stable_sigmoid, "sigmoid", "f", inputs="extreme")
    O.check_stable(_stable_sigmoid, "sigmoid", "f")
    O.check_contracts(_stable_sigmoid, "sigmoid", "f")
    O.check_numerical_grad_default_h(lambda f, z, h=1e-5: (f(np.asarray(z, float) + h) - f(np.asarray(z, float) - h)) / (2 * h))


def test_values_check_fails_and_names_the_input():
    with pytest.raises(AssertionError, match=r"sigmoid\(z\) is wrong .* z = "):
        O.check_values(lambda z: np.asarray(z) * 0 + 0.5, "sigmoid", "f")
    # the wrong convention at the kink
    with pytest.raises(AssertionError, match=r"relu_grad\(z\) is wrong at 1 of .* z = 0: expected 1, got 0"):
        O.check_values(lambda z: (np.asarray(z) > 0).astype(float), "relu", "df")


def test_stability_check_flags_overflow_but_values_check_does_not():
    O.check_values(_naive_sigmoid, "sigmoid", "f", inputs="extreme")  # right values, with warnings
    with pytest.raises(AssertionError, match=r"unstable on float64 .*overflow.*z = -1000"):
        O.check_stable(_naive_sigmoid, "sigmoid", "f")


def test_stability_check_flags_float32_only_overflow():
    def sq_first(z, beta=1.0):
        z = np.asarray(z)
        return z ** 2 * expit(beta * z) * expit(-beta * z)
    O.check_values(sq_first, "swish", "dbeta")
    with pytest.raises(AssertionError, match=r"unstable on float32"):
        O.check_stable(sq_first, "swish", "dbeta")


def test_mish_zero_check():
    def note_identity(z):
        z = np.asarray(z)
        sp = np.logaddexp(0, z)
        return (1 - np.tanh(sp) ** 2) * z * expit(z) + z * np.tanh(sp) / z
    with pytest.raises(AssertionError, match=r"at z = 0 .*division by z"):
        O.check_mish_grad_at_zero(note_identity)


def test_contract_check_catches_in_place_and_dtype():
    def in_place(z):
        z[z < 0] = 0
        return z
    with pytest.raises(AssertionError, match="in place"):
        O.check_contracts(in_place, "relu", "f")
    with pytest.raises(AssertionError, match="float32 in must give float32 out"):
        O.check_contracts(lambda z: (np.asarray(z) >= 0).astype(float), "relu", "df")
    with pytest.raises(AssertionError, match=r"returned None"):
        O.check_contracts(lambda z: None, "relu", "f")


def test_prelu_grad_a_check_needs_the_right_reduction():
    def dense(z, a, upstream):
        return upstream * np.where(z < 0, z, 0.0)
    O.check_prelu_grad_a(dense, "dense")
    with pytest.raises(AssertionError, match=r"shape of a"):
        O.check_prelu_grad_a(dense, "channel")


def test_numerical_grad_checks_reject_one_sided_differences():
    def forward(f, z, h=1e-5):
        z = np.asarray(z, float)
        return (f(z + h) - f(z)) / h
    with pytest.raises(AssertionError):
        O.check_numerical_grad_default_h(forward)
    with pytest.raises(AssertionError, match=r"3 z\*\*2 \+ h\*\*2"):
        O.check_numerical_grad_step(forward)


# ------------------------------------------------------------ the master's cells, run in process

_cat_spec = importlib.util.spec_from_file_location("hw1_catalogue", Path(__file__).resolve().parent / "hw1_catalogue.py")
catalogue = importlib.util.module_from_spec(_cat_spec)
sys.modules.setdefault(_cat_spec.name, catalogue)
_cat_spec.loader.exec_module(catalogue)
CALLS = calls("hw1")
sys.path.insert(0, str(REPO / "solutions" / "hw1"))  # the cells import hw1_checks and hw1_oracle


def _failures(env, questions):
    return {c.id: m for c in CALLS if c.question in questions and (m := run(c, env)) is not None}


def test_the_master_calls_both_helpers():
    assert {c.module for c in CALLS} == {"hw1_checks", "hw1_oracle"}
    assert {c.module for c in CALLS if not c.hidden} == {"hw1_checks"}
    assert sum(c.points for c in CALLS) == 100


def test_solution_passes_every_cell():
    assert _failures(solution_env("hw1"), {c.question for c in CALLS}) == {}


@pytest.mark.parametrize("rewrite", catalogue.REWRITES, ids=[r.id for r in catalogue.REWRITES])
def test_rewrite_passes_every_cell(rewrite):
    assert _failures(solution_env("hw1", rewrite.code), {c.question for c in CALLS}) == {}


@pytest.mark.parametrize("mutant", catalogue.MUTANTS, ids=[m.id for m in catalogue.MUTANTS])
def test_mutant_fails_a_cell_of_its_question_with_a_message(mutant):
    failed = _failures(solution_env("hw1", mutant.code), {mutant.question})
    assert failed, f"{mutant.id} passes every cell of {mutant.question}"
    assert any(len(m) > 15 and "without a message" not in m for m in failed.values()), failed


def test_public_checks_reject_the_typical_slips_with_their_message():
    import hw1_checks as C
    with pytest.raises(AssertionError, match=r"the note's convention: f'\(0\) = 1"):
        C.check_relu(lambda z: np.maximum(z, 0), lambda z: (np.asarray(z) > 0).astype(np.asarray(z).dtype))
    with pytest.raises(AssertionError, match="float32 in must give float32 out"):
        C.check_softplus(lambda z: np.logaddexp(0.0, np.asarray(z, dtype=np.float64)))
    with pytest.raises(AssertionError, match="a centred difference does"):
        C.check_numerical_grad(lambda f, z, h=1e-5: (f(np.asarray(z) + h) - f(np.asarray(z))) / h)


# ------------------------------------------------------------ the generated autograder

def test_points_add_up_to_100():
    scores = max_scores("hw1")
    assert len(scores) == 9 and sum(scores.values()) == 100


def test_autograder_zip_ships_the_oracle_but_no_solution_source():
    nb = json.loads(solution_notebook("hw1").read_text())
    lines = set()
    for cell in nb["cells"]:
        if "otter_assign_solution_cell" not in cell["metadata"].get("tags", []):
            continue
        inside = False
        for line in "".join(cell["source"]).splitlines():
            if "END SOLUTION" in line:
                inside = False
            if inside and len(line.strip()) >= 12 and not line.strip().startswith("#"):
                lines.add(line.strip())
            if "BEGIN SOLUTION" in line:
                inside = True
    assert len(lines) >= 20
    with zipfile.ZipFile(autograder_zip("hw1")) as z:
        names = z.namelist()
        assert "files/hw1_oracle.py" in names
        for name in names:
            text = z.read(name).decode("utf-8", "replace")
            leaked = [line for line in lines if line in text]
            assert not leaked, f"{name} contains solution lines: {leaked[:3]}"
