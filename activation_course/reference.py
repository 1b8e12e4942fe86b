"""Reference activations in torch, with derivatives from autograd (float64).

These are the oracles the book plots and the assignments compare against. They
are written directly in torch from each activation's definition; every
derivative comes from ``torch.autograd``, so nothing here is a hand-derived
formula that would give an assignment away.

Conventions follow the lecture note: the derivative of ReLU, leaky ReLU and
PReLU at exactly 0 is 1 (the ``z >= 0`` branch is the identity).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

LEAKY_SLOPE = 0.01


def _where_nonneg(z: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    # torch.where picks the identity branch at z == 0, so autograd gives slope 1 there.
    return torch.where(z >= 0, z, neg)


ACTIVATIONS: dict[str, Callable[..., torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": lambda z: _where_nonneg(z, torch.zeros_like(z)),
    "leaky_relu": lambda z: _where_nonneg(z, LEAKY_SLOPE * z),
    "prelu": lambda z, a=0.25: _where_nonneg(z, a * z),
    "swish": lambda z, beta=1.0: z * torch.sigmoid(beta * z),
    "softplus": F.softplus,
    "mish": F.mish,
}
"""name -> torch function of a tensor (extra keyword parameters: ``a``, ``beta``)."""


def value_and_grad(name: str, z, **params) -> tuple[np.ndarray, np.ndarray]:
    """f(z) and f'(z) in float64 numpy arrays, f' by autograd; ``z`` any array-like.

    Args:
        name: an activation of :data:`ACTIVATIONS`.
        z: the points, any array-like.
        **params: the activation's parameters (``a``, ``beta``).

    Returns:
        ``(f(z), f'(z))``, float64 numpy arrays of ``z``'s shape.
    """
    zt = torch.as_tensor(np.asarray(z, dtype=np.float64)).clone().requires_grad_(True)
    y = ACTIVATIONS[name](zt, **params)
    (dy,) = torch.autograd.grad(y.sum(), zt)
    return y.detach().numpy(), dy.numpy()


def torch_module(name: str, **params) -> torch.nn.Module:
    """The activation as an ``nn.Module`` (for networks built in the book).

    Args:
        name: an activation of :data:`ACTIVATIONS`.
        **params: the activation's parameters (``a``, ``beta``), fixed.

    Returns:
        A fresh ``torch.nn.Module`` without parameters of its own.
    """
    fn = ACTIVATIONS[name]

    class _Act(torch.nn.Module):
        def forward(self, z):
            return fn(z, **params)

        def extra_repr(self):
            return name + (f", {params}" if params else "")

    return _Act()


def numpy_fn(name: str, **params) -> Callable[[np.ndarray], np.ndarray]:
    """The reference activation as a numpy function of a float64 array (values only).

    Args:
        name: an activation of :data:`ACTIVATIONS`.
        **params: the activation's parameters (``a``, ``beta``), fixed.

    Returns:
        ``f(z) -> numpy.ndarray`` (float64), named ``name``.

    Raises:
        KeyError: ``name`` is not an activation here.
    """
    if name not in ACTIVATIONS:
        raise KeyError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    fn = ACTIVATIONS[name]

    def f(z):
        with torch.no_grad():
            return fn(torch.as_tensor(np.asarray(z, dtype=np.float64)), **params).numpy()

    f.__name__ = name
    return f
