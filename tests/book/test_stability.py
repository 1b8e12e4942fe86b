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


def test_resolve_device(monkeypatch):
    assert stability.resolve_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert stability.resolve_device("auto").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert stability.resolve_device("auto").type == "cuda"


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
