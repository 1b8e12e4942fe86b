"""Assignment 3's hidden tests, one ``check_*`` per hidden test cell of the master.

Shipped only in the autograder zip (the master's ``autograder_files``), next to the
submission, so each hidden cell is one call, e.g. ``check_swish_gradcheck(SwishFunction)``.
The references are independent of the master's solution: finite differences
(``torch.autograd.gradcheck``), closed forms written from the definitions, torch's
own activations and autograd; the training run is the public ``hw3_checks.digits_run``.
tests/hw3/test_hw3_oracle.py checks that each check passes the solution and correct
rewrites and fails typical mistakes with a message naming them. Every check returns
None and raises ``AssertionError``; all of it runs on the CPU.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hw3_checks import digits_run, grad_fn_name

#: Inputs far out on both sides, 0 in the middle (index 6).
EXTREMES = [-1e4, -1e3, -100.0, -50.0, -20.0, -1.0, 0.0, 1.0, 20.0, 50.0, 100.0, 1e3, 1e4]


def _gradcheck(fn, inputs, what):
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, raise_exception=False), (
        f"{what}: your backward disagrees with finite differences of your forward")


@contextlib.contextmanager
def counted_backward(Function):
    """Count the calls of ``Function.backward`` inside the block (the list it yields), then restore it."""
    calls = []
    raw_backward = Function.__dict__.get("backward")
    backward_fn = Function.backward

    def counted(ctx, *grads):
        calls.append(1)
        return backward_fn(ctx, *grads)
    Function.backward = staticmethod(counted)
    try:
        yield calls
    finally:
        if raw_backward is None:
            del Function.backward
        else:
            Function.backward = raw_backward


# ---------------------------------------------------------------------- Q1 SwishFunction

def check_swish_gradcheck(SwishFunction):
    """gradcheck for beta in {0.5, 1, 1.7} and for one beta per channel."""
    gen = torch.Generator().manual_seed(0)
    z = (3 * torch.randn(4, 3, generator=gen, dtype=torch.float64)).requires_grad_(True)
    for beta0 in (0.5, 1.0, 1.7):
        b = torch.tensor(beta0, dtype=torch.float64, requires_grad=True)
        _gradcheck(SwishFunction.apply, (z, b), f"SwishFunction at beta = {beta0}")
    b = torch.tensor([0.3, 1.0, 2.2], dtype=torch.float64, requires_grad=True)
    _gradcheck(SwishFunction.apply, (z, b), "SwishFunction with one beta per channel")


def check_swish_closed_form(SwishFunction):
    """f, df/dz and the summed df/dbeta against closed forms for beta in {0, 0.5, 1, 2}; float32 against F.silu."""
    gen = torch.Generator().manual_seed(1)
    z = torch.linspace(-8, 8, 41, dtype=torch.float64).requires_grad_(True)
    zd = z.detach()
    for beta0 in (0.0, 0.5, 1.0, 2.0):
        b = torch.tensor(beta0, dtype=torch.float64, requires_grad=True)
        w = torch.randn(z.shape, generator=gen, dtype=torch.float64)
        a = SwishFunction.apply(z, b)
        g_z, g_b = torch.autograd.grad(a, (z, b), grad_outputs=w)
        e = torch.exp(-beta0 * zd)
        f_ref = zd / (1 + e)
        dfdz = (1 + e + beta0 * zd * e) / (1 + e) ** 2
        dfdb = zd ** 2 * e / (1 + e) ** 2
        assert torch.allclose(a.detach(), f_ref, rtol=1e-10, atol=1e-12), f"forward wrong at beta = {beta0}"
        assert torch.allclose(g_z, w * dfdz, rtol=1e-10, atol=1e-12), f"grad_z wrong at beta = {beta0}"
        assert torch.allclose(g_b, (w * dfdb).sum(), rtol=1e-10, atol=1e-12), f"grad_beta wrong at beta = {beta0}"
    z32 = torch.linspace(-8, 8, 41)
    assert torch.allclose(SwishFunction.apply(z32, torch.tensor(1.0)), F.silu(z32), atol=1e-6), "float32 forward differs from F.silu"


def check_swish_extremes(SwishFunction):
    """float32 and float64 at |z| up to 1e4: dtypes kept, finite, the right limits, f(0) = 0 and f'(0) = 1/2."""
    for dt in (torch.float32, torch.float64):
        z = torch.tensor(EXTREMES, dtype=dt, requires_grad=True)
        for beta0 in (1.0, 2.0):
            b = torch.tensor(beta0, dtype=dt, requires_grad=True)
            a = SwishFunction.apply(z, b)
            g_z, g_b = torch.autograd.grad(a.sum(), (z, b))
            assert a.dtype == dt and g_z.dtype == dt and g_b.dtype == dt, "dtypes must follow the input"
            assert bool(torch.isfinite(a).all() and torch.isfinite(g_z).all() and torch.isfinite(g_b).all()), f"non-finite values in {dt} at beta = {beta0}"
            assert a[6].item() == 0.0 and abs(g_z[6].item() - 0.5) < 1e-6, "at z = 0: f = 0 and df/dz = 1/2"
            assert abs(g_z[-1].item() - 1.0) < 1e-6 and abs(g_z[0].item()) < 1e-6, "df/dz tends to 1 on the right and 0 on the left"
            assert abs(a[-1].item() - 1e4) < 1e-2 and abs(a[0].item()) < 1e-6, f"f(1e4) should be 1e4 and f(-1e4) 0 ({dt}, beta = {beta0})"


def check_swish_beta_shapes(SwishFunction):
    """beta of shape (), (1,) and (C,) for z of shape (N, C) and (N, C, H, W): grad_beta has beta's shape and value."""
    gen = torch.Generator().manual_seed(2)
    for zshape in ((5, 3), (2, 3, 4, 4)):
        z = (2 * torch.randn(zshape, generator=gen, dtype=torch.float64)).requires_grad_(True)
        w = torch.randn(zshape, generator=gen, dtype=torch.float64)
        for bshape in ((), (1,), (3,)):
            b = (0.5 + torch.rand(bshape, generator=gen, dtype=torch.float64)).requires_grad_(True)
            g_z, g_b = torch.autograd.grad(SwishFunction.apply(z, b), (z, b), grad_outputs=w)
            assert g_b.shape == b.shape, f"grad_beta has shape {tuple(g_b.shape)} but beta has shape {tuple(b.shape)}"
            z_ref = z.detach().clone().requires_grad_(True)
            b_ref = b.detach().clone().requires_grad_(True)
            b_view = b_ref.reshape(1, -1, *[1] * (z.dim() - 2)) if b.numel() > 1 else b_ref.reshape(())
            g_z_ref, g_b_ref = torch.autograd.grad(z_ref * torch.sigmoid(b_view * z_ref), (z_ref, b_ref), grad_outputs=w)
            assert torch.allclose(g_z, g_z_ref, atol=1e-12), f"grad_z wrong for z {zshape}, beta {bshape}"
            assert torch.allclose(g_b, g_b_ref, atol=1e-10), f"grad_beta wrong for z {zshape}, beta {bshape}"


def check_swish_backward_runs_once(SwishFunction):
    """The output's grad_fn is the Function's, and its backward runs exactly once per backward pass."""
    z = torch.linspace(-3, 3, 7, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    assert grad_fn_name(SwishFunction.apply(z, b)) == "SwishFunctionBackward", "the output's grad_fn should be SwishFunctionBackward"
    with counted_backward(SwishFunction) as calls:
        SwishFunction.apply(z, b).sum().backward()
    assert calls == [1], "your backward did not run exactly once"
    assert z.grad is not None and b.grad is not None, "no gradient reached z or beta"


# ------------------------------------------------------------------------- Q2 Swish module

def check_swish_module_storage(Swish):
    """trainable: the one parameter `beta`; fixed: a buffer that follows .to(dtype); both in the state_dict."""
    for beta0 in (0.5, 2.0):
        m = Swish(beta=beta0, trainable=True)
        assert isinstance(m.beta, torch.nn.Parameter) and m.beta.requires_grad, "trainable=True: beta must be an nn.Parameter"
        assert [name for name, _ in m.named_parameters()] == ["beta"], "trainable=True: beta must be the module's only parameter"
        assert "beta" not in dict(m.named_buffers()), "trainable=True: beta must not also be a buffer"
        assert m.beta.numel() == 1 and abs(m.beta.item() - beta0) < 1e-7, f"beta should be one value, {beta0}"
        m = Swish(beta=beta0)
        assert not isinstance(m.beta, torch.nn.Parameter) and not m.beta.requires_grad, "trainable=False: beta must not be trained"
        assert list(m.parameters()) == [] and "beta" in dict(m.named_buffers()), "trainable=False: beta must be a buffer"
        assert "beta" in m.state_dict() and m.beta.numel() == 1 and abs(m.beta.item() - beta0) < 1e-7, "a buffer beta belongs in the state_dict"
        m = m.to(torch.float64)
        assert m.beta.dtype == torch.float64, "a buffer follows .to(dtype)"
        z = torch.linspace(-3, 3, 7, dtype=torch.float64)
        assert m(z).dtype == torch.float64 and torch.allclose(m(z), z * torch.sigmoid(beta0 * z), atol=1e-12), f"Swish(beta={beta0}) in float64 is wrong"
    assert "beta" in Swish(trainable=True).state_dict(), "a trainable beta belongs in the state_dict"


def check_swish_module_uses_function(Swish, SwishFunction):
    """forward returns SwishFunction.apply(z, self.beta): its grad_fn, its backward, a gradient for beta."""
    z = torch.linspace(-3, 3, 7, requires_grad=True)
    for m in (Swish(), Swish(beta=2.0), Swish(trainable=True)):
        assert grad_fn_name(m(z)) == "SwishFunctionBackward", "Swish.forward must return SwishFunction.apply(z, self.beta)"
    with counted_backward(SwishFunction) as calls:
        m = Swish(beta=0.8, trainable=True)
        m(z).sum().backward()
    assert calls == [1], "the module's backward pass did not go through SwishFunction.backward"
    assert m.beta.grad is not None and m.beta.grad.shape == m.beta.shape, "beta's gradient is missing or has the wrong shape"


def check_swish_module_trains_beta(Swish):
    """20 gradient steps on a trainable beta follow autograd's path towards the target 2.5."""
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(64, 4, generator=gen, dtype=torch.float64)
    target = z * torch.sigmoid(2.5 * z)
    m = Swish(beta=1.0, trainable=True).to(torch.float64)
    beta_ref = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    for _ in range(20):
        (g,) = torch.autograd.grad(((m(z) - target) ** 2).mean(), [m.beta], allow_unused=True)
        assert g is not None, "no gradient reaches beta: is it used through SwishFunction.apply without being detached?"
        (g_ref,) = torch.autograd.grad(((z * torch.sigmoid(beta_ref * z) - target) ** 2).mean(), [beta_ref])
        with torch.no_grad():
            m.beta -= 0.5 * g
            beta_ref -= 0.5 * g_ref
    assert m.beta.item() > 1.2, f"a trainable beta should move from 1 towards 2.5 here; it is {m.beta.item():.4f}"
    assert abs(m.beta.item() - beta_ref.item()) < 1e-9, "beta did not follow the same path as with autograd"


# ----------------------------------------------------------------------------------- Q3 Mish

def check_mish_gradcheck(MishFunction):
    """gradcheck on random inputs and around 0 and +-30."""
    gen = torch.Generator().manual_seed(4)
    z = (3 * torch.randn(6, 5, generator=gen, dtype=torch.float64)).requires_grad_(True)
    _gradcheck(MishFunction.apply, (z,), "MishFunction on random inputs")
    z = torch.tensor([-30.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 30.0], dtype=torch.float64, requires_grad=True)
    _gradcheck(MishFunction.apply, (z,), "MishFunction around 0 and at +-30")


def _mish_against_torch(MishFunction, z, w, dt, rtol, atol):
    a = MishFunction.apply(z)
    (g,) = torch.autograd.grad(a, z, grad_outputs=w)
    z_ref = z.detach().clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(F.mish(z_ref), z_ref, grad_outputs=w)
    assert a.dtype == dt and g.dtype == dt, f"{dt} in should give {dt} out"
    assert torch.allclose(a.detach(), F.mish(z.detach()), rtol=rtol, atol=atol), f"the forward pass differs from F.mish ({dt})"
    assert torch.allclose(g, g_ref, rtol=10 * rtol if dt == torch.float64 else rtol, atol=atol), f"grad_z differs from F.mish's ({dt})"


def check_mish_values(MishFunction):
    """Values and gradients against F.mish on [-30, 30] in float64 and [-20, 20] in float32."""
    gen = torch.Generator().manual_seed(5)
    z = torch.linspace(-30, 30, 121, dtype=torch.float64).requires_grad_(True)
    w = torch.randn(z.shape, generator=gen, dtype=torch.float64)
    _mish_against_torch(MishFunction, z, w, torch.float64, 1e-10, 1e-12)
    z32 = torch.linspace(-20, 20, 81, requires_grad=True)
    _mish_against_torch(MishFunction, z32, torch.ones_like(z32), torch.float32, 1e-5, 1e-6)


def check_mish_extremes(MishFunction):
    """float32 and float64 at |z| up to 1e4: finite, the right limits, f'(0) = tanh(ln 2)."""
    for dt in (torch.float32, torch.float64):
        z = torch.tensor(EXTREMES, dtype=dt, requires_grad=True)
        a = MishFunction.apply(z)
        (g,) = torch.autograd.grad(a.sum(), z)
        assert a.dtype == dt and g.dtype == dt, "dtypes must follow the input"
        assert bool(torch.isfinite(a).all() and torch.isfinite(g).all()), f"non-finite values in {dt}"
        assert a[6].item() == 0.0 and abs(g[6].item() - math.tanh(math.log(2.0))) < 1e-6, "at z = 0: f = 0 and f'(0) = tanh(ln 2)"
        assert abs(g[-1].item() - 1.0) < 1e-6 and abs(g[0].item()) < 1e-6, f"f' should tend to 1 on the right and 0 on the left ({dt})"
        assert abs(a[-1].item() - 1e4) < 1e-2 and abs(a[0].item()) < 1e-6, f"f(1e4) should be 1e4 and f(-1e4) 0 ({dt})"


def check_mish_module(Mish, MishFunction):
    """Mish() has no parameters and goes through MishFunction's forward and backward."""
    z = torch.linspace(-3, 3, 7, dtype=torch.float64, requires_grad=True)
    m = Mish()
    assert list(m.parameters()) == [], "Mish() should have no parameters"
    assert grad_fn_name(m(z)) == "MishFunctionBackward", "Mish.forward must return MishFunction.apply(z)"
    with counted_backward(MishFunction) as calls:
        m(z).sum().backward()
    assert calls == [1], "the module's backward pass did not go through MishFunction.backward"


# ---------------------------------------------------------------------------------- Q4 PReLU

def check_prelu_gradcheck(PReLUFunction):
    """gradcheck away from the kink, one slope and one per channel, 2-d and 4-d z."""
    gen = torch.Generator().manual_seed(6)
    for zshape, ashape in (((5, 3), (1,)), ((5, 3), (3,)), ((2, 3, 2, 2), (3,))):
        z = torch.randn(zshape, generator=gen, dtype=torch.float64)
        z = (z + 0.2 * z.sign()).requires_grad_(True)
        slope = (0.1 + 0.5 * torch.rand(ashape, generator=gen, dtype=torch.float64)).requires_grad_(True)
        _gradcheck(PReLUFunction.apply, (z, slope), f"PReLUFunction for z {zshape}, a {ashape}")


def check_prelu_values(PReLUFunction):
    """Values, grad_z and grad_a against F.prelu, float32 and float64, one slope and one per channel."""
    gen = torch.Generator().manual_seed(7)
    for dt, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        for zshape, ashape in (((8, 4), (1,)), ((8, 4), (4,)), ((3, 4, 5, 5), (1,)), ((3, 4, 5, 5), (4,))):
            z = (3 * torch.randn(zshape, generator=gen, dtype=dt)).requires_grad_(True)
            w = torch.randn(zshape, generator=gen, dtype=dt)
            slope = torch.rand(ashape, generator=gen, dtype=dt).requires_grad_(True)
            out = PReLUFunction.apply(z, slope)
            g_z, g_a = torch.autograd.grad(out, (z, slope), grad_outputs=w)
            z_ref = z.detach().clone().requires_grad_(True)
            a_ref = slope.detach().clone().requires_grad_(True)
            out_ref = F.prelu(z_ref, a_ref)
            g_z_ref, g_a_ref = torch.autograd.grad(out_ref, (z_ref, a_ref), grad_outputs=w)
            where = f"z {zshape}, a {ashape}, {dt}"
            assert out.dtype == dt and g_z.dtype == dt and g_a.dtype == dt, f"dtypes must follow the input ({where})"
            assert g_a.shape == slope.shape, f"grad_a has shape {tuple(g_a.shape)} but a has shape {tuple(slope.shape)}"
            assert torch.allclose(out.detach(), out_ref.detach(), atol=tol), f"the forward pass differs from F.prelu ({where})"
            assert torch.allclose(g_z, g_z_ref, atol=tol), f"grad_z differs from F.prelu's ({where})"
            assert torch.allclose(g_a, g_a_ref, rtol=tol, atol=tol * 10), f"grad_a wrong for z {zshape}, a {ashape}"


def check_prelu_kink_and_extremes(PReLUFunction):
    """df/dz = 1 at z = 0, finite at +-1e4, and dL/da sums z over the negative positions only."""
    for dt in (torch.float32, torch.float64):
        z = torch.tensor([[-1e4, -2.0, 0.0, 3.0, 1e4]], dtype=dt, requires_grad=True)
        slope = torch.tensor([0.3], dtype=dt, requires_grad=True)
        out = PReLUFunction.apply(z, slope)
        g_z, g_a = torch.autograd.grad(out.sum(), (z, slope))
        assert bool(torch.isfinite(out).all() and torch.isfinite(g_z).all() and torch.isfinite(g_a).all()), f"non-finite values in {dt}"
        assert g_z[0, 2].item() == 1.0, "at z = 0 the note's convention gives df/dz = 1"
        assert torch.allclose(g_z[0], torch.tensor([0.3, 0.3, 1.0, 1.0, 1.0], dtype=dt)), f"df/dz should be a for z < 0 and 1 for z >= 0; got {g_z[0].tolist()}"
        assert abs(g_a.item() - (-1e4 - 2.0)) < 1e-2, "dL/da sums z over the negative positions only"


def check_prelu_module(PReLU, PReLUFunction):
    """PReLU(3, 0.1): one parameter `weight` of shape (3,), forward and backward through PReLUFunction."""
    m = PReLU(num_parameters=3, init=0.1)
    assert isinstance(m.weight, torch.nn.Parameter) and tuple(m.weight.shape) == (3,), "PReLU(3) needs a Parameter weight of shape (3,)"
    assert torch.allclose(m.weight.detach(), torch.full((3,), 0.1)), "weight should be filled with init"
    assert [name for name, _ in m.named_parameters()] == ["weight"], "PReLU's only parameter should be named weight"
    z = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(8), requires_grad=True)
    assert grad_fn_name(m(z)) == "PReLUFunctionBackward", "PReLU.forward must return PReLUFunction.apply(z, self.weight)"
    with counted_backward(PReLUFunction) as calls:
        m(z).sum().backward()
    assert calls == [1], "the module's backward pass did not go through PReLUFunction.backward"
    assert m.weight.grad is not None and tuple(m.weight.grad.shape) == (3,), "weight's gradient is missing or not of shape (3,)"
    assert torch.allclose(m.weight.grad, torch.where(z < 0, z, torch.zeros_like(z)).sum(dim=(0, 2, 3)), atol=1e-5), "weight's gradient should sum z over the negative positions of each channel"


# ----------------------------------------------------------------------- Q5 training runs

def _follows(losses, accuracy, losses_ref):
    assert np.allclose(losses, losses_ref, rtol=1e-6, atol=1e-9), f"loss curve drifts from the reference: largest gap {np.abs(losses - losses_ref).max():.2e}"
    assert accuracy >= 0.9, f"test accuracy {accuracy:.3f} < 0.9"


def _scalars(net):
    return [p.item() for p in net.parameters() if p.numel() == 1]


def check_training_swish(Swish):
    """Three epochs of Swish() follow nn.SiLU and reach 90%."""
    losses, accuracy, _ = digits_run(Swish)
    _follows(losses, accuracy, digits_run(nn.SiLU)[0])


def check_training_mish(Mish):
    """Three epochs of Mish() follow nn.Mish and reach 90%."""
    losses, accuracy, _ = digits_run(Mish)
    _follows(losses, accuracy, digits_run(nn.Mish)[0])


def check_training_prelu(PReLU):
    """Three epochs of PReLU() follow nn.PReLU, slopes included, and reach 90%."""
    losses, accuracy, net = digits_run(PReLU)
    losses_ref, _, net_ref = digits_run(nn.PReLU)
    _follows(losses, accuracy, losses_ref)
    slopes, slopes_ref = _scalars(net), _scalars(net_ref)
    assert len(slopes) == 2 and np.allclose(slopes, slopes_ref, rtol=1e-6), f"learned slopes {slopes} differ from nn.PReLU's {slopes_ref}"


class AutogradSwish(nn.Module):
    """Swish with a trainable beta, differentiated by autograd (the reference)."""

    def __init__(self):
        super().__init__()
        self.beta = nn.Parameter(torch.tensor(1.0))

    def forward(self, z):
        return z * torch.sigmoid(self.beta * z)


def check_training_trainable_beta(Swish):
    """Three epochs of Swish(trainable=True) follow autograd's, betas included; the betas move."""
    losses, accuracy, net = digits_run(lambda: Swish(trainable=True))
    losses_ref, _, net_ref = digits_run(AutogradSwish)
    _follows(losses, accuracy, losses_ref)
    betas, betas_ref = _scalars(net), _scalars(net_ref)
    assert len(betas) == 2 and np.allclose(betas, betas_ref, rtol=1e-6), f"learned betas {betas} differ from autograd's {betas_ref}"
    assert min(abs(b - 1.0) for b in betas) > 1e-3, "a trainable beta should move during training"
