"""Torch code for the numerical-stability chapter: deep MLPs, Jacobians, gradient norms.

The network follows the lecture note's notation: column vectors, no biases,

    z^(l) = W^(l) a^(l-1),   a^(l) = sigma(z^(l)),   a^(0) = x,   l = 1..L,

so ``W^(l)`` has shape ``(n_l, n_{l-1})`` and a batch of ``B`` inputs is a matrix
``(n_0, B)`` whose columns are the samples. Optionally each ``z^(l)`` is batch
normalised (over the batch, per unit, no learned scale or shift) before sigma.

Every derivative here comes from ``torch.autograd``; the activation derivative
sigma' is autograd applied to the elementwise activation of :mod:`.reference`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from . import reference
from .devices import resolve_device

INITS = ("normal", "xavier", "he")
"""Weight initialisations: ``normal`` is N(0, 1); ``xavier`` is N(0, 2/(n_in+n_out))
(Glorot & Bengio 2010); ``he`` is N(0, 2/n_in) (He et al. 2015)."""

BN_EPS = 1e-5


def _check_activation(name: str) -> None:
    if name not in reference.ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(reference.ACTIVATIONS)}")


def init_std(init: str, n_in: int, n_out: int) -> float:
    """Standard deviation of the weights of one layer under an initialisation scheme.

    Args:
        init: one of :data:`INITS`.
        n_in, n_out: the layer's input and output widths.

    Returns:
        The standard deviation, a float.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {INITS}")
    if n_in < 1 or n_out < 1:
        raise ValueError(f"layer sizes must be positive, got n_in={n_in}, n_out={n_out}")
    if init == "normal":
        return 1.0
    if init == "xavier":
        return math.sqrt(2.0 / (n_in + n_out))
    return math.sqrt(2.0 / n_in)


def make_weights(widths: Sequence[int], init: str = "he", scale: float = 1.0, seed: int = 0,
                 dtype=torch.float64, device="auto") -> list[torch.Tensor]:
    """Weights ``W^(1..L)`` for layer widths ``[n_0, n_1, ..., n_L]``.

    ``W^(l)`` has shape ``(n_l, n_{l-1})`` with i.i.d. N(0, (scale * std)^2) entries,
    ``std`` from :func:`init_std`. The draw uses its own generator seeded with
    ``seed`` (on the CPU, then moved), so a seed gives the same weights on any device.

    These are the chapter's bias-free weight matrices in the note's column-vector
    notation, for :func:`forward`, not a ``torch.nn`` network: the course's one
    network builder is :func:`activation_course.training.make_mlp`.

    Args:
        widths: ``[n_0, ..., n_L]``, at least two widths.
        init: one of :data:`INITS`.
        scale: a positive factor on the standard deviation.
        seed: seed of the draw.
        dtype: the weights' dtype.
        device: ``"auto"`` or a device (:func:`.devices.resolve_device`, which skips
            MPS for float64).

    Returns:
        A list of ``L`` tensors, ``W^(l)`` of shape ``(n_l, n_{l-1})``.
    """
    widths = [int(n) for n in widths]
    if len(widths) < 2:
        raise ValueError(f"need at least an input and an output width, got {widths}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    gen = torch.Generator().manual_seed(seed)
    dev = resolve_device(device, dtype)
    weights = []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        std = scale * init_std(init, n_in, n_out)
        w = torch.randn(n_out, n_in, generator=gen, dtype=torch.float64) * std
        weights.append(w.to(dtype=dtype, device=dev))
    return weights


def batch_normalize(z: torch.Tensor, eps: float = BN_EPS) -> torch.Tensor:
    """Normalise each unit (row) of ``z`` (shape ``(n, B)``) to mean 0, variance 1 over the batch.

    Args:
        z: pre-activations, shape ``(n, B)``.
        eps: added to the variance.

    Returns:
        The normalised tensor, same shape.
    """
    mean = z.mean(dim=1, keepdim=True)
    var = z.var(dim=1, unbiased=False, keepdim=True)
    return (z - mean) / torch.sqrt(var + eps)


def forward(weights: Sequence[torch.Tensor], x: torch.Tensor, activation: str,
            batchnorm: bool = False, **params) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Forward pass; returns ``(zs, activations)`` with ``zs[l-1] = z^(l)`` and
    ``activations[l] = a^(l)`` (``activations[0] = x``). With ``batchnorm`` the
    stored ``z^(l)`` is the normalised pre-activation that enters sigma.

    Args:
        weights: ``[W^(1), ..., W^(L)]`` (e.g. from :func:`make_weights`).
        x: the inputs, shape ``(n_0, B)``.
        activation: an activation of :data:`activation_course.reference.ACTIVATIONS`.
        batchnorm: normalise every ``z^(l)`` over the batch.
        **params: the activation's parameters.

    Returns:
        ``(zs, activations)``, lists of ``L`` and ``L + 1`` tensors.
    """
    _check_activation(activation)
    fn = reference.ACTIVATIONS[activation]
    if x.dim() != 2 or x.shape[0] != weights[0].shape[1]:
        raise ValueError(f"x must have shape (n_0={weights[0].shape[1]}, batch), got {tuple(x.shape)}")
    zs, acts = [], [x]
    for w in weights:
        z = w @ acts[-1]
        if batchnorm:
            z = batch_normalize(z)
        zs.append(z)
        acts.append(fn(z, **params))
    return zs, acts


def activation_derivative(activation: str, z: torch.Tensor, **params) -> torch.Tensor:
    """sigma'(z) elementwise, by autograd (valid because sigma acts elementwise).

    Args:
        activation: an activation of :data:`activation_course.reference.ACTIVATIONS`.
        z: the points, a tensor.
        **params: the activation's parameters.

    Returns:
        sigma'(z), a tensor of ``z``'s shape.
    """
    _check_activation(activation)
    zz = z.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = reference.ACTIVATIONS[activation](zz, **params)
        (d,) = torch.autograd.grad(y.sum(), zz)
    return d


def deltas_by_jacobians(weights: Sequence[torch.Tensor], x: torch.Tensor, dL_dy: torch.Tensor,
                        activation: str, **params) -> list[torch.Tensor]:
    """Errors ``delta^(l)`` of one sample as explicit products of Jacobian matrices.

    ``x`` has shape ``(n_0, 1)`` and ``dL_dy`` shape ``(n_L, 1)``. Returns
    ``[delta^(1), ..., delta^(L)]`` with

        delta^(l) = diag(sigma'(z^(l))) W^(l+1)^T diag(sigma'(z^(l+1))) ... W^(L)^T diag(sigma'(z^(L))) dL/dy

    built as a matrix product (not a loop of vector updates), sigma' by autograd.

    Args:
        weights: ``[W^(1), ..., W^(L)]``.
        x: one sample, shape ``(n_0, 1)``.
        dL_dy: the loss gradient at the output, shape ``(n_L, 1)``.
        activation: an activation of :data:`activation_course.reference.ACTIVATIONS`.
        **params: the activation's parameters.

    Returns:
        ``[delta^(1), ..., delta^(L)]``, column vectors.
    """
    if x.dim() != 2 or x.shape[1] != 1:
        raise ValueError(f"x must be one column vector of shape (n_0, 1), got {tuple(x.shape)}")
    if dL_dy.shape != (weights[-1].shape[0], 1):
        raise ValueError(f"dL_dy must have shape ({weights[-1].shape[0]}, 1), got {tuple(dL_dy.shape)}")
    with torch.no_grad():
        zs, _ = forward(weights, x, activation, **params)
    jac = [torch.diag(activation_derivative(activation, z, **params)[:, 0]) for z in zs]
    L = len(weights)
    deltas = []
    for l in range(1, L + 1):
        factors = [jac[l - 1]]
        for k in range(l + 1, L + 1):
            factors += [weights[k - 1].T, jac[k - 1]]
        factors.append(dL_dy)
        deltas.append(torch.linalg.multi_dot(factors) if len(factors) > 2 else factors[0] @ factors[1])
    return deltas


def weight_gradients_from_deltas(deltas: Sequence[torch.Tensor],
                                 activations: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``grad_{W^(l)} L = delta^(l) a^(l-1)^T`` for every layer.

    Args:
        deltas: ``[delta^(1), ..., delta^(L)]``.
        activations: ``[a^(0), ..., a^(L)]`` (from :func:`forward`).

    Returns:
        ``[grad_{W^(1)} L, ..., grad_{W^(L)} L]``.
    """
    return [d @ a.T for d, a in zip(deltas, activations[:-1])]


def weight_gradient_norms(weights: Sequence[torch.Tensor], x: torch.Tensor, g: torch.Tensor,
                          activation: str, batchnorm: bool = False, **params) -> np.ndarray:
    """Frobenius norms ``||grad_{W^(l)} L||``, ``l = 1..L``, for ``L = sum(g * y) / B``.

    ``x`` has shape ``(n_0, B)`` and ``g`` the shape of the output ``y``, ``(n_L, B)``;
    so ``dL/dy = g / B`` whatever the activation. Gradients come from autograd (the
    given weights are not modified). Returns a float64 numpy array; in ``float32``
    entries may be ``inf``, ``nan`` or 0 once the forward pass has overflowed.

    Args:
        weights: ``[W^(1), ..., W^(L)]``.
        x: the inputs, shape ``(n_0, B)``.
        g: the fixed upstream gradient, shape ``(n_L, B)``.
        activation: an activation of :data:`activation_course.reference.ACTIVATIONS`.
        batchnorm: normalise every ``z^(l)`` over the batch.
        **params: the activation's parameters.

    Returns:
        A float64 numpy array of length ``L``.
    """
    if x.dim() != 2 or g.shape != (weights[-1].shape[0], x.shape[1]):
        raise ValueError(f"g must have the output's shape ({weights[-1].shape[0]}, {x.shape[1]}), "
                         f"got {tuple(g.shape)}")
    ws = [w.detach().clone().requires_grad_(True) for w in weights]
    with torch.enable_grad():
        _, acts = forward(ws, x, activation, batchnorm=batchnorm, **params)
        loss = (g * acts[-1]).sum() / x.shape[1]
        grads = torch.autograd.grad(loss, ws)
    return np.array([torch.linalg.norm(gw.detach().to("cpu", torch.float64)).item() for gw in grads])


def _square_network(depth, width, batch, init, scale, seed, dtype, device):
    """Weights of a square ``depth``-layer net, inputs ``x`` and upstream ``g`` (see the callers)."""
    if depth < 1 or width < 1 or batch < 2:
        raise ValueError(f"need depth >= 1, width >= 1, batch >= 2; got {depth}, {width}, {batch}")
    dev = resolve_device(device, dtype)
    weights = make_weights([width] * (depth + 1), init=init, scale=scale, seed=seed, dtype=dtype, device=dev)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(width, batch, generator=gen, dtype=torch.float64).to(dtype=dtype, device=dev)
    g = torch.randn(width, batch, generator=gen, dtype=torch.float64).to(dtype=dtype, device=dev)
    return weights, x, g


def layer_gradient_norms(activation: str, depth: int = 30, width: int = 64, init: str = "he",
                         scale: float = 1.0, batchnorm: bool = False, batch: int = 128,
                         seed: int = 0, dtype=torch.float64, device="auto",
                         **params) -> np.ndarray:
    """Per-layer gradient norms of a fresh MLP: :func:`weight_gradient_norms` on
    ``depth`` layers of ``width`` units (input width too), weights from
    :func:`make_weights` (``seed``), inputs ``x ~ N(0, 1)`` in ``batch`` columns and a
    fixed upstream ``g ~ N(0, 1)`` (both drawn from a generator seeded ``seed + 1``,
    ``x`` first). Returns a float64 numpy array of length ``depth``.

    Args:
        activation: an activation of :data:`activation_course.reference.ACTIVATIONS`.
        depth, width, batch: the network's depth and width and the batch size.
        init, scale, seed: the weights (:func:`make_weights`).
        batchnorm: normalise every ``z^(l)`` over the batch.
        dtype: the computation's dtype.
        device: ``"auto"`` or a device (:func:`.devices.resolve_device`).
        **params: the activation's parameters.

    Returns:
        A float64 numpy array of length ``depth``.
    """
    weights, x, g = _square_network(depth, width, batch, init, scale, seed, dtype, device)
    return weight_gradient_norms(weights, x, g, activation, batchnorm=batchnorm, **params)


# ---------------------------------------------------------------------------
# Mean-field prediction of the backward gain, and the critical weight variance
# ---------------------------------------------------------------------------

_Q_GRID = np.linspace(-12.0, 12.0, 8000)  # in units of sqrt(q); even: no node at z = 0
_Q_WEIGHTS = np.exp(-0.5 * _Q_GRID**2) * (_Q_GRID[1] - _Q_GRID[0]) / math.sqrt(2.0 * math.pi)


def _gauss_moments(activation: str, q: float, **params) -> tuple[float, float]:
    """``(E[sigma(z)^2], E[sigma'(z)^2])`` for ``z ~ N(0, q)``: a Riemann sum on 8,000
    equally spaced points of ``[-12 sqrt(q), 12 sqrt(q)]`` (none at the kink ``z = 0``),
    sigma' by autograd. Equal spacing, unlike Gauss-Hermite nodes, resolves the narrow
    peak of sigma' when ``q`` is large."""
    f, df = reference.value_and_grad(activation, math.sqrt(q) * _Q_GRID, **params)
    return float(_Q_WEIGHTS @ f**2), float(_Q_WEIGHTS @ df**2)


def mean_field_gain(activation: str, n_var_w: float, q0: float = 1.0, iterations: int = 500,
                    **params) -> tuple[float, float]:
    """Fixed point ``q*`` of the pre-activation variance and the backward gain ``chi`` there.

    For a wide bias-free MLP with i.i.d. zero-mean weights of variance ``Var[w]`` and
    ``n_var_w = n Var[w]`` (width times variance), the variance of every
    pre-activation obeys ``q_l = n_var_w * E[sigma(z)^2]`` with ``z ~ N(0, q_{l-1})``
    (the layer law of the background chapter, with z taken as Gaussian). Iterating from
    ``q0`` gives ``q*``; the backward pass then multiplies the mean squared error
    ``E[delta^2]`` by ``chi = n_var_w * E[sigma'(z)^2]`` per layer (Schoenholz et al.
    2017, "Deep Information Propagation"). ``chi < 1``: gradients vanish towards the
    input; ``chi > 1``: they explode; ``chi = 1``: the critical initialisation.
    ``q`` is clipped to ``[1e-12, 1e12]`` (for ReLU it never settles, but its chi does
    not depend on q). Returns ``(q*, chi)``.

    Args:
        activation: an activation of :data:`activation_course.reference.ACTIVATIONS`.
        n_var_w: ``n Var[w]``, positive.
        q0: the initial variance.
        iterations: the most iterations of the variance map (0: ``chi`` at ``q0``).
        **params: the activation's parameters.

    Returns:
        ``(q_star, chi)``, floats.
    """
    _check_activation(activation)
    if n_var_w <= 0:
        raise ValueError(f"n_var_w must be positive, got {n_var_w}")
    q = float(q0)
    for _ in range(iterations):
        q_next = min(max(n_var_w * _gauss_moments(activation, q, **params)[0], 1e-12), 1e12)
        if abs(q_next - q) <= 1e-12 * q:
            break
        q = q_next
    return q, n_var_w * _gauss_moments(activation, q, **params)[1]


def critical_weight_std(activation: str, width: int, lo: float = 1e-3, hi: float = 10.0,
                        tol: float = 1e-6, **params) -> float:
    """Weight standard deviation at which :func:`mean_field_gain` gives ``chi = 1``.

    Bisection on ``std`` in ``[lo, hi]`` for layers of ``width`` inputs (``n Var[w] =
    width * std**2``); assumes chi grows with std, as it does for the activations here.
    ``width * std**2`` of the result does not depend on ``width``.

    For sigmoid, tanh and ReLU chi crosses 1 continuously, at a stable fixed point
    ``q*`` (for ReLU at n Var[w] = 2, He's value, whatever q). Swish and Mish have no
    such point in a bias-free network: their fixed point is unstable, so ``q*`` jumps
    from 0 to the clipping bound as std crosses the value at which ``q0`` (default 1)
    is itself the fixed point, and chi jumps across 1 there (from about 0.70 to 1.41
    for Swish). The result is then that balance point, where chi at ``q = q0`` is
    close to 1 (about 1.07 for Swish, 1.06 for Mish).

    Args:
        activation: an activation of :data:`activation_course.reference.ACTIVATIONS`.
        width: the layers' input width.
        lo, hi: the bracket of the bisection.
        tol: the relative tolerance.
        **params: the activation's parameters.

    Returns:
        The critical weight standard deviation, a float.

    Raises:
        ValueError: chi does not cross 1 in ``[lo, hi]``.
    """
    def chi(std):
        return mean_field_gain(activation, width * std * std, **params)[1]

    if not chi(lo) < 1.0 < chi(hi):
        raise ValueError(f"chi does not cross 1 between std={lo} and std={hi} for {activation!r}")
    while hi - lo > tol * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if chi(mid) < 1.0 else (lo, mid)
    return 0.5 * (lo + hi)


def layer_statistics(activation: str, depth: int = 30, width: int = 64, init: str = "he",
                     scale: float = 1.0, batchnorm: bool = False, batch: int = 128,
                     seed: int = 0, dtype=torch.float64, device="auto",
                     **params) -> dict[str, list[np.ndarray]]:
    """Per-layer values at initialisation, for histograms, in the network of
    :func:`layer_gradient_norms` (same weights, inputs and upstream gradient for the
    same arguments).

    Returns ``{"z": [...], "a": [...], "grad_w": [...]}``, each a list of ``depth``
    flat float64 numpy arrays: the pre-activations ``z^(l)`` and activations ``a^(l)``
    over the whole batch, and the entries of ``grad_{W^(l)} L`` (autograd), for
    ``l = 1..depth``.

    Args:
        activation, depth, width, init, scale, batchnorm, batch, seed, dtype, device,
            **params: as in :func:`layer_gradient_norms`.

    Returns:
        ``{"z": [...], "a": [...], "grad_w": [...]}``, lists of flat float64 arrays.
    """
    weights, x, g = _square_network(depth, width, batch, init, scale, seed, dtype, device)
    ws = [w.detach().clone().requires_grad_(True) for w in weights]
    with torch.enable_grad():
        zs, acts = forward(ws, x, activation, batchnorm=batchnorm, **params)
        grads = torch.autograd.grad((g * acts[-1]).sum() / batch, ws)

    def flat(t):
        return t.detach().to("cpu", torch.float64).numpy().ravel()

    return {"z": [flat(z) for z in zs], "a": [flat(a) for a in acts[1:]],
            "grad_w": [flat(gw) for gw in grads]}
