"""Fast checks of Assignment 3's test helpers (solutions/hw3/hw3_checks.py and hw3_oracle.py), without otter.

Each test cell of the master is one call into a helper (tests/check_cells.py reads them).
Here every call passes the master's solution and the correct rewrites of
test_hw3_autograder's ``REWRITES``, and every mutant of its ``MUTANTS`` fails at least
one call of its question with a message of its own (not a bare assert). Everything
runs on the CPU (the training runs of Q5 take a second or two).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_cells import calls, helpers, run, solution_env  # noqa: E402
from test_hw3_autograder import MUTANTS, REWRITES  # noqa: E402

HW = "hw3"
CHECKS, ORACLE = helpers(HW)
CALLS = calls(HW)


def _failures(env, questions):
    return {c.id: m for c in CALLS if c.question in questions and (m := run(c, env)) is not None}


def test_the_master_calls_both_helpers():
    assert {c.module for c in CALLS} == {"hw3_checks", "hw3_oracle"}
    assert len(CALLS) == 25 and sum(c.points for c in CALLS) == 85


def test_solution_passes_every_check():
    assert _failures(solution_env(HW), {c.question for c in CALLS}) == {}


@pytest.mark.parametrize("rewrite", REWRITES, ids=[r.id for r in REWRITES])
def test_correct_rewrites_pass_every_check(rewrite):
    env = solution_env(HW, rewrite.code)
    assert _failures(env, {c.question for c in CALLS}) == {}


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_each_mutant_fails_a_check_of_its_question_with_a_message(mutant):
    failed = _failures(solution_env(HW, mutant.code), {mutant.question})
    assert failed, f"{mutant.id} passes every check of {mutant.question}"
    assert any(len(m) > 15 and "without a message" not in m for m in failed.values()), failed


def test_gradcheck_failure_is_named():
    """A backward off by a factor fails gradcheck with the check's own sentence, not a Jacobian dump."""
    class Doubled(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return z * torch.tanh(torch.nn.functional.softplus(z))

        @staticmethod
        def backward(ctx, grad_out):
            (z,) = ctx.saved_tensors
            t = torch.tanh(torch.nn.functional.softplus(z))
            return 2 * grad_out * (t + z * (1 - t * t) * torch.sigmoid(z))
    with pytest.raises(AssertionError, match="MishFunction on random inputs: your backward disagrees with finite differences"):
        ORACLE.check_mish_gradcheck(Doubled)


def test_counted_backward_restores_the_function():
    class F(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            return 2 * z

        @staticmethod
        def backward(ctx, g):
            return 2 * g
    original = F.__dict__["backward"]
    z = torch.ones(3, requires_grad=True)
    with ORACLE.counted_backward(F) as n:
        F.apply(z).sum().backward()
    assert n == [1] and F.__dict__["backward"] is original


def test_public_helper_holds_no_hidden_check():
    public = {n for n in dir(CHECKS) if n.startswith("check_")}
    assert {f for c in CALLS if not c.hidden for f in c.functions} <= public
    assert not public & {f for c in CALLS if c.hidden for f in c.functions}
    assert all(hasattr(ORACLE, f) for c in CALLS if c.hidden for f in c.functions)
