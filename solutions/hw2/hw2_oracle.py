"""Assignment 2's hidden tests, one ``check_*`` per hidden test cell of the master.

Shipped only in the autograder zip (the master's ``autograder_files``), next to the
submission, so each hidden cell is one call, e.g. ``check_forward_cache(mlp_forward)``.
The references (torch autograd in float64, closed forms, Monte-Carlo estimates and
sampling-error bounds) are independent of the master's solution; the shared ones
live in the public ``hw2_checks``. tests/hw2/test_hw2_oracle.py checks that each
check passes the solution and correct rewrites and fails typical mistakes with a
message naming them. Every check returns None and raises ``AssertionError``.
"""
from __future__ import annotations

import numpy as np

from hw2_checks import VARIANCE, check_stats, close, expected_norms, net, pair, small_init, torch_net

# ------------------------------------------------------------------------- Q1 forward pass


def check_forward_matches_autograd(mlp_forward):
    """y against autograd for other depths, widths, batch sizes and all five activations."""
    cases = [([4, 6, 3], 1, "sigmoid"), ([5, 3, 7, 2], 4, "relu"), ([2, 5, 4, 6, 3, 4], 3, "swish"),
             ([6, 9], 7, "mish"), ([3, 5, 4, 2], 2, "tanh")]
    for seed, (widths, B, name) in enumerate(cases):
        x, Ws, G = net(10 + seed, widths, B)
        y, _ = mlp_forward(x, Ws, pair(name)[0])
        y_ref = torch_net(x, Ws, name, G)[0]
        assert close(y, y_ref), f"y is wrong for widths {widths}, batch {B}, {name}"


def check_forward_cache(mlp_forward):
    """Every entry of the cache, and y == cache['a'][-1]."""
    for seed, (widths, B, name) in enumerate([([4, 7, 3, 5], 3, "tanh"), ([3, 2], 1, "relu"), ([2, 6, 3, 4, 5], 6, "swish")]):
        x, Ws, G = net(20 + seed, widths, B)
        y, cache = mlp_forward(x, Ws, pair(name)[0])
        _, z_ref, a_ref, _ = torch_net(x, Ws, name, G)
        L = len(Ws)
        assert len(cache["z"]) == L and len(cache["a"]) == L + 1, "cache['z'] needs L entries and cache['a'] L + 1"
        for l in range(L):
            assert close(cache["z"][l], z_ref[l]), f"cache['z'][{l}] should be the pre-activation z = Ws[{l}] @ a[{l}] ({widths}, {name})"
        for l in range(L + 1):
            assert close(cache["a"][l], a_ref[l]), f"cache['a'][{l}] is wrong ({widths}, {name})"
        assert close(y, a_ref[-1]) and np.array_equal(np.asarray(y), np.asarray(cache["a"][-1])), "y must equal cache['a'][-1]"


def check_forward_dtype_and_inputs(mlp_forward):
    """float32 stays float32, and x and Ws are left unchanged."""
    x, Ws, _ = net(30, [4, 3, 5], 2)
    x32, Ws32 = x.astype(np.float32), [W.astype(np.float32) for W in Ws]
    keep = [x32.copy()] + [W.copy() for W in Ws32]
    y, cache = mlp_forward(x32, Ws32, pair("tanh")[0])
    assert np.asarray(y).dtype == np.float32, f"float32 inputs gave y of dtype {np.asarray(y).dtype}; keep float32 float32"
    assert all(np.asarray(z).dtype == np.float32 for z in cache["z"]), "cache['z'] should stay float32 for float32 inputs"
    assert all(np.array_equal(k, v) for k, v in zip(keep, [x32] + Ws32)), "mlp_forward modified x or Ws in place"


# ------------------------------------------------------------------------ Q2 backward pass

def _backward_against_autograd(mlp_backward, seed, widths, B, name, scale=1.5):
    x, Ws, G = net(seed, widths, B, scale)
    _, z_ref, a_ref, g_ref = torch_net(x, Ws, name, G)
    grads = mlp_backward(G, {"z": z_ref, "a": a_ref}, Ws, pair(name)[1])
    return Ws, z_ref, grads, g_ref


def check_backward_several_nets(mlp_backward):
    """Non-square layers of depth 2 to 5, batch sizes 2 to 8, all five activations."""
    cases = [([4, 6, 3], 3, "sigmoid"), ([5, 3, 7, 2], 4, "relu"), ([2, 5, 4, 6, 3, 4], 8, "swish"),
             ([6, 9, 4], 2, "mish"), ([3, 5, 4, 2, 6], 5, "tanh"), ([7, 2, 6, 3], 6, "relu")]
    for seed, (widths, B, name) in enumerate(cases):
        Ws, _, grads, g_ref = _backward_against_autograd(mlp_backward, 40 + seed, widths, B, name)
        assert len(grads) == len(Ws), f"{len(grads)} gradients for {len(Ws)} layers"
        for l in range(len(Ws)):
            assert close(grads[l], g_ref[l]), f"grads[{l}] is wrong for widths {widths}, batch {B}, {name} (expected shape {Ws[l].shape})"


def check_backward_edge_sizes(mlp_backward):
    """One layer, and a batch of one."""
    for seed, (widths, B, name) in enumerate([([5, 3], 1, "tanh"), ([4, 2], 6, "sigmoid"), ([3, 6, 4, 2], 1, "mish")]):
        Ws, _, grads, g_ref = _backward_against_autograd(mlp_backward, 50 + seed, widths, B, name)
        assert len(grads) == len(Ws) and all(close(g, r) for g, r in zip(grads, g_ref)), f"wrong gradients for widths {widths}, batch {B}, {name}"


def check_backward_relu_uses_z(mlp_backward):
    """ReLU with negative pre-activations: f' is evaluated at z, not at a = f(z)."""
    _, z_ref, grads, g_ref = _backward_against_autograd(mlp_backward, 60, [6, 8, 5, 7, 4], 4, "relu", scale=2.0)
    assert any((z < 0).any() for z in z_ref)
    assert len(grads) == 4 and all(close(g, r) for g, r in zip(grads, g_ref)), "wrong ReLU gradients: f' must be evaluated at z, not at a = f(z)"


def check_backward_float32(mlp_backward):
    """float32 inputs give float32 gradients close to the float64 ones."""
    x, Ws, G = net(70, [4, 3, 5, 2], 3)
    z_ref, a_ref, g_ref = torch_net(x, Ws, "tanh", G)[1:]
    f32 = lambda arrs: [np.asarray(v, dtype=np.float32) for v in arrs]  # noqa: E731
    grads = mlp_backward(G.astype(np.float32), {"z": f32(z_ref), "a": f32(a_ref)}, f32(Ws), pair("tanh")[1])
    assert all(np.asarray(g).dtype == np.float32 for g in grads), "float32 inputs must give float32 gradients"
    assert all(close(g, r, rtol=1e-4) for g, r in zip(grads, g_ref)), "float32 gradients are not close to the float64 ones"


def check_backward_inputs_unmodified(mlp_backward):
    """dL_dy, the cache and Ws are left unchanged."""
    x, Ws, G = net(80, [5, 4, 6, 3], 4)
    _, z_ref, a_ref, _ = torch_net(x, Ws, "sigmoid", G)
    cache = {"z": [z.copy() for z in z_ref], "a": [a.copy() for a in a_ref]}
    Gc, Wc = G.copy(), [W.copy() for W in Ws]
    mlp_backward(Gc, cache, Wc, pair("sigmoid")[1])
    assert np.array_equal(Gc, G), "mlp_backward modified dL_dy in place (use delta = ... * dL_dy, not *=)"
    assert all(np.array_equal(u, v) for u, v in zip(cache["z"] + cache["a"], z_ref + a_ref)), "mlp_backward modified the cache"
    assert all(np.array_equal(u, v) for u, v in zip(Wc, Ws)), "mlp_backward modified Ws"


# --------------------------------------------------------------------- Q3 and Q4

def check_grad_norms_values(grad_norms):
    """Several shapes and scales, float32 included, against sums of squares in Python floats."""
    rng = np.random.default_rng(90)
    grads = [rng.standard_normal(s) * 10.0 ** k for k, s in enumerate([(3, 5), (7, 2), (4, 4), (1, 6), (6, 1)], start=-3)]
    grads.append(rng.standard_normal((5, 3)).astype(np.float32))
    want = [np.sqrt(sum(float(v) ** 2 for v in g.ravel())) for g in grads]
    keep = [g.copy() for g in grads]
    out = grad_norms(grads)
    assert isinstance(out, np.ndarray) and out.shape == (len(grads),), f"expected shape ({len(grads)},), got {np.shape(out)}"
    assert np.allclose(out, want, rtol=1e-6, atol=0), f"expected Frobenius norms {np.round(want, 6)}, got {out}"
    assert all(np.array_equal(a, b) for a, b in zip(grads, keep)), "grad_norms modified its input"


def check_preactivation_variance_monte_carlo(preactivation_variance):
    """The prediction against a Monte-Carlo Var[z] for three input distributions (6 standard errors)."""
    rng = np.random.default_rng(91)
    N = 40_000
    cases = [(8, 0.2, lambda s: np.maximum(rng.standard_normal(s), 0.0), 0.5),
             (20, 0.05, lambda s: rng.uniform(-1.0, 1.0, s), 1.0 / 3.0),
             (5, 1.3, lambda s: 1.0 + 0.5 * rng.standard_normal(s), 1.25)]
    for n_in, var_w, draw_a, m2 in cases:
        W = np.sqrt(var_w) * rng.standard_normal((N, n_in))
        z = np.einsum("ij,ij->i", W, draw_a((N, n_in)))
        est, se = np.mean(z ** 2), np.std(z ** 2) / np.sqrt(N)  # E[z] = 0, so Var[z] = E[z^2]
        got = preactivation_variance(n_in, var_w, m2)
        assert abs(got - est) < 6 * se, (f"n_in={n_in}, var_w={var_w}, E[a^2]={m2}: predicted {got}, "
                                         f"Monte-Carlo Var[z] = {est:.4f} +- {se:.4f}")


# ------------------------------------------------------------ Q6 and Q7 initializers

def check_init_mean_variance(init, name):
    """Sample mean and variance of five shapes, from tall to flat (5 standard errors)."""
    for seed, (n_out, n_in) in enumerate([(300, 500), (1000, 40), (40, 1000), (64, 64), (1, 200000)]):
        W = init(n_out, n_in, np.random.default_rng(100 + seed))
        check_stats(W, (n_out, n_in), VARIANCE[name](n_out, n_in), f"{name}({n_out}, {n_in}, rng)")


def check_init_is_normal(init, name):
    """The draws are normal: the share within one standard deviation is a normal's 68.3%."""
    n_out, n_in = 500, 300
    W = np.asarray(init(n_out, n_in, np.random.default_rng(5)))
    var = VARIANCE[name](n_out, n_in)
    p, N = 0.6826894921370859, W.size  # P(|w| < sd) for a normal
    frac = np.mean(np.abs(W) < np.sqrt(var))
    assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / N), f"{name}: {frac:.3f} of the draws lie within one sd; a normal has {p:.3f}"


def check_init_uses_rng(init, name):
    """Reproducible from the generator, different across seeds, and the generator given is used."""
    a = init(30, 20, np.random.default_rng(7))
    np.random.seed(0)
    b = init(30, 20, np.random.default_rng(7))
    assert np.array_equal(a, b), f"{name}: two generators with the same seed gave different weights: draw from the rng argument only"
    c = init(30, 20, np.random.default_rng(8))
    assert not np.array_equal(a, c), f"{name}: generators with different seeds gave the same weights: use the rng argument"
    rng = np.random.default_rng(9)
    before = rng.bit_generator.state["state"]["state"]
    init(4, 3, rng)
    assert rng.bit_generator.state["state"]["state"] != before, f"{name}: the rng passed in was not used"


# ------------------------------------------------------------------ Q8 depth experiment

def check_depth_experiment_exact(depth_experiment):
    """More exact cases against autograd: other activations, depths, widths and batches."""
    for name, depth, width, batch, seed in [("relu", 6, 5, 3, 1), ("sigmoid", 4, 7, 1, 2), ("mish", 8, 3, 5, 3)]:
        act, act_grad = pair(name)
        got = depth_experiment(act, act_grad, small_init, depth, width, batch, np.random.default_rng(seed))
        assert close(got, expected_norms(name, depth, width, batch, seed)), f"wrong norms for {name}, depth {depth}, width {width}, batch {batch}"


def std_init(n_out, n_in, rng):
    """The unscaled baseline, N(0, 1)."""
    return rng.standard_normal((n_out, n_in))


def _run(depth_experiment, name, init, seed):
    """30 layers of width 32, batch 16: what the student's functions produce."""
    act, act_grad = pair(name)
    out = np.asarray(depth_experiment(act, act_grad, init, 30, 32, 16, np.random.default_rng(seed)), dtype=float)
    assert out.shape == (30,) and np.all(np.isfinite(out)), f"{name}: expected 30 finite norms, got shape {out.shape}"
    return out


def check_depth_experiment_sigmoid_vanishes(depth_experiment, xavier_normal):
    """Sigmoid's first-layer gradient is orders of magnitude below its last, under N(0, 1) and Xavier."""
    for seed in (0, 1):
        g = _run(depth_experiment, "sigmoid", std_init, seed)
        assert g[0] / g[-1] < 1e-2, f"sigmoid, N(0,1): first/last gradient norm {g[0] / g[-1]:.2g}; expected orders of magnitude below 1"
        g = _run(depth_experiment, "sigmoid", xavier_normal, seed)
        assert g[0] / g[-1] < 1e-8, f"sigmoid, Xavier: first/last gradient norm {g[0] / g[-1]:.2g}; expected < 1e-8"


def check_depth_experiment_tanh(depth_experiment, xavier_normal):
    """tanh explodes under N(0, 1) and is stable under Xavier."""
    for seed in (0, 1):
        g = _run(depth_experiment, "tanh", std_init, seed)
        assert g[0] / g[-1] > 1e3, f"tanh, N(0,1): first/last gradient norm {g[0] / g[-1]:.2g}; expected > 1e3 (exploding)"
        g = _run(depth_experiment, "tanh", xavier_normal, seed)
        assert g.max() / g.min() < 10, f"tanh, Xavier: gradient norms span a factor {g.max() / g.min():.2g}; expected < 10"


def check_depth_experiment_relu_family(depth_experiment, he_normal):
    """ReLU, Swish and Mish are astronomically large under N(0, 1); ReLU and Mish moderate under He."""
    for seed in (0, 1):
        for name in ("relu", "swish", "mish"):
            g = _run(depth_experiment, name, std_init, seed)
            assert g.min() > 1e12, f"{name}, N(0,1): smallest gradient norm {g.min():.2g}; expected > 1e12 (exploding)"
        for name in ("relu", "mish"):
            g = _run(depth_experiment, name, he_normal, seed)
            assert 1e-3 < g.min() and g.max() < 1e5, f"{name}, He: gradient norms in [{g.min():.2g}, {g.max():.2g}]; expected within [1e-3, 1e5]"
