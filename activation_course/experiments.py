"""Small, deterministic experiments used by the book's chapters.

Each function takes its seed (or a ``torch.Generator``) as an argument, runs in
well under a second on a CPU, and returns plain numbers or arrays so a chapter
only has to plot them. Derivatives come from torch autograd; nothing here is a
hand-derived derivative formula (deriving those is Assignment 1).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from . import reference, training
from .devices import resolve_device

ArrayFn = Callable[[np.ndarray], np.ndarray]


def _device(device: str | torch.device = "auto") -> torch.device:
    # Everything here computes in float64, so "auto" never picks MPS (which has none).
    return resolve_device(device, torch.float64)


# ---------------------------------------------------------------------------
# Chapter 1: one hidden layer of growing width (universal approximation)
# ---------------------------------------------------------------------------

def random_feature_fit(
    sigma: ArrayFn,
    target: ArrayFn,
    width: int,
    *,
    seed: int,
    interval: tuple[float, float] = (-1.0, 1.0),
    n_train: int = 1000,
    n_test: int = 2001,
    weight_scale: float = 10.0,
) -> float:
    """Fit ``x -> W2 sigma(W1 x + b1)`` to ``target`` on an interval; return the sup error.

    The hidden layer (``width`` units, 1-D input) is drawn at random and kept fixed:
    slopes ``w ~ weight_scale * N(0, 1)`` and biases chosen so that each unit's
    "centre" ``-b/w`` is uniform on a slightly enlarged interval. The output
    weights ``W2`` are then the least-squares fit on ``n_train`` equally spaced
    points (``numpy.linalg.lstsq``, which copes with rank-deficient features). The
    result, ``max |target(x) - f_eps(x)|`` over ``n_test`` points of the interval,
    estimates the uniform error of the universal approximation theorem. Any fixed
    choice of ``W1, b1`` gives one network of the theorem's form, so this error is
    an upper bound on the best error achievable at this width.

    ``sigma`` and ``target`` are numpy functions of a float64 array.

    Args:
        sigma: the activation, a numpy function of a float64 array.
        target: the function to approximate, a numpy function of a float64 array.
        width: the number of hidden units, a positive integer.
        seed: seed of the random hidden layer.
        interval: ``(lo, hi)``, the interval of the fit.
        n_train, n_test: the numbers of equally spaced fit and test points.
        weight_scale: the standard deviation of the hidden slopes.

    Returns:
        The largest absolute error on the test points, a float.
    """
    if int(width) != width or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    lo, hi = map(float, interval)
    if not lo < hi:
        raise ValueError(f"interval must satisfy lo < hi, got {interval!r}")
    rng = np.random.default_rng(seed)
    w = weight_scale * rng.standard_normal(int(width))
    span = hi - lo
    centres = rng.uniform(lo - 0.1 * span, hi + 0.1 * span, int(width))
    b = -w * centres

    def features(x):
        return sigma(np.outer(x, w) + b)

    x_train = np.linspace(lo, hi, n_train)
    x_test = np.linspace(lo, hi, n_test)
    w2, *_ = np.linalg.lstsq(features(x_train), target(x_train), rcond=None)
    return float(np.max(np.abs(features(x_test) @ w2 - target(x_test))))


def width_sweep(
    activations: dict[str, ArrayFn],
    target: ArrayFn,
    widths,
    *,
    seeds=(0, 1, 2),
    **fit_kwargs,
) -> dict[str, np.ndarray]:
    """Median (over ``seeds``) sup error of :func:`random_feature_fit` per width.

    Returns ``{name: array of len(widths)}``.

    Args:
        activations: ``{name: sigma}``, numpy activation functions.
        target: the function to approximate.
        widths: the widths to try.
        seeds: the seeds to take the median over.
        **fit_kwargs: passed on to :func:`random_feature_fit`.

    Returns:
        ``{name: float64 array of len(widths)}``, the median sup errors.
    """
    out = {}
    for name, sigma in activations.items():
        errs = [[random_feature_fit(sigma, target, n, seed=s, **fit_kwargs) for s in seeds]
                for n in widths]
        out[name] = np.median(np.asarray(errs), axis=1)
    return out


def minimax_polynomial_error(target: ArrayFn, degree: int, x: np.ndarray) -> float:
    """Smallest possible ``max_i |target(x_i) - p(x_i)|`` over polynomials ``p`` of ``degree``.

    The best *uniform* (minimax) approximation on the points ``x``, found as a linear
    program: minimise ``t`` subject to ``-t <= p(x_i) - target(x_i) <= t`` for every
    point, with ``p`` written in the Chebyshev basis of the points' interval (for
    conditioning) and solved by scipy's HiGHS. A least-squares fit minimises the mean
    squared error instead, and its largest error is larger.

    Args:
        target: the function to approximate, a numpy function of a float64 array.
        degree: the polynomial degree, a non-negative integer.
        x: the points, a 1-D array.

    Returns:
        The minimax error ``max_i |target(x_i) - p(x_i)|`` of the best ``p``, a float.
    """
    from scipy.optimize import linprog

    if int(degree) != degree or degree < 0:
        raise ValueError(f"degree must be a non-negative integer, got {degree!r}")
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(), x.max()
    basis = np.polynomial.chebyshev.chebvander((2 * x - lo - hi) / (hi - lo), int(degree))
    f = target(x)
    k = basis.shape[1]
    ones = np.ones((len(x), 1))
    a_ub = np.vstack([np.hstack([basis, -ones]), np.hstack([-basis, -ones])])
    b_ub = np.concatenate([f, -f])
    cost = np.zeros(k + 1)
    cost[-1] = 1.0
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=[(None, None)] * k + [(0, None)],
                  method="highs")
    if not res.success:  # pragma: no cover - a bounded feasible LP always solves
        raise RuntimeError(f"linear program failed: {res.message}")
    return float(np.max(np.abs(basis @ res.x[:k] - f)))


# ---------------------------------------------------------------------------
# Chapter 2: derivatives measured by autograd
# ---------------------------------------------------------------------------

def derivative_range(name: str, z=None, **params) -> tuple[float, float]:
    """(min, max) of f' over a grid (default: 200 001 points on [-20, 20]), by autograd.

    Args:
        name: an activation of :data:`activation_course.reference.ACTIVATIONS`.
        z: the grid (array-like), or ``None`` for the default grid.
        **params: the activation's parameters (``a``, ``beta``).

    Returns:
        ``(min, max)`` of the derivative on the grid, floats.
    """
    z = np.linspace(-20, 20, 200_001) if z is None else z
    _, df = reference.value_and_grad(name, z, **params)
    return float(df.min()), float(df.max())


def sigmoid_factor_products(depth: int, *, z_std: float = 1.0, n_paths: int = 10_000,
                            seed: int = 0) -> np.ndarray:
    """Products of ``n`` sigmoid derivatives sigma'(z) for n = 1..depth.

    Draws ``n_paths`` independent chains of pre-activations ``z ~ N(0, z_std^2)``
    and returns, for each n, the median over chains of ``prod_{k<=n} sigma'(z_k)``
    (sigma' from autograd): the factor that the note's chain
    ``f'(z^l) f'(z^{l+1}) ... f'(z^{l+n})`` contributes to a gradient.
    Computed as a sum of logs, so it does not underflow.

    Args:
        depth: the longest product, at least 1.
        z_std: the standard deviation of the pre-activations.
        n_paths: the number of independent chains.
        seed: seed of numpy's generator.

    Returns:
        A float64 array of length ``depth``: entry ``n - 1`` is the median product of
        ``n`` factors.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth!r}")
    rng = np.random.default_rng(seed)
    z = z_std * rng.standard_normal((n_paths, depth))
    _, d = reference.value_and_grad("sigmoid", z)
    log_products = np.cumsum(np.log(d), axis=1)
    return np.exp(np.median(log_products, axis=0))


# ---------------------------------------------------------------------------
# Chapter 2: dying ReLU
# ---------------------------------------------------------------------------

def _toy_mlp(activation: str, sizes, seed: int, device) -> torch.nn.Sequential:
    """The chapters' small float64 MLP: :func:`.training.make_mlp` with torch's default range."""
    sizes = [int(n) for n in sizes]
    return training.make_mlp(activation, sizes[1:-1], in_features=sizes[0], out_features=sizes[-1],
                             init="torch_default", seed=seed, dtype=torch.float64, device=_device(device))


def _hidden_linears(model: torch.nn.Sequential) -> list[torch.nn.Linear]:
    mods = list(model)
    return [m for i, m in enumerate(mods) if isinstance(m, torch.nn.Linear) and i + 1 < len(mods)]


def dead_unit_masks(model: torch.nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Per hidden layer, which units have pre-activation z < 0 on every input.

    For ReLU such a unit outputs 0 on the whole data set, and autograd gives its
    incoming weights a zero gradient: it is "dead". Hidden layers are the ``Linear``
    modules followed by another module (the activation).

    Args:
        model: a ``torch.nn.Sequential`` of ``Linear`` layers and activations.
        x: the inputs, shape ``(n, in_features)``.

    Returns:
        One boolean tensor per hidden layer, ``True`` for a dead unit.
    """
    masks = []
    h = x
    mods = list(model)
    with torch.no_grad():
        for i, m in enumerate(mods):
            h = m(h)
            if isinstance(m, torch.nn.Linear) and i + 1 < len(mods):
                masks.append((h < 0).all(dim=0))
    return masks


def dead_unit_fraction(model: torch.nn.Sequential, x: torch.Tensor) -> list[float]:
    """Per hidden layer, the fraction of dead units (see :func:`dead_unit_masks`).

    Args:
        model: a ``torch.nn.Sequential`` of ``Linear`` layers and activations.
        x: the inputs, shape ``(n, in_features)``.

    Returns:
        One fraction in [0, 1] per hidden layer.
    """
    return [float(m.double().mean()) for m in dead_unit_masks(model, x)]


def sgd_steps(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float,
              steps: int = 1) -> list[float]:
    """Plain full-batch gradient descent on the mean squared error; returns the losses.

    Args:
        model: the network, updated in place.
        x, y: inputs and targets.
        lr: the learning rate.
        steps: the number of full-batch steps.

    Returns:
        The loss before each step, one float per step.
    """
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def dying_relu_trial(activation: str, lr: float, *, seed: int, recovery_steps: int = 100,
                     recovery_lr: float = 0.01, n_data: int = 256,
                     device: str | torch.device = "auto") -> dict:
    """One big gradient step on a fresh MLP, then ordinary training; count dead units.

    Builds the float64 MLP 2 -> 64 -> 64 -> 1 (:func:`.training.make_mlp` with
    ``init="torch_default"``) on ``n_data`` points of
    :func:`toy_regression`,
    takes one full-batch gradient step with learning rate ``lr``, then
    ``recovery_steps`` steps at ``recovery_lr``. Returns the fraction of hidden
    units (both layers together) with z < 0 on every input ``before``, ``after``
    the big step and at the ``end``, plus ``grad_norm_dead``: after the big step,
    the largest autograd gradient norm of the incoming weights (and bias) of any
    such unit (exactly 0 for ReLU, since no input reaches its active side).

    Args:
        activation: an activation of :data:`activation_course.reference.ACTIVATIONS`.
        lr: the learning rate of the one big step.
        seed: seed of the data (``seed``) and of the network (``seed + 1000``).
        recovery_steps, recovery_lr: the ordinary training after the big step.
        n_data: the number of data points.
        device: ``"auto"`` or a device (float64, so never MPS; see
            :func:`.devices.resolve_device`).

    Returns:
        ``{"before", "after", "end", "grad_norm_dead"}``, floats.
    """
    x, y = toy_regression(n_data, seed=seed, device=device)
    model = _toy_mlp(activation, (2, 64, 64, 1), seed + 1000, device)

    def frac():
        # both hidden layers have 64 units: the mean of the layers' fractions is the overall one
        return float(np.mean(dead_unit_fraction(model, x)))

    before = frac()
    sgd_steps(model, x, y, lr=lr, steps=1)
    after = frac()
    model.zero_grad()
    torch.mean((model(x) - y) ** 2).backward()
    grad_norm_dead = 0.0
    for m, dead in zip(_hidden_linears(model), dead_unit_masks(model, x)):
        if dead.any():
            g = torch.cat([m.weight.grad[dead], m.bias.grad[dead, None]], dim=1)
            grad_norm_dead = max(grad_norm_dead, float(g.norm(dim=1).max()))
    sgd_steps(model, x, y, lr=recovery_lr, steps=recovery_steps)
    return {"before": before, "after": after, "end": frac(), "grad_norm_dead": grad_norm_dead}


def toy_regression(n: int = 512, *, seed: int, device: str | torch.device = "auto"):
    """A 2-D regression data set: x ~ N(0, I), y = sin(2 x1) + x2^2 / 2 (float64).

    Args:
        n: the number of points.
        seed: seed of the draw (on the CPU, so the same data on every device).
        device: ``"auto"`` or a device (float64, so never MPS).

    Returns:
        ``(x, y)``: float64 tensors of shapes ``(n, 2)`` and ``(n, 1)``.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    y = torch.sin(2 * x[:, :1]) + 0.5 * x[:, 1:] ** 2
    dev = _device(device)
    return x.to(dev), y.to(dev)


# ---------------------------------------------------------------------------
# Chapter 2: PReLU learns its slope
# ---------------------------------------------------------------------------

def prelu_slope_descent(a_true=(0.3,), a_init=(0.0,), *, lr: float = 0.05, steps: int = 200,
                        n: int = 256, width: int = 16, seed: int = 0,
                        device: str | torch.device = "auto") -> np.ndarray:
    """Learn PReLU slopes ``a^l`` (one per layer) by gradient descent; return the history.

    A teacher network ``y = w^T f_L(W_L ... f_1(W_1 x))`` with PReLU slopes
    ``a_true`` generates the data; the student has the same (fixed, known)
    weights and starts from ``a_init``. Each step applies
    ``a^l <- a^l - lr * dL/da^l`` with ``L`` the mean squared error and the
    gradient from autograd; since one ``a^l`` is shared by every position of
    layer l, autograd sums the per-position contributions, as in the note.
    Returns an array of shape ``(steps + 1, len(a_true))``.

    Args:
        a_true: the teacher's slopes, one per layer.
        a_init: the student's initial slopes, as many as ``a_true``.
        lr: the learning rate.
        steps: the number of gradient steps.
        n: the number of data points.
        width: the width of every hidden layer.
        seed: seed of the weights and data.
        device: ``"auto"`` or a device (float64, so never MPS).

    Returns:
        A float64 numpy array of shape ``(steps + 1, len(a_true))``: the slopes after
        each step, the initial ones first.
    """
    if len(a_true) != len(a_init):
        raise ValueError("a_true and a_init need one slope per layer each")
    dev = _device(device)
    gen = torch.Generator().manual_seed(seed)  # drawn on the CPU: same data on any device
    d = 4
    Ws = [(torch.randn(width, d if l == 0 else width, generator=gen, dtype=torch.float64)
           / np.sqrt(d if l == 0 else width)).to(dev) for l in range(len(a_true))]
    w_out = (torch.randn(width, 1, generator=gen, dtype=torch.float64) / np.sqrt(width)).to(dev)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64).to(dev)
    prelu = reference.ACTIVATIONS["prelu"]

    def forward(slopes):
        h = x
        for W, a in zip(Ws, slopes):
            h = prelu(h @ W.T, a=a)
        return h @ w_out

    with torch.no_grad():
        y = forward([torch.tensor(float(a), dtype=torch.float64, device=dev) for a in a_true])
    a = torch.tensor([float(v) for v in a_init], dtype=torch.float64, device=dev,
                     requires_grad=True)
    history = [a.detach().cpu().numpy().copy()]
    for _ in range(steps):
        loss = torch.mean((forward(list(a.unbind())) - y) ** 2)
        (grad,) = torch.autograd.grad(loss, a)
        with torch.no_grad():
            a -= lr * grad
        history.append(a.detach().cpu().numpy().copy())
    return np.asarray(history)


def dead_unit_revival(lr: float, *, seed: int, recovery_steps: int = 300, recovery_lr: float = 0.01,
                      momentum: float = 0.0, n_data: int = 256,
                      device: str | torch.device = "auto") -> dict:
    """Which ReLU units killed by one large step come back, layer by layer.

    The set-up of :func:`dying_relu_trial` (same data, same initial network): one
    full-batch step at ``lr``, then ``recovery_steps`` steps of SGD at ``recovery_lr``
    (``momentum`` optional, the optimiser starts with zero velocity). Returns, per
    hidden layer, ``dead`` (units with z < 0 on every input right after the big step)
    and ``revived`` (how many of those have z >= 0 on some input at the end), as
    lists of ints. A first-layer unit sees only the fixed data, so with zero gradient
    and zero velocity it cannot move; a later unit's input changes whenever the layers
    below it are trained.

    Args:
        lr: the learning rate of the one big step.
        seed: seed of the data (``seed``) and of the network (``seed + 1000``).
        recovery_steps, recovery_lr, momentum: the SGD after the big step.
        n_data: the number of data points.
        device: ``"auto"`` or a device (float64, so never MPS).

    Returns:
        ``{"dead": [int per hidden layer], "revived": [int per hidden layer]}``.
    """
    x, y = toy_regression(n_data, seed=seed, device=device)
    model = _toy_mlp("relu", (2, 64, 64, 1), seed + 1000, device)
    sgd_steps(model, x, y, lr=lr, steps=1)
    dead_after = dead_unit_masks(model, x)
    opt = torch.optim.SGD(model.parameters(), lr=recovery_lr, momentum=momentum)
    for _ in range(recovery_steps):
        opt.zero_grad()
        torch.mean((model(x) - y) ** 2).backward()
        opt.step()
    dead_end = dead_unit_masks(model, x)
    return {"dead": [int(d.sum()) for d in dead_after],
            "revived": [int((d & ~e).sum()) for d, e in zip(dead_after, dead_end)]}


# ---------------------------------------------------------------------------
# Chapter 3: why a constant initialisation fails (symmetry breaking)
# ---------------------------------------------------------------------------

def constant_init_training(constant: float | None, *, sizes=(2, 16, 16, 1), steps: int = 300,
                           lr: float = 0.05, seed: int = 0, n_data: int = 256,
                           device: str | torch.device = "auto") -> dict:
    """Train a tanh MLP from a constant or a random initialisation; count distinct units.

    With ``constant`` a float, every weight and bias of every layer starts at that
    value; with ``None`` they are torch's default range (``init="torch_default"``
    of :func:`.training.make_mlp`). Trains
    ``steps`` of full-batch gradient descent (mean squared error, ``lr``) on
    :func:`toy_regression`. Returns ``loss`` (final training loss) and ``distinct``:
    per hidden layer, the number of different incoming weight rows (with bias) after
    training, counted up to a relative tolerance of 1e-9. Equal rows mean units that
    compute the same function: a layer whose rows are all equal acts as one unit.

    Args:
        constant: the value of every initial weight and bias, or ``None`` for a
            random start.
        sizes: the layer widths, input first.
        steps, lr: the full-batch gradient descent.
        seed: seed of the data (``seed``) and of the random start (``seed + 1000``).
        n_data: the number of data points.
        device: ``"auto"`` or a device (float64, so never MPS).

    Returns:
        ``{"loss": float, "distinct": [int per hidden layer]}``.
    """
    x, y = toy_regression(n_data, seed=seed, device=device)
    model = _toy_mlp("tanh", sizes, seed + 1000, device)
    if constant is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float(constant))
    losses = sgd_steps(model, x, y, lr=lr, steps=steps)
    distinct = []
    linears = [m for m in model if isinstance(m, torch.nn.Linear)][:-1]
    for lin in linears:
        rows = torch.cat([lin.weight, lin.bias[:, None]], dim=1).detach().cpu()
        scale = rows.abs().max().clamp_min(1e-300)
        unique = []
        for r in rows:
            if not any(torch.allclose(r, u, rtol=0.0, atol=1e-9 * float(scale)) for u in unique):
                unique.append(r)
        distinct.append(len(unique))
    return {"loss": losses[-1], "distinct": distinct}
