"""Assignment 3's public checks, and the training run its hidden tests share.

Shipped next to the student notebook and in the autograder zip (the master's
``files:``), so each public test cell is one call, e.g. ``check_swish_function(SwishFunction)``.
It holds no solution: the references are torch's own activations (``F.silu``,
``F.mish``, ``F.prelu``) and autograd. The hidden tests (``hw3_oracle.py``,
autograder only) import ``digits_run`` from here. Every ``check_*`` returns None and
raises ``AssertionError`` with a message saying what was expected. Everything runs on
the CPU, in one thread for the training runs, so the grade is the same on any machine.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def grad_fn_name(out) -> str:
    """The class name of a tensor's ``grad_fn`` (``SwishFunctionBackward`` for ``SwishFunction.apply``).

    Args:
        out: a tensor.
    Returns:
        The name, or ``"None"`` when the tensor has no ``grad_fn``.
    """
    return type(out.grad_fn).__name__ if out.grad_fn is not None else "None"


def digits_run(make_activation, seed=0, epochs=3):
    """Train a 64-64-64-10 MLP on the 8x8 digits in float64 from a fixed seed.

    SGD with momentum 0.9 written out (torch.optim.SGD's update), batch 64, one CPU thread.

    Args:
        make_activation: a factory of activation modules, one per hidden layer.
        seed: fixes the initial weights and the batch order.
        epochs: passes over the training set.
    Returns:
        ``(losses, accuracy, net)``: the loss after every step, the test accuracy, the network.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, y = load_digits(return_X_y=True)
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
        mu, sd = x_tr.mean(0), x_tr.std(0)
        sd[sd == 0] = 1
        x_tr, x_te = [torch.tensor((v - mu) / sd, dtype=torch.float64) for v in (x_tr, x_te)]
        y_tr, y_te = torch.tensor(y_tr), torch.tensor(y_te)
        gen = torch.Generator().manual_seed(seed)
        layers, width = [], 64
        for out_width in (64, 64, 10):
            lin = nn.Linear(width, out_width).double()
            with torch.no_grad():
                lin.weight.uniform_(-math.sqrt(6 / width), math.sqrt(6 / width), generator=gen)
                lin.bias.zero_()
            layers.append(lin)
            if out_width != 10:
                layers.append(make_activation().double())
            width = out_width
        net = nn.Sequential(*layers)
        params = list(net.parameters())
        velocity = [torch.zeros_like(p) for p in params]
        losses = []
        for _ in range(epochs):
            order = torch.randperm(len(y_tr), generator=gen)
            for i in range(0, len(y_tr), 64):
                idx = order[i:i + 64]
                loss = nn.functional.cross_entropy(net(x_tr[idx]), y_tr[idx])
                grads = torch.autograd.grad(loss, params)
                with torch.no_grad():
                    for p, v, g in zip(params, velocity, grads):
                        v.mul_(0.9).add_(g)
                        p.sub_(0.05 * v)
                losses.append(loss.item())
        with torch.no_grad():
            accuracy = (net(x_te).argmax(1) == y_te).double().mean().item()
        return np.array(losses), accuracy, net
    finally:
        torch.set_num_threads(threads)


def _autograd_grad(f, z):
    """df/dz summed over outputs, by autograd on a fresh copy of z."""
    z_ref = z.detach().clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(f(z_ref).sum(), z_ref)
    return g_ref


# ------------------------------------------------------------ the public checks, one per question

def check_swish_function(SwishFunction):
    """Q1: beta = 1 against F.silu (values, grad_z), grad_beta's shape, float32, and the grad_fn.

    Args:
        SwishFunction: the student's autograd Function.
    Returns:
        None; raises AssertionError.
    """
    z = torch.linspace(-6, 6, 25, dtype=torch.float64, requires_grad=True)
    a = SwishFunction.apply(z, torch.tensor(1.0, dtype=torch.float64))
    assert grad_fn_name(a) == "SwishFunctionBackward", f"the output's grad_fn is {grad_fn_name(a)}, expected SwishFunctionBackward: return the result of your forward, computed without autograd"
    assert torch.allclose(a, F.silu(z.detach()), atol=1e-12), "at beta = 1 the forward pass should equal F.silu"
    (g,) = torch.autograd.grad(a.sum(), z)
    assert torch.allclose(g, _autograd_grad(F.silu, z), atol=1e-10), "at beta = 1, grad_z should equal the derivative of F.silu"
    b = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    g_z, g_b = torch.autograd.grad(SwishFunction.apply(z, b).sum(), (z, b))
    assert g_b.shape == b.shape, f"grad_beta has shape {tuple(g_b.shape)}, beta has shape {tuple(b.shape)}"
    assert SwishFunction.apply(torch.randn(4, 3), torch.tensor(1.0)).dtype == torch.float32, "float32 in should give float32 out"


def check_swish_module(Swish):
    """Q2: Swish() equals F.silu; beta is a parameter or a buffer as asked.

    Args:
        Swish: the student's module class.
    Returns:
        None; raises AssertionError.
    """
    z = torch.linspace(-4, 4, 9)
    assert torch.allclose(Swish()(z), F.silu(z), atol=1e-6), "Swish() should equal F.silu"
    m = Swish(beta=1.5, trainable=True)
    assert any(p is m.beta for p in m.parameters()), "with trainable=True, beta must be an nn.Parameter listed by .parameters()"
    m = Swish(beta=1.5)
    assert len(list(m.parameters())) == 0 and "beta" in dict(m.named_buffers()), "with trainable=False, beta must be a buffer, not a parameter"


def check_mish(MishFunction, Mish):
    """Q3: against F.mish on [-6, 6] (values and gradient, z = 0 included) and the grad_fn.

    Args:
        MishFunction: the student's autograd Function.
        Mish: the student's module class.
    Returns:
        None; raises AssertionError.
    """
    z = torch.linspace(-6, 6, 25, dtype=torch.float64, requires_grad=True)
    a = MishFunction.apply(z)
    assert grad_fn_name(a) == "MishFunctionBackward", f"the output's grad_fn is {grad_fn_name(a)}, expected MishFunctionBackward"
    assert torch.allclose(a, F.mish(z.detach()), atol=1e-12), "the forward pass should equal F.mish"
    (g,) = torch.autograd.grad(a.sum(), z)
    assert bool(torch.isfinite(g).all()), "the gradient is not finite everywhere (z = 0 is in this grid)"
    assert torch.allclose(g, _autograd_grad(F.mish, z), atol=1e-10), "grad_z should equal the derivative of F.mish"
    assert torch.allclose(Mish()(z.detach()), F.mish(z.detach()), atol=1e-12), "Mish() should equal F.mish"


def check_prelu(PReLUFunction, PReLU):
    """Q4: against F.prelu (values, grad_z and grad_a, one slope) and the module's parameter.

    Args:
        PReLUFunction: the student's autograd Function.
        PReLU: the student's module class.
    Returns:
        None; raises AssertionError.
    """
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    z = (z + 0.1 * z.sign()).requires_grad_(True)
    slope = torch.tensor([0.25], dtype=torch.float64, requires_grad=True)
    out = PReLUFunction.apply(z, slope)
    assert grad_fn_name(out) == "PReLUFunctionBackward", f"the output's grad_fn is {grad_fn_name(out)}, expected PReLUFunctionBackward"
    assert torch.allclose(out, F.prelu(z.detach(), slope.detach())), "the forward pass should equal F.prelu"
    g_z, g_a = torch.autograd.grad(out.sum(), (z, slope))
    z_ref = z.detach().clone().requires_grad_(True)
    a_ref = slope.detach().clone().requires_grad_(True)
    g_z_ref, g_a_ref = torch.autograd.grad(F.prelu(z_ref, a_ref).sum(), (z_ref, a_ref))
    assert torch.allclose(g_z, g_z_ref), "grad_z should match F.prelu"
    assert g_a.shape == slope.shape, f"grad_a has shape {tuple(g_a.shape)}, a has shape {tuple(slope.shape)}"
    assert torch.allclose(g_a, g_a_ref), "grad_a should match F.prelu"
    m = PReLU()
    assert isinstance(m.weight, torch.nn.Parameter) and tuple(m.weight.shape) == (1,) and m.weight.item() == 0.25, "PReLU() should have a Parameter weight of shape (1,) equal to 0.25"


def check_training(Swish):
    """Q5: one epoch with Swish() follows the same run with nn.SiLU step by step.

    Args:
        Swish: the student's module class.
    Returns:
        None; raises AssertionError.
    """
    losses, _, _ = digits_run(Swish, epochs=1)
    losses_ref, _, _ = digits_run(nn.SiLU, epochs=1)
    assert np.allclose(losses, losses_ref, rtol=1e-6, atol=1e-9), f"the loss curve with Swish() drifts from nn.SiLU: largest gap {np.abs(losses - losses_ref).max():.2e}"
