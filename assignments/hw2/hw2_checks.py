"""Assignment 2's public checks, and the references its hidden tests share.

Shipped next to the student notebook and in the autograder zip (the master's
``files:``), so each public test cell is one call, e.g. ``check_forward(mlp_forward)``.
It holds no solution: every reference is torch autograd in float64 or a closed
form, and the hidden tests (``hw2_oracle.py``, autograder only) import them from here.
Every ``check_*`` returns None and raises ``AssertionError`` with a message saying
what was expected.
"""
from __future__ import annotations

import numpy as np
import torch

ACT = {"tanh": torch.tanh, "sigmoid": torch.sigmoid,
       "relu": lambda t: torch.where(t >= 0, t, 0.0 * t),
       "swish": lambda t: t * torch.sigmoid(t),
       "mish": torch.nn.functional.mish}


def pair(name):
    """``(act, act_grad)`` for an activation of ``ACT``, numpy in and out, f' by torch autograd.

    Args:
        name: a key of ``ACT``.
    Returns:
        Two elementwise functions of a numpy array.
    """
    f = ACT[name]

    def act(z):
        return f(torch.from_numpy(np.array(z))).numpy()

    def act_grad(z):
        t = torch.from_numpy(np.array(z)).requires_grad_(True)
        return torch.autograd.grad(f(t).sum(), t)[0].numpy()
    return act, act_grad


def net(seed, widths, batch, scale=1.5):
    """A random network and batch: ``(x, Ws, G)``, with ``G`` an output gradient dL/dy.

    Args:
        seed: the generator's seed.
        widths: ``[n_0, ..., n_L]``.
        batch: the number of examples (columns).
        scale: the weights' standard deviation times sqrt(n_in).
    Returns:
        ``x`` of shape (n_0, batch), the list ``Ws``, ``G`` of shape (n_L, batch).
    """
    rng = np.random.default_rng(seed)
    Ws = [scale * rng.standard_normal((m, n)) / np.sqrt(n) for n, m in zip(widths[:-1], widths[1:])]
    return rng.standard_normal((widths[0], batch)), Ws, rng.standard_normal((widths[-1], batch))


def torch_net(x, Ws, name, G):
    """The reference forward and backward pass, by torch autograd in float64.

    Args:
        x, Ws: the input batch (columns) and the weight matrices.
        name: the activation, a key of ``ACT``.
        G: dL/dy, the output gradient.
    Returns:
        ``(y, zs, acts, grads)``: the output, the pre-activations, the activations
        (``x`` first) and dL/dW for every layer, as numpy arrays.
    """
    Wt = [torch.from_numpy(np.array(W)).requires_grad_(True) for W in Ws]
    a = torch.from_numpy(np.array(x))
    zs, acts = [], [a]
    for W in Wt:
        zs.append(W @ a)
        a = ACT[name](zs[-1])
        acts.append(a)
    (a * torch.from_numpy(np.array(G))).sum().backward()
    return (a.detach().numpy(), [z.detach().numpy() for z in zs],
            [t.detach().numpy() for t in acts], [W.grad.numpy() for W in Wt])


def close(mine, ref, rtol=1e-9):
    """Same shape and equal to ``rtol``, relative to the reference's largest entry.

    Args:
        mine: what the student's code returned.
        ref: the reference array.
        rtol: the tolerance.
    Returns:
        bool.
    """
    mine = np.asarray(mine)
    return mine.shape == ref.shape and np.allclose(mine, ref, rtol=rtol, atol=rtol * max(1.0, np.abs(ref).max()))


def check_stats(W, shape, var, what):
    """Shape, and sample mean and variance within 5 standard errors of 0 and ``var``.

    Args:
        W: the drawn weights.
        shape: the expected shape.
        var: the expected variance.
        what: how the message names the draw.
    Returns:
        None; raises AssertionError.
    """
    W = np.asarray(W)
    assert W.shape == shape, f"{what}: shape {W.shape}, expected (n_out, n_in) = {shape}"
    N = W.size
    # Sampling distribution of the sample mean and variance of N normal draws:
    # standard errors sqrt(var / N) and var * sqrt(2 / (N - 1)); allow 5 of them.
    se_mean, se_var = np.sqrt(var / N), var * np.sqrt(2.0 / (N - 1))
    assert abs(W.mean()) < 5 * se_mean, f"{what}: sample mean {W.mean():.3g}, expected 0 (+- {5 * se_mean:.2g})"
    assert abs(W.var() - var) < 5 * se_var, f"{what}: sample variance {W.var():.4g}, expected {var:.4g} (+- {5 * se_var:.2g})"


#: The variance each initializer must draw with, as the prompts state it.
VARIANCE = {"xavier_normal": lambda n_out, n_in: 2.0 / (n_in + n_out),
            "he_normal": lambda n_out, n_in: 2.0 / n_in}


def small_init(n_out, n_in, rng):
    """A mild initializer for the exact depth-experiment cases: N(0, 1.44 / n_in).

    Args:
        n_out, n_in: the shape.
        rng: a numpy Generator.
    Returns:
        A (n_out, n_in) array.
    """
    return 1.2 * rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)


def expected_norms(name, depth, width, batch, seed):
    """The depth experiment's norms for ``small_init`` in the prescribed draw order, by autograd.

    Args:
        name: the activation.
        depth, width, batch: the network's size.
        seed: the generator's seed.
    Returns:
        A 1-D array of ``depth`` Frobenius norms.
    """
    rng = np.random.default_rng(seed)
    Ws = [small_init(width, width, rng) for _ in range(depth)]
    x = rng.standard_normal((width, batch))
    G = rng.standard_normal((width, batch))
    grads = torch_net(x, Ws, name, G)[3]
    return np.array([np.sqrt((g ** 2).sum()) for g in grads])


# ------------------------------------------------------------ the public checks, one per question

def check_forward(mlp_forward):
    """Q1: a 2-layer tanh network, widths 3, 4, 2, on 5 examples (shapes, cache lengths, values).

    Args:
        mlp_forward: the student's function.
    Returns:
        None; raises AssertionError.
    """
    x, Ws, G = net(0, [3, 4, 2], 5)
    act, _ = pair("tanh")
    out = mlp_forward(x, Ws, act)
    assert isinstance(out, tuple) and len(out) == 2, "mlp_forward must return a pair (y, cache)"
    y, cache = out
    y_ref = torch_net(x, Ws, "tanh", G)[0]
    assert np.shape(y) == (2, 5), f"y has shape {np.shape(y)}; expected (n_L, B) = (2, 5) for widths [3, 4, 2] and 5 examples"
    assert len(cache["z"]) == 2, f"cache['z'] has {len(cache['z'])} entries; expected one per layer (2)"
    assert len(cache["a"]) == 3, f"cache['a'] has {len(cache['a'])} entries; expected L + 1 = 3 (x first)"
    assert np.array_equal(cache["a"][0], x), "cache['a'][0] must be the input x"
    assert close(y, y_ref), "y differs from tanh(W2 tanh(W1 x)); is the activation applied at every layer, the last included?"


def check_backward(mlp_backward):
    """Q2: the 2-layer tanh network of Q1 against torch autograd.

    Args:
        mlp_backward: the student's function.
    Returns:
        None; raises AssertionError.
    """
    x, Ws, G = net(1, [3, 4, 2], 5)
    _, act_grad = pair("tanh")
    _, z_ref, a_ref, g_ref = torch_net(x, Ws, "tanh", G)
    grads = mlp_backward(G, {"z": z_ref, "a": a_ref}, Ws, act_grad)
    assert len(grads) == 2, f"expected one gradient per weight matrix (2), got {len(grads)}"
    for l, (g, W) in enumerate(zip(grads, Ws)):
        assert np.shape(g) == W.shape, f"grads[{l}] has shape {np.shape(g)}; expected Ws[{l}].shape = {W.shape} (delta @ a.T)"
    for l in range(2):
        assert close(grads[l], g_ref[l]), f"grads[{l}] differs from torch autograd (delta = f'(z) * dL/da, dL/da_prev = W.T @ delta)"


def check_grad_norms(grad_norms):
    """Q3: two small matrices with known norms.

    Args:
        grad_norms: the student's function.
    Returns:
        None; raises AssertionError.
    """
    out = grad_norms([np.array([[3.0, 4.0]]), np.array([[1.0], [2.0], [2.0]])])
    assert isinstance(out, np.ndarray) and out.ndim == 1, f"expected a 1-D numpy array, got {type(out).__name__} {np.shape(out)}"
    assert np.allclose(out, [5.0, 3.0]), f"expected [5., 3.] (square root of the sum of squares per matrix), got {out}"


def check_preactivation_variance(preactivation_variance):
    """Q4: three hand-computable values.

    Args:
        preactivation_variance: the student's function.
    Returns:
        None; raises AssertionError.
    """
    for args, want in [((100, 0.01, 1.0), 1.0), ((50, 0.04, 0.5), 1.0), ((10, 0.3, 2.0), 6.0)]:
        got = preactivation_variance(*args)
        assert np.isclose(got, want), f"preactivation_variance{args} = {got}; expected n_in * var_w * E[a^2] = {want}"


def check_init(init, name):
    """Q6 and Q7: the shape and sample variance of one large draw, (400, 600).

    Args:
        init: the student's initializer, ``init(n_out, n_in, rng)``.
        name: its name, a key of ``VARIANCE``.
    Returns:
        None; raises AssertionError.
    """
    W = init(400, 600, np.random.default_rng(0))
    check_stats(W, (400, 600), VARIANCE[name](400, 600), f"{name}(400, 600, rng)")


def check_depth_experiment(depth_experiment):
    """Q8: a 3-layer tanh example against torch autograd, weights drawn in the prescribed order.

    Args:
        depth_experiment: the student's function.
    Returns:
        None; raises AssertionError.
    """
    act, act_grad = pair("tanh")
    got = depth_experiment(act, act_grad, small_init, 3, 4, 2, np.random.default_rng(0))
    want = expected_norms("tanh", 3, 4, 2, 0)
    assert np.shape(got) == (3,), f"expected one norm per layer, shape (3,), got {np.shape(got)}"
    assert close(got, want), (f"got {np.asarray(got)}, expected {want}: draw the weights first (layer 1 to L), "
                              "then x, then dL_dy, all from rng, with shapes (width, width), (width, batch), (width, batch)")
