"""Unit tests of activation_course.stability (the numerical-stability chapter's code).

Oracles are independent of the code under test: networks rebuilt from torch.nn
layers, torch's own batch norm, finite differences, closed-form variances typed in
here, and exact scaling laws of ReLU networks.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from activation_course import stability

ACTS = ["sigmoid", "tanh", "relu", "swish", "mish"]
TORCH_NN = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU,
            "swish": torch.nn.SiLU, "mish": torch.nn.Mish}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread avoids oversubscribing a shared CPU (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _sequential(weights, act):
    """The same bias-free MLP built from torch.nn layers (the oracle)."""
    layers = []
    for w in weights:
        lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False).to(w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
        layers += [lin, TORCH_NN[act]()]
    return torch.nn.Sequential(*layers)


# ---------------------------------------------------------------- weights


@pytest.mark.parametrize("init,expected_std", [
    ("normal", lambda n_in, n_out: 1.0),
    ("xavier", lambda n_in, n_out: math.sqrt(2.0 / (n_in + n_out))),
    ("he", lambda n_in, n_out: math.sqrt(2.0 / n_in)),
])
def test_make_weights_shapes_and_variance(init, expected_std):
    widths = [300, 200, 500]
    ws = stability.make_weights(widths, init=init, seed=3, device="cpu")
    assert [tuple(w.shape) for w in ws] == [(200, 300), (500, 200)]  # (n_l, n_{l-1})
    for w, (n_in, n_out) in zip(ws, [(300, 200), (200, 500)]):
        std = expected_std(n_in, n_out)
        # 60 000+ samples: the sample std is within ~1% of the truth; allow 3%.
        assert w.std().item() == pytest.approx(std, rel=0.03)
        assert abs(w.mean().item()) < 4 * std / math.sqrt(w.numel())


def test_make_weights_scale_seed_dtype():
    a = stability.make_weights([20, 30], init="he", seed=5, device="cpu")[0]
    b = stability.make_weights([20, 30], init="he", seed=5, device="cpu")[0]
    c = stability.make_weights([20, 30], init="he", seed=6, device="cpu")[0]
    d = stability.make_weights([20, 30], init="he", scale=2.5, seed=5, device="cpu")[0]
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    torch.testing.assert_close(d, 2.5 * a)
    w32 = stability.make_weights([4, 3], dtype=torch.float32, device="cpu")[0]
    assert w32.dtype == torch.float32 and w32.device.type == "cpu"
    # The same seed draws the same weights whatever the dtype (up to rounding).
    torch.testing.assert_close(w32.double(), stability.make_weights([4, 3], device="cpu")[0],
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("call,match", [
    (lambda: stability.make_weights([4, 3], init="lecun"), "unknown init 'lecun'"),
    (lambda: stability.make_weights([4]), "at least an input and an output"),
    (lambda: stability.make_weights([4, 3], scale=0), "scale must be positive"),
    (lambda: stability.init_std("he", 0, 3), "layer sizes must be positive"),
    (lambda: stability.forward(stability.make_weights([4, 3], device="cpu"),
                               torch.zeros(4, 2, dtype=torch.float64), "gelu"), "unknown activation 'gelu'"),
    (lambda: stability.forward(stability.make_weights([4, 3], device="cpu"),
                               torch.zeros(5, 2, dtype=torch.float64), "relu"), r"x must have shape \(n_0=4"),
    (lambda: stability.layer_gradient_norms("relu", depth=0), "depth >= 1"),
])
def test_bad_input_gets_a_clear_message(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_float64_code_never_asks_for_mps(monkeypatch):
    """The chapter works in float64, which MPS lacks: "auto" gives CUDA or the CPU."""
    from activation_course import devices

    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert stability.make_weights([3, 2], device="auto")[0].device.type == "cpu"
    assert stability.make_weights([3, 2], dtype=torch.float32, device="cpu")[0].device.type == "cpu"


# ---------------------------------------------------------------- forward pass


@pytest.mark.parametrize("act", ACTS)
def test_forward_matches_torch_nn(act):
    ws = stability.make_weights([3, 5, 2, 4], init="xavier", seed=1, device="cpu")
    x = torch.randn(3, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    zs, acts = stability.forward(ws, x, act)
    assert len(zs) == 3 and len(acts) == 4 and acts[0] is x
    assert [tuple(z.shape) for z in zs] == [(5, 7), (2, 7), (4, 7)]
    oracle = _sequential(ws, act)
    with torch.no_grad():
        y = oracle(x.T).T                     # nn.Linear works on rows; the note on columns
        z1 = oracle[0](x.T).T
    torch.testing.assert_close(acts[-1], y, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(zs[0], z1, rtol=1e-12, atol=1e-12)


def test_forward_keeps_float32():
    ws = stability.make_weights([3, 4, 2], dtype=torch.float32, device="cpu")
    zs, acts = stability.forward(ws, torch.ones(3, 5), "mish")
    assert all(t.dtype == torch.float32 for t in zs + acts)


def test_batchnorm_matches_torch():
    z = torch.randn(6, 50, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 7 + 3
    ours = stability.batch_normalize(z)
    theirs = torch.nn.functional.batch_norm(z.T, None, None, training=True, eps=stability.BN_EPS).T
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    ws = stability.make_weights([6, 8, 8], init="normal", seed=0, device="cpu")
    zs, _ = stability.forward(ws, z, "tanh", batchnorm=True)
    for zl in zs:      # every unit: mean 0, variance 1 over the batch
        torch.testing.assert_close(zl.mean(dim=1), torch.zeros(8, dtype=torch.float64), atol=1e-10, rtol=0)
        torch.testing.assert_close(zl.var(dim=1, unbiased=False), torch.ones(8, dtype=torch.float64),
                                   atol=1e-4, rtol=0)


# ---------------------------------------------------------------- derivatives


@pytest.mark.parametrize("act", ACTS)
def test_activation_derivative_matches_finite_differences(act):
    z = torch.linspace(-6, 6, 97, dtype=torch.float64)
    z = z[z.abs() > 1e-3]                      # away from ReLU's kink
    h = 1e-6
    f = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
         "swish": torch.nn.functional.silu, "mish": torch.nn.functional.mish}[act]
    fd = (f(z + h) - f(z - h)) / (2 * h)
    d = stability.activation_derivative(act, z)
    torch.testing.assert_close(d, fd, rtol=1e-6, atol=1e-8)
    assert not z.requires_grad and d.shape == z.shape


def test_relu_derivative_at_zero_follows_the_note():
    d = stability.activation_derivative("relu", torch.zeros(3, dtype=torch.float64))
    assert torch.equal(d, torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("act", ACTS)
def test_deltas_by_jacobians_match_autograd(act):
    widths = [3, 5, 2, 4]                      # non-square layers catch a missing transpose
    ws = stability.make_weights(widths, init="xavier", seed=4, device="cpu")
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(3, 1, generator=gen, dtype=torch.float64)
    dL_dy = torch.randn(4, 1, generator=gen, dtype=torch.float64)
    deltas = stability.deltas_by_jacobians(ws, x, dL_dy, act)
    # Oracle: dL/dz^(l) and dL/dW^(l) by autograd through the torch.nn network.
    oracle = _sequential(ws, act)
    h, zs = x.T, []
    for layer in oracle:
        h = layer(h)
        if isinstance(layer, torch.nn.Linear):
            h.retain_grad()
            zs.append(h)
    (h @ dL_dy).sum().backward()
    assert [tuple(d.shape) for d in deltas] == [(5, 1), (2, 1), (4, 1)]
    for d, z in zip(deltas, zs):
        torch.testing.assert_close(d, z.grad.T, rtol=1e-10, atol=1e-12)
    _, a = stability.forward(ws, x, act)
    grads = stability.weight_gradients_from_deltas(deltas, a)
    for g, lin in zip(grads, [m for m in oracle if isinstance(m, torch.nn.Linear)]):
        torch.testing.assert_close(g, lin.weight.grad, rtol=1e-10, atol=1e-12)


def test_deltas_by_jacobians_against_finite_differences():
    ws = stability.make_weights([2, 3, 2], init="he", seed=0, device="cpu")
    x = torch.tensor([[0.3], [-1.2]], dtype=torch.float64)
    dL_dy = torch.tensor([[1.0], [-2.0]], dtype=torch.float64)
    _, a = stability.forward(ws, x, "tanh")
    grads = stability.weight_gradients_from_deltas(stability.deltas_by_jacobians(ws, x, dL_dy, "tanh"), a)

    def loss(weights):
        y = x
        for w in weights:
            y = torch.tanh(w @ y)
        return (dL_dy * y).sum().item()

    h = 1e-6
    for l, (i, j) in [(0, (2, 1)), (1, (0, 2))]:
        plus = [w.clone() for w in ws]
        minus = [w.clone() for w in ws]
        plus[l][i, j] += h
        minus[l][i, j] -= h
        assert grads[l][i, j].item() == pytest.approx((loss(plus) - loss(minus)) / (2 * h), rel=1e-6, abs=1e-9)


def test_deltas_by_jacobians_rejects_batches():
    ws = stability.make_weights([2, 3], device="cpu")
    with pytest.raises(ValueError, match="one column vector"):
        stability.deltas_by_jacobians(ws, torch.zeros(2, 4, dtype=torch.float64),
                                      torch.zeros(3, 1, dtype=torch.float64), "relu")


# ---------------------------------------------------------------- gradient norms


@pytest.mark.parametrize("act", ["sigmoid", "relu", "mish"])
def test_weight_gradient_norms_match_torch_nn(act):
    ws = stability.make_weights([4, 6, 3, 5], init="he", seed=2, device="cpu")
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(4, 9, generator=gen, dtype=torch.float64)
    g = torch.randn(5, 9, generator=gen, dtype=torch.float64)
    norms = stability.weight_gradient_norms(ws, x, g, act)
    oracle = _sequential(ws, act)
    ((g.T * oracle(x.T)).sum() / 9).backward()
    expected = [m.weight.grad.norm().item() for m in oracle if isinstance(m, torch.nn.Linear)]
    np.testing.assert_allclose(norms, expected, rtol=1e-10)
    assert all(not w.requires_grad for w in ws)   # the caller's weights are left alone


def test_relu_gradient_norms_scale_exactly_with_the_weights():
    """ReLU nets without biases are 1-homogeneous in each layer's weights, so scaling
    every W by c scales each layer's gradient by c^(L-1): an exact law, not a fit."""
    depth, c = 6, 1.7
    base = stability.layer_gradient_norms("relu", depth=depth, width=16, init="he", seed=3, device="cpu")
    scaled = stability.layer_gradient_norms("relu", depth=depth, width=16, init="he", scale=c, seed=3,
                                            device="cpu")
    np.testing.assert_allclose(scaled, c ** (depth - 1) * base, rtol=1e-9)


def test_layer_gradient_norms_deterministic_and_shaped():
    a = stability.layer_gradient_norms("tanh", depth=7, width=10, seed=11, device="cpu")
    b = stability.layer_gradient_norms("tanh", depth=7, width=10, seed=11, device="cpu")
    c = stability.layer_gradient_norms("tanh", depth=7, width=10, seed=12, device="cpu")
    assert a.shape == (7,) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_what_the_chapter_claims():
    """The qualitative claims of the chapter's prose, on a 30-layer, 64-unit network."""
    def ratio(act, **kw):
        n = stability.layer_gradient_norms(act, depth=30, width=64, batch=128, seed=0, device="cpu", **kw)
        return n[0] / n[-1], n

    r, _ = ratio("sigmoid", init="xavier")
    assert r < 1e-10                            # sigmoid vanishes even under Xavier
    r, n = ratio("relu", init="he")
    assert 0.1 < r < 10 and n.max() / n.min() < 10    # He keeps ReLU flat
    r, n = ratio("relu", init="normal")
    assert n.min() > 1e15                       # N(0,1) weights explode ReLU's gradients
    r, n = ratio("relu", init="normal", batchnorm=True)
    assert n.max() < 1e4 and n.min() > 1e-2     # batch norm tames the same weights


def test_float32_overflow_is_visible():
    """With a large scale, float32 overflows where float64 still holds finite numbers."""
    g64 = stability.layer_gradient_norms("relu", depth=100, width=64, init="he", scale=3.0, seed=0,
                                         dtype=torch.float64, device="cpu")
    g32 = stability.layer_gradient_norms("relu", depth=100, width=64, init="he", scale=3.0, seed=0,
                                         dtype=torch.float32, device="cpu")
    assert np.isfinite(g64).all() and g64.min() > 1e38
    assert not np.allclose(g32, g64, rtol=0.5)  # float32 gives garbage (0, inf or nan)


# ---------------------------------------------------------------- claims of issue 13


def _ratio(act, seed=0, **kw):
    n = stability.layer_gradient_norms(act, depth=30, width=64, batch=128, seed=seed, device="cpu", **kw)
    return n[0] / n[-1]


def test_sigmoid_ratios_the_chapter_prints():
    """Layer-1/layer-30 gradient ratios of the sigmoid quoted in chapter 4."""
    assert 1e-19 < _ratio("sigmoid", init="xavier") < 1e-17     # ~8e-19
    assert 1e-16 < _ratio("sigmoid", init="he") < 1e-14         # ~3e-15
    assert 1e-2 < _ratio("sigmoid", init="normal") < 1e-1       # ~5e-2: large weights compensate


def test_sigmoid_is_flat_at_the_critical_std():
    """At the mean-field critical std the sigmoid's gradients neither vanish nor explode."""
    s_c = stability.critical_weight_std("sigmoid", 64)
    assert 1.2 < s_c < 1.35
    ratios = [_ratio("sigmoid", seed=s, init="normal", scale=s_c) for s in range(5)]
    geo = float(np.exp(np.mean(np.log(ratios))))
    assert 0.5 < geo < 2.0, ratios
    assert all(0.2 < r < 5 for r in ratios), ratios
    # and clearly off criticality the same networks vanish or explode
    assert _ratio("sigmoid", init="normal", scale=0.5 * s_c) < 1e-3
    assert _ratio("sigmoid", init="normal", scale=1.6 * s_c) > 10


def test_mean_field_gain_of_relu_is_half_n_var_w():
    """For ReLU, E[relu'(z)^2] = 1/2 for any symmetric z: chi = n Var[w] / 2 exactly."""
    for n_var_w in (0.5, 2.0, 3.0):
        _, chi = stability.mean_field_gain("relu", n_var_w)
        assert chi == pytest.approx(n_var_w / 2, rel=1e-6)
    # so the critical standard deviation is He's sqrt(2 / n)
    assert stability.critical_weight_std("relu", 64) == pytest.approx(math.sqrt(2 / 64), rel=1e-5)


def test_mean_field_moments_match_monte_carlo():
    """Riemann-sum moments against a Monte-Carlo estimate with scipy's sigmoid and a
    finite-difference derivative (no autograd, no quadrature)."""
    from scipy.special import expit

    q = 30.0
    n_var_w = 80.0
    rng = np.random.default_rng(0)
    z = math.sqrt(q) * rng.standard_normal(2_000_000)
    h = 1e-5
    dsig = (expit(z + h) - expit(z - h)) / (2 * h)
    m2_mc, d2_mc = np.mean(expit(z) ** 2), np.mean(dsig**2)
    # one step of the recursion from q gives n_var_w * E[sigma^2]
    q1, _ = stability.mean_field_gain("sigmoid", n_var_w, q0=q, iterations=1)
    assert q1 == pytest.approx(n_var_w * m2_mc, rel=2e-3)
    # chi at that q1: compare with MC at q1
    z1 = math.sqrt(q1) * rng.standard_normal(2_000_000)
    d1 = (expit(z1 + h) - expit(z1 - h)) / (2 * h)
    _, chi = stability.mean_field_gain("sigmoid", n_var_w, q0=q, iterations=1)
    assert chi == pytest.approx(n_var_w * np.mean(d1**2), rel=5e-3)
    assert d2_mc > 0


def test_tanh_critical_std_is_close_to_xavier():
    assert stability.critical_weight_std("tanh", 64, lo=0.05) == pytest.approx(1 / 8, rel=0.03)


@pytest.mark.parametrize("call,match", [
    (lambda: stability.mean_field_gain("softsign", 1.0), "unknown activation"),
    (lambda: stability.mean_field_gain("relu", 0.0), "n_var_w must be positive"),
    (lambda: stability.critical_weight_std("relu", 64, lo=1.0, hi=2.0), "does not cross 1"),
    (lambda: stability.layer_statistics("relu", depth=0), "need depth >= 1"),
])
def test_mean_field_and_statistics_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("act", ["sigmoid", "relu", "mish"])
def test_layer_statistics_match_a_torch_nn_rebuild(act):
    """Histogram data: z, a and weight gradients equal those of the same network rebuilt
    from torch.nn layers, and the same network as layer_gradient_norms."""
    depth, width, batch, seed = 4, 8, 16, 3
    st = stability.layer_statistics(act, depth=depth, width=width, batch=batch, init="he",
                                    seed=seed, device="cpu")
    assert [len(v) for v in (st["z"], st["a"], st["grad_w"])] == [depth] * 3
    assert all(z.shape == (width * batch,) and z.dtype == np.float64 for z in st["z"])
    assert all(g.shape == (width * width,) for g in st["grad_w"])
    weights = stability.make_weights([width] * (depth + 1), init="he", seed=seed, device="cpu")
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(width, batch, generator=gen, dtype=torch.float64)
    g = torch.randn(width, batch, generator=gen, dtype=torch.float64)
    net = _sequential(weights, act)
    acts, h = [], x.T
    for m in net:
        h = m(h)
        acts.append(h)
    (g * acts[-1].T).sum().div(batch).backward()
    for l in range(depth):
        np.testing.assert_allclose(st["z"][l], acts[2 * l].T.detach().numpy().ravel(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(st["a"][l], acts[2 * l + 1].T.detach().numpy().ravel(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(st["grad_w"][l], net[2 * l].weight.grad.numpy().ravel(), rtol=1e-10, atol=1e-14)
    norms = stability.layer_gradient_norms(act, depth=depth, width=width, batch=batch, init="he",
                                           seed=seed, device="cpu")
    np.testing.assert_allclose([np.linalg.norm(v) for v in st["grad_w"]], norms, rtol=1e-12)


def test_batchnorm_gradients_scale_inversely_with_the_weights():
    """BN (batch statistics, no gamma/beta): the forward pass ignores the weight scale,
    the gradient scales as 1/c (up to the epsilon in the variance)."""
    c = 1 / stability.init_std("he", 64, 64)
    n_big = stability.layer_gradient_norms("relu", init="normal", batchnorm=True, seed=0, device="cpu")
    n_he = stability.layer_gradient_norms("relu", init="he", batchnorm=True, seed=0, device="cpu")
    np.testing.assert_allclose(n_big / n_he, 1 / c, rtol=0.02)
    # the residual growth towards the input quoted in chapter 4
    assert 200 < n_he[0] / n_he[-1] < 500


def test_relu_level_is_c_to_the_l_minus_1_in_every_layer():
    c = 1 / stability.init_std("he", 64, 64)
    n_big = stability.layer_gradient_norms("relu", init="normal", seed=0, device="cpu")
    n_he = stability.layer_gradient_norms("relu", init="he", seed=0, device="cpu")
    np.testing.assert_allclose(n_big / n_he, c ** 29, rtol=1e-9)
