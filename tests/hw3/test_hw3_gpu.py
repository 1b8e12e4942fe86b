"""Assignment 3's checks on CUDA: the solution's Functions, modules and the training harness.

The autograder runs on the CPU. This file repeats its kinds of checks with every
tensor on a GPU: gradcheck in float64, values and gradients against torch's own
activations and a closed form, finiteness at 0 and at large |z| in float32 and
float64, the custom backward being the one that runs, parameter shapes, a
trainable beta that moves, and training with the harness (``device="cuda"``) that
follows ``nn.SiLU`` / ``nn.Mish`` / ``nn.PReLU`` and matches the CPU run.

Skipped when CUDA is absent. ``HW3_TEST_DEVICE=cpu`` runs it on the CPU instead
(a dry run of the file itself on a machine without a GPU).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from activation_course import training

DEVICE = os.environ.get("HW3_TEST_DEVICE", "cuda")
SOLUTION = Path(__file__).resolve().parents[2] / "autograder" / "hw3" / "hw3.ipynb"

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution notebook's code (no otter cells, no comparison cells) run in a namespace."""
    nb = nbformat.read(SOLUTION, as_version=4)
    ns: dict = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or "otter_ignore" in cell.metadata.get("tags", []):
            continue
        if "otter" in cell.source or "grader." in cell.source or "gradcheck" in cell.source:
            continue
        exec(compile(cell.source, str(SOLUTION), "exec"), ns)
    for name in ("SwishFunction", "Swish", "MishFunction", "Mish", "PReLUFunction", "PReLU"):
        assert name in ns, f"{name} missing from the solution notebook"
    return ns


def dev_tensor(values, dtype=torch.float64, requires_grad=False):
    return torch.tensor(values, dtype=dtype, device=DEVICE, requires_grad=requires_grad)


def randn(shape, seed, dtype=torch.float64, scale=1.0):
    gen = torch.Generator().manual_seed(seed)  # drawn on the CPU, then moved: same numbers everywhere
    return (scale * torch.randn(shape, generator=gen, dtype=dtype)).to(DEVICE)


def away_from_zero(z):
    return z + 0.2 * z.sign()


def test_device_selection_picks_the_accelerator():
    if DEVICE == "cuda":
        assert training.resolve_device("auto").type == "cuda"
    assert training.resolve_device(DEVICE).type == torch.device(DEVICE).type


@pytest.mark.parametrize("beta", [1.3, [0.4, 1.0, 2.1]])
def test_swish_gradcheck(sol, beta):
    z = randn((5, 3), 0, scale=3).requires_grad_(True)
    b = dev_tensor(beta, requires_grad=True)
    assert torch.autograd.gradcheck(sol["SwishFunction"].apply, (z, b), eps=1e-6, atol=1e-7)


def test_mish_gradcheck(sol):
    z = randn((6, 5), 1, scale=3).requires_grad_(True)
    assert torch.autograd.gradcheck(sol["MishFunction"].apply, (z,), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("zshape, ashape", [((5, 3), (1,)), ((5, 3), (3,)), ((2, 3, 2, 2), (3,))])
def test_prelu_gradcheck(sol, zshape, ashape):
    z = away_from_zero(randn(zshape, 2)).requires_grad_(True)
    a = (0.1 + 0.5 * torch.rand(ashape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)).to(DEVICE)
    assert torch.autograd.gradcheck(sol["PReLUFunction"].apply, (z, a.requires_grad_(True)), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("beta0", [0.0, 0.5, 1.0, 2.0])
def test_swish_against_closed_form_and_silu(sol, beta0):
    z = torch.linspace(-8, 8, 41, dtype=torch.float64, device=DEVICE, requires_grad=True)
    b = dev_tensor(beta0, requires_grad=True)
    w = randn(z.shape, 4)
    a = sol["SwishFunction"].apply(z, b)
    g_z, g_b = torch.autograd.grad(a, (z, b), grad_outputs=w)
    zd = z.detach()
    e = torch.exp(-beta0 * zd)
    assert a.device == zd.device and g_b.shape == b.shape
    assert torch.allclose(a.detach(), zd / (1 + e), rtol=1e-10, atol=1e-12)
    assert torch.allclose(g_z, w * (1 + e + beta0 * zd * e) / (1 + e) ** 2, rtol=1e-10, atol=1e-12)
    assert torch.allclose(g_b, (w * zd ** 2 * e / (1 + e) ** 2).sum(), rtol=1e-10, atol=1e-12)
    if beta0 == 1.0:
        assert torch.allclose(a.detach(), F.silu(zd), atol=1e-12)


@pytest.mark.parametrize("zshape, ashape", [((8, 4), (1,)), ((3, 4, 5, 5), (4,))])
def test_prelu_and_mish_against_torch(sol, zshape, ashape):
    z = randn(zshape, 5, scale=3).requires_grad_(True)
    w = randn(zshape, 6)
    a = (torch.rand(ashape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)).to(DEVICE).requires_grad_(True)
    out = sol["PReLUFunction"].apply(z, a)
    g_z, g_a = torch.autograd.grad(out, (z, a), grad_outputs=w)
    z_r, a_r = z.detach().clone().requires_grad_(True), a.detach().clone().requires_grad_(True)
    g_z_r, g_a_r = torch.autograd.grad(F.prelu(z_r, a_r), (z_r, a_r), grad_outputs=w)
    assert g_a.shape == a.shape and g_a.device == a.device
    assert torch.allclose(out.detach(), F.prelu(z_r, a_r).detach(), atol=1e-12)
    assert torch.allclose(g_z, g_z_r, atol=1e-12) and torch.allclose(g_a, g_a_r, atol=1e-10)
    m = sol["MishFunction"].apply(z)
    (g_m,) = torch.autograd.grad(m, z, grad_outputs=w)
    (g_m_r,) = torch.autograd.grad(F.mish(z_r), z_r, grad_outputs=w)
    assert torch.allclose(m.detach(), F.mish(z_r).detach(), atol=1e-12)
    assert torch.allclose(g_m, g_m_r, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_zero_and_large_inputs(sol, dtype):
    z = dev_tensor([-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4], dtype=dtype, requires_grad=True)
    b = dev_tensor(2.0, dtype=dtype, requires_grad=True)
    a = dev_tensor([0.3], dtype=dtype, requires_grad=True)
    for out, inputs in ((sol["SwishFunction"].apply(z, b), (z, b)),
                        (sol["MishFunction"].apply(z), (z,)),
                        (sol["PReLUFunction"].apply(z.unsqueeze(0), a), (z, a))):
        grads = torch.autograd.grad(out.sum(), inputs)
        assert out.dtype == dtype and out.device == z.device
        assert bool(torch.isfinite(out).all()) and all(bool(torch.isfinite(g).all()) for g in grads)
    (g_mish,) = torch.autograd.grad(sol["MishFunction"].apply(z).sum(), z)
    assert abs(g_mish[3].item() - math.tanh(math.log(2.0))) < 1e-6


def test_custom_backwards_run_and_parameter_shapes(sol):
    z = randn((4, 3, 2, 2), 8, dtype=torch.float32).requires_grad_(True)
    swish = sol["Swish"](beta=1.5, trainable=True).to(DEVICE)
    fixed = sol["Swish"](beta=1.5).to(DEVICE)
    mish = sol["Mish"]().to(DEVICE)
    prelu = sol["PReLU"](num_parameters=3, init=0.1).to(DEVICE)
    for module, name in ((swish, "SwishFunctionBackward"), (fixed, "SwishFunctionBackward"),
                         (mish, "MishFunctionBackward"), (prelu, "PReLUFunctionBackward")):
        out = module(z)
        assert type(out.grad_fn).__name__ == name and out.device == z.device
        out.sum().backward()
    assert fixed.beta.device == z.device and "beta" in dict(fixed.named_buffers())
    assert isinstance(swish.beta, nn.Parameter) and swish.beta.grad.shape == swish.beta.shape
    assert prelu.weight.grad.shape == (3,) and prelu.weight.grad.device == z.device


def test_trainable_beta_moves_like_autograd(sol):
    z = randn((64, 4), 9)
    target = z * torch.sigmoid(2.5 * z)
    m = sol["Swish"](beta=1.0, trainable=True).to(device=DEVICE, dtype=torch.float64)
    ref = dev_tensor(1.0, requires_grad=True)
    for _ in range(20):
        (g,) = torch.autograd.grad(((m(z) - target) ** 2).mean(), [m.beta])
        (g_ref,) = torch.autograd.grad(((z * torch.sigmoid(ref * z) - target) ** 2).mean(), [ref])
        with torch.no_grad():
            m.beta -= 0.5 * g
            ref -= 0.5 * g_ref
    assert m.beta.item() > 1.2 and abs(m.beta.item() - ref.item()) < 1e-9


HARNESS = dict(hidden=(64, 64), epochs=3, lr=0.05, batch_size=64, dtype=torch.float64, progress=False)


@pytest.mark.parametrize("mine, reference", [("Swish", nn.SiLU), ("Mish", nn.Mish), ("PReLU", nn.PReLU)])
def test_training_on_the_device_follows_torch_and_the_cpu(sol, mine, reference):
    h = training.train(sol[mine], seed=0, device=DEVICE, **HARNESS)
    h_ref = training.train(reference, seed=0, device=DEVICE, **HARNESS)
    assert h.device.startswith(torch.device(DEVICE).type)
    assert h.train_loss == pytest.approx(h_ref.train_loss, rel=1e-6)
    assert h.test_acc[-1] >= 0.9
    h_cpu = training.train(sol[mine], seed=0, device="cpu", **HARNESS)
    assert h.train_loss == pytest.approx(h_cpu.train_loss, rel=1e-6)
    assert h.test_acc[-1] == pytest.approx(h_cpu.test_acc[-1], abs=0.01)
