"""Small facts the chapters state about libraries and floating point, checked directly.

Each test pins one sentence of the book to an independent oracle (a closed form, a
float64 property, the built HTML), so that a library change that makes the sentence
false fails here rather than going unnoticed.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from activation_course import reference

REPO = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", REPO / "_build" / "html")).resolve()


def _grad(fn, value):
    t = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(fn(t).sum(), t)
    return g.item()


def test_relu_derivative_at_zero_depends_on_the_implementation():
    """Chapter 2: the reference (torch.where) gives 1 at 0, torch.relu gives 0."""
    assert _grad(reference.ACTIVATIONS["relu"], 0.0) == 1.0
    assert _grad(torch.relu, 0.0) == 0.0
    assert _grad(torch.nn.functional.relu, 0.0) == 0.0


def test_tanh_derivative_at_20_is_lost_to_cancellation_not_underflow():
    """Chapter 2: tanh'(20) ~ 1.7e-17 is representable; autograd gets 0 because tanh(20)
    rounds to exactly 1.0."""
    true = 4 * math.exp(-40) / (1 + math.exp(-40)) ** 2
    assert 1.6e-17 < true < 1.8e-17 and true > np.finfo(np.float64).tiny
    assert torch.tanh(torch.tensor(20.0, dtype=torch.float64)).item() == 1.0
    assert _grad(torch.tanh, 20.0) == 0.0


def test_float32_product_of_quarters_is_trapped_at_zero():
    """Chapter 4: 4^-100 underflows to 0 in float32 and cannot be undone; float64 keeps it."""
    x32, x64 = np.float32(1.0), 1.0
    for _ in range(100):
        x32, x64 = x32 * np.float32(0.25), x64 * 0.25
    assert x32 == 0.0 and x64 == pytest.approx(0.25**100)
    for _ in range(100):
        x32, x64 = x32 * np.float32(4.0), x64 * 4.0
    assert x32 == 0.0 and x64 == pytest.approx(1.0)


def test_library_sigmoid_and_softplus_are_stable_in_float32():
    """Chapter 4: the library functions that stand in for the stable forms."""
    from scipy.special import expit

    z = np.array([-1000.0, -40.0, 100.0, 1000.0], dtype=np.float32)
    with np.errstate(all="raise", under="ignore"):
        for values in (expit(z), torch.sigmoid(torch.from_numpy(z)).numpy(),
                       torch.nn.functional.softplus(torch.from_numpy(z)).numpy(),
                       np.logaddexp(np.float32(0), z)):
            assert values.dtype == np.float32 and np.isfinite(values).all()
    sp = torch.nn.functional.softplus(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(sp[1:], [math.exp(-40), 100.0, 1000.0], rtol=1e-6)


def test_each_built_page_has_one_thebe_config_script():
    """The cause of the "THEBE_JS_URL has already been declared" console error is gone:
    every page of the built book carries sphinx-thebe's inline config script once."""
    pages = sorted((HTML / "book").glob("*.html"))
    if not pages:
        pytest.skip(f"no built book under {HTML}; run `make book-fast`")
    counts = {p.name: len(re.findall(r"const THEBE_JS_URL", p.read_text())) for p in pages}
    assert all(c == 1 for c in counts.values()), counts


# --- issue 17: the numbers the second pass states, against independent computations ---

def _target(x):
    return np.abs(x) + 0.5 * np.sin(2 * np.pi * x)


def _minimax_by_own_lp(deg, x):
    """Best uniform polynomial error on the points x, by a linear program written here
    (monomial basis, interior-point solver), independent of experiments.py's LP."""
    from scipy.optimize import linprog

    v = np.vander(x, deg + 1)
    f = _target(x)
    n = deg + 1
    a_ub = np.block([[v, -np.ones((len(x), 1))], [-v, -np.ones((len(x), 1))]])
    res = linprog(np.r_[np.zeros(n), 1.0], A_ub=a_ub, b_ub=np.r_[f, -f],
                  bounds=[(None, None)] * n + [(0, None)], method="highs-ipm")
    assert res.success
    return res.x[-1]


def test_chapter1_minimax_and_least_squares_errors():
    """Point 2: the plateaus are least-squares sup errors (0.577, 0.703, 0.392); the
    minimax errors are 0.506, 0.467, 0.175; only the minimax ones fall with the degree."""
    from activation_course import experiments

    x_train, x_test = np.linspace(-1, 1, 1000), np.linspace(-1, 1, 2001)
    lsq = {k: np.max(np.abs(np.polynomial.Polynomial.fit(x_train, _target(x_train), k)(x_test)
                            - _target(x_test))) for k in (2, 3, 5)}
    own = {k: _minimax_by_own_lp(k, x_test) for k in (2, 3, 5)}
    book = {k: experiments.minimax_polynomial_error(_target, k, x_test) for k in (2, 3, 5)}
    for k, value in {2: 0.506, 3: 0.467, 5: 0.175}.items():
        assert own[k] == pytest.approx(value, abs=1e-3)
        assert book[k] == pytest.approx(own[k], rel=1e-6)
    for k, value in {2: 0.577, 3: 0.703, 5: 0.392}.items():
        assert lsq[k] == pytest.approx(value, abs=1e-3)
    assert lsq[2] < lsq[3]                        # least squares: not monotone in the degree
    assert own[2] > own[3] > own[5]               # minimax: monotone
    assert all(lsq[k] > own[k] for k in lsq)


def test_chapter1_a_kink_costs_order_h_unless_a_breakpoint_hits_it():
    """Point 3: uniform interpolation of the target, 0.0159 at m = 63, 0.0024 at m = 64."""
    x = np.linspace(-1, 1, 2001)

    def sup_error(m):
        knots = np.linspace(-1, 1, m + 1)
        return np.max(np.abs(np.interp(x, knots, _target(knots)) - _target(x)))

    assert sup_error(63) == pytest.approx(1 / 63, rel=1e-3)     # the chord over the kink
    assert sup_error(64) == pytest.approx(0.0024, abs=5e-5)
    assert sup_error(127) / sup_error(63) == pytest.approx(63 / 127, rel=1e-2)  # O(1/m)


def test_chapter1_sigmoid_bump_construction_is_uniformly_close():
    """Point 5: the telescoping construction has no end-point error; the first one does."""
    sig = reference.numpy_fn("sigmoid")
    f = lambda t: np.cos(2 * np.pi * t)  # noqa: E731
    x = np.linspace(0, 1, 1001)
    errs = []
    for m, k in ((20, 200), (40, 400)):
        s = np.linspace(0, 1, m + 1)
        g = f(s[0]) + sum((f(b) - f(a)) * sig(k * (x - (a + b) / 2)) for a, b in zip(s[:-1], s[1:]))
        errs.append(np.abs(g - f(x)))
    assert errs[0].max() == pytest.approx(0.057, abs=1e-3) and errs[0][0] < 1e-3
    assert errs[1].max() == pytest.approx(0.028, abs=1e-3)
    cuts = np.linspace(0, 1, 21)
    old = sum(f((a + b) / 2) * (sig(200 * (x - a)) - sig(200 * (x - b))) for a, b in zip(cuts[:-1], cuts[1:]))
    assert abs(old[0] - f(0)) == pytest.approx(0.51, abs=0.01)


def test_chapter2_sigmoid_saturates_later_than_tanh():
    """Point 4: autograd's sigmoid'(20) is kept (relative error ~4e-8), sigmoid'(37) is 0,
    because e^-20 > eps/2 > e^-37, e^-40."""
    half_gap = np.finfo(np.float64).eps / 2
    assert math.exp(-20) > half_gap > math.exp(-37) > math.exp(-40)
    exact20 = math.exp(-20) / (1 + math.exp(-20)) ** 2
    rel = abs(_grad(torch.sigmoid, 20.0) - exact20) / exact20
    assert 1e-8 < rel < 1e-7
    assert _grad(torch.sigmoid, 37.0) == 0.0


def _gauss_expectation(fn, q):
    from scipy.integrate import quad

    s = math.sqrt(q)
    val, _ = quad(lambda u: fn(s * u) * math.exp(-u * u / 2) / math.sqrt(2 * math.pi), -30, 30,
                  points=[0.0], limit=400)
    return val


def _swish(z):
    return z / (1 + math.exp(-z)) if z > -700 else 0.0


def _swish_grad(z):  # closed form, written here
    s = 1 / (1 + math.exp(-z)) if z > -700 else 0.0
    return s * (1 + z * (1 - s))


def _mish(z):
    return z * math.tanh(math.log1p(math.exp(z)) if z < 30 else z)


def _mish_grad(z):  # central difference of the closed form, float64
    h = 1e-6
    return (_mish(z + h) - _mish(z - h)) / (2 * h)


def test_mean_field_gains_of_swish_and_mish_at_he():
    """Point 1: at n Var[w] = 2 (He) the gain is 0.50 (Swish) and 0.72 (Mish): He is
    critical for ReLU only. Swish, Mish at q -> 0 have slope 1/2 and 3/5."""
    from activation_course import stability

    assert _swish_grad(0.0) == 0.5 and _mish_grad(0.0) == pytest.approx(0.6, abs=1e-8)
    for act, grad, chi in (("swish", _swish_grad, 0.50), ("mish", _mish_grad, 0.72)):
        # q* -> 0 at He, so chi -> 2 f'(0)^2
        assert 2 * grad(0.0) ** 2 == pytest.approx(chi, abs=1e-6)
        assert stability.mean_field_gain(act, 2.0)[1] == pytest.approx(chi, abs=5e-3)
    assert stability.mean_field_gain("relu", 2.0)[1] == pytest.approx(1.0, abs=1e-3)


def test_critical_scales_of_swish_and_mish_by_quadrature():
    """Point 1: the balance point n Var[w] = 1 / E[f(z)^2], z ~ N(0, 1): 2.81 and 2.21,
    std 0.210 and 0.186 at width 64 (He: 0.177), chi there 1.07 and 1.06."""
    from activation_course import stability

    for act, fn, grad, n_var, std, chi in (("swish", _swish, _swish_grad, 2.81, 0.210, 1.067),
                                           ("mish", _mish, _mish_grad, 2.21, 0.186, 1.059)):
        n_var_c = 1 / _gauss_expectation(lambda z: fn(z) ** 2, 1.0)
        assert n_var_c == pytest.approx(n_var, abs=5e-3)
        assert math.sqrt(n_var_c / 64) == pytest.approx(std, abs=5e-4)
        assert n_var_c * _gauss_expectation(lambda z: grad(z) ** 2, 1.0) == pytest.approx(chi, abs=2e-3)
        assert stability.critical_weight_std(act, 64) == pytest.approx(math.sqrt(n_var_c / 64), rel=1e-3)
    assert math.sqrt(2 / 64) == pytest.approx(0.177, abs=5e-4)


def test_sigmoid_fixed_point_at_its_critical_scale():
    """Point 8: the bias-free sigmoid at s_c has q* ~ 46 (std of z near 7)."""
    from activation_course import stability

    s_c = stability.critical_weight_std("sigmoid", 64)
    q_star, _ = stability.mean_field_gain("sigmoid", 64 * s_c**2)
    sig = lambda z: 1 / (1 + math.exp(-z)) if z > -700 else 0.0  # noqa: E731
    assert 64 * s_c**2 * _gauss_expectation(lambda z: sig(z) ** 2, q_star) == pytest.approx(q_star, rel=1e-3)
    assert q_star == pytest.approx(45.6, abs=0.3)


def test_chapter3_overflow_estimates_and_float16():
    """Points 6 and 10: log(3.4e37)/log 3 = 78.7; float16's max is 65504, exp overflows at 11.09."""
    assert math.log(3.4e37) / math.log(3) == pytest.approx(78.66, abs=0.01)
    assert 1 + math.log(1.8e307) / math.log(3) == pytest.approx(645, abs=0.5)
    assert torch.finfo(torch.float16).max == 65504.0
    assert math.log(65504) == pytest.approx(11.09, abs=0.01)
    assert torch.exp(torch.tensor(11.2, dtype=torch.float16)).isinf()
    assert torch.exp(torch.tensor(11.0, dtype=torch.float16)).isfinite()


def test_background_bias_variance_snippet_prints_what_the_solution_says():
    """Point 12: the 20-run snippet gives 5.54 at layer 50 (expectation: 2 + 0.1 * 50 = 7)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        rng = np.random.default_rng(0)
        n, B, var_b, runs = 256, 256, 0.1, 20
        v = np.zeros(50)
        for _ in range(runs):
            a = rng.standard_normal((n, B))
            for l in range(50):
                z = rng.normal(0, np.sqrt(2 / n), (n, n)) @ a + rng.normal(0, np.sqrt(var_b), (n, 1))
                a = np.maximum(z, 0)
                v[l] += z.var() / runs
    np.testing.assert_allclose(v[[0, 9, 19, 29, 49]], [2.09, 2.88, 3.89, 5.36, 5.54], atol=0.006)


def test_torch_default_init_ratio_equals_he_ratio():
    """Point 12: with torch's default variance the layer-1/layer-30 ratio is He's, 1.80."""
    from activation_course import stability

    he = stability.layer_gradient_norms("relu", init="he", device="cpu")
    c = 1 / math.sqrt(6)
    td = stability.layer_gradient_norms("relu", init="he", scale=c, device="cpu")
    assert he[0] / he[-1] == pytest.approx(1.80, abs=0.005)
    assert td[0] / td[-1] == pytest.approx(he[0] / he[-1], rel=1e-9)
    np.testing.assert_allclose(td / he, c**29, rtol=1e-9)


def test_prelu_critical_gain_is_he_et_al_s():
    """Background exercise: critical n Var[w] = 2 / (1 + a^2) for PReLU (He et al. 2015)."""
    from activation_course import stability

    for a in (0.0, 0.25, 0.5):
        s = stability.critical_weight_std("prelu", 64, a=a)
        assert 64 * s * s == pytest.approx(2 / (1 + a * a), rel=1e-4)
    assert stability.critical_weight_std("prelu", 64, a=0.25) == pytest.approx(0.1715, abs=1e-4)


def test_digits_prose_matches_the_executed_paired_table():
    """The last chapter's verdict on the digits experiment is the executed table's: read back
    from the built page, each paired difference is called resolved exactly when its interval
    excludes 0 and its p is below 0.05/3, and the note's two claims are said to be supported
    exactly when their difference is resolved and positive. (The numbers depend on the
    machine's rounding, so the prose may not state them in advance.)"""
    import html as html_lib

    page = HTML / "book" / "04-numerical-stability.html"
    if not page.is_file():
        pytest.skip(f"no built book under {HTML}; run `make book-fast`")
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", "", page.read_text(), flags=re.S))
    text = re.sub(r"\s+", " ", html_lib.unescape(text))
    number = r"(-?\d+\.\d+)"
    rows, said = {}, {}
    for pair in ("Swish − ReLU", "Mish − ReLU", "Mish − Swish"):
        m = re.search(re.escape(pair) + r" " + " ".join([number] * 4) + r" (\d+) : (\d+) " + number, text)
        assert m, f"paired row {pair!r} not found on the page"
        rows[pair] = [float(g) for g in m.groups()]
        m = re.search(re.escape(pair) + r": ([+-]\d+\.\d+) points .*?, (not resolved|resolved)", text)
        assert m, f"no verdict on {pair!r} in the prose"
        said[pair] = (float(m.group(1)), m.group(2) == "resolved")
    resolved = {}
    for pair, (mean, low, high, p_t, wins, losses, p_sign) in rows.items():
        assert said[pair][0] == pytest.approx(mean, abs=0.006), (pair, said[pair], mean)
        assert wins + losses <= 8
        if min(abs(low), abs(high)) < 0.006 or abs(p_t - 0.05 / 3) < 0.006:
            continue   # too close to a threshold for the table's two decimals to decide
        resolved[pair] = (low > 0 or high < 0) and p_t < 0.05 / 3
        assert said[pair][1] == resolved[pair], (pair, rows[pair], said[pair])
    claims = {"Swish − ReLU": "“Swish is superior to ReLU”", "Mish − Swish": "“Mish outperforms Swish”"}
    summary = text[text.index("So this experiment supports"):][:300]
    for pair, claim in claims.items():
        if pair not in resolved:
            continue
        backed = resolved[pair] and rows[pair][0] > 0
        assert (claim in summary.split(", but not")[0] and not summary.startswith(
            "So this experiment supports neither")) == backed, (claim, summary, rows[pair])
