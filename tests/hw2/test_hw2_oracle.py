"""Fast checks of Assignment 2's test helpers (solutions/hw2/hw2_checks.py and hw2_oracle.py), without otter.

Each test cell of the master is one call into a helper (tests/check_cells.py reads them).
Here every call passes the master's solution and every correct rewrite of
``hw2_variants.RIGHT``, and every mistake of ``hw2_variants.WRONG`` fails at least one
call of its question with a message of its own (not a bare assert). The shared
references are checked against independent ones: the autograd network against
finite differences, the sampling-error bounds against a biased draw.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_cells import calls, helpers, run, solution_env  # noqa: E402
from hw2_variants import RIGHT, WRONG  # noqa: E402

HW = "hw2"
CHECKS, ORACLE = helpers(HW)
CALLS = calls(HW)


def _failures(env, question=None):
    return {c.id: m for c in CALLS if question in (None, c.question) and (m := run(c, env)) is not None}


def test_the_master_calls_both_helpers():
    assert {c.module for c in CALLS} == {"hw2_checks", "hw2_oracle"}
    assert len(CALLS) == 27 and sum(c.points for c in CALLS) == 77


@pytest.mark.parametrize("name", ["solution", *sorted(RIGHT)])
def test_sound_implementations_pass_every_check(name):
    env = solution_env(HW, "" if name == "solution" else RIGHT[name])
    assert _failures(env) == {}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_mistake_fails_a_check_of_its_question_with_a_message(name):
    question, _, code = WRONG[name]
    failed = _failures(solution_env(HW, code), question)
    assert failed, f"{name} passes every check of {question}"
    assert any(len(m) > 15 and "without a message" not in m for m in failed.values()), failed


def test_autograd_reference_agrees_with_finite_differences():
    x, Ws, G = CHECKS.net(3, [3, 4, 2], 2)
    y, _, _, grads = CHECKS.torch_net(x, Ws, "swish", G)
    act = CHECKS.pair("swish")[0]

    def loss(Ws):
        a = x
        for W in Ws:
            a = act(W @ a)
        return float(np.sum(G * a))
    h = 1e-6
    for l, W in enumerate(Ws):
        for i, j in [(0, 0), (W.shape[0] - 1, W.shape[1] - 1)]:
            plus, minus = [w.copy() for w in Ws], [w.copy() for w in Ws]
            plus[l][i, j] += h
            minus[l][i, j] -= h
            assert grads[l][i, j] == pytest.approx((loss(plus) - loss(minus)) / (2 * h), rel=1e-6, abs=1e-9)
    assert np.allclose(y, act(Ws[1] @ act(Ws[0] @ x)))


def test_sampling_bounds_accept_the_target_and_reject_a_ten_percent_bias():
    rng = np.random.default_rng(0)
    var = 0.02
    CHECKS.check_stats(rng.normal(0, np.sqrt(var), (300, 500)), (300, 500), var, "fair")
    with pytest.raises(AssertionError, match=r"biased: sample variance .*expected 0.02"):
        CHECKS.check_stats(rng.normal(0, np.sqrt(1.1 * var), (300, 500)), (300, 500), var, "biased")
    with pytest.raises(AssertionError, match=r"shape \(500, 300\), expected \(n_out, n_in\) = \(300, 500\)"):
        CHECKS.check_stats(np.zeros((500, 300)), (300, 500), var, "transposed")


def test_public_helper_holds_no_hidden_check():
    public = {n for n in dir(CHECKS) if n.startswith("check_")}
    assert {f for c in CALLS if not c.hidden for f in c.functions} <= public
    assert not public & {f for c in CALLS if c.hidden for f in c.functions}
    assert all(hasattr(ORACLE, f) for c in CALLS if c.hidden for f in c.functions)
