"""Oracles and checks behind the hidden tests of Assignment 1.

This file ships only inside the autograder zip (``autograder_files``), next to
the submission, so the hidden tests can ``from hw1_oracle import ...``. It is not
the solution's source: the expected values are float64 closed forms written
independently of the master solution (``oracle``), and the fast test
tests/hw1/test_hw1_oracle.py checks each of them against torch autograd, so a
wrong formula here cannot go unnoticed. ``numerical_grad`` is tested against
textbook derivatives (sin, tanh, exp) and the exact centred difference of z**3.

Each ``check_*`` function raises ``AssertionError`` with a message that says
what was expected and where, which otter shows to the student.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.special import expit

LEAKY_SLOPE = 0.01

# Tolerances. float64: loose enough for any sound formula (cancellation near a
# zero crossing, s * (1 - s) rounding to 0 at z = 40), tight enough that a
# missing factor, a wrong convention or a one-sided difference fails.
RTOL, ATOL = 1e-6, 1e-10
# float32 sanity check inside the stability cases (float32 cannot do better).
RTOL32, ATOL32 = 1e-3, 1e-4

MODERATE = np.array([0.0, 1e-8, -1e-8, 1.0, -1.0, 20.0, -20.0])
EXTREME = np.array([40.0, -40.0, 700.0, -700.0, 1000.0, -1000.0])

PRELU_SLOPES = (0.25, 0.05, 0.0, 1.0)
SWISH_BETAS = (1.0, 0.5, 2.0, 0.0)

LABELS = {
    ("sigmoid", "f"): "sigmoid", ("sigmoid", "df"): "sigmoid_grad",
    ("relu", "f"): "relu", ("relu", "df"): "relu_grad",
    ("leaky_relu", "f"): "leaky_relu", ("leaky_relu", "df"): "leaky_relu_grad",
    ("prelu", "f"): "prelu", ("prelu", "df"): "prelu_grad",
    ("swish", "f"): "swish", ("swish", "df"): "swish_grad", ("swish", "dbeta"): "swish_grad_beta",
    ("softplus", "f"): "softplus",
    ("mish", "f"): "mish", ("mish", "df"): "mish_grad",
}


# ---------------------------------------------------------------- inputs

def random_z(seed: int, shape=(200,), scale: float = 6.0) -> np.ndarray:
    """Uniform float64 inputs in [-scale, scale] from a fixed seed."""
    return np.random.default_rng(seed).uniform(-scale, scale, size=shape)


def typical_z(seed: int = 1) -> np.ndarray:
    """Random inputs plus the moderate edge cases (0, +-1e-8, +-1, +-20)."""
    return np.concatenate([MODERATE, random_z(seed)])


def float64_grid() -> np.ndarray:
    """|z| <= 1000 in float64, with the points where exp over/underflows."""
    edges = [709.0, 709.8, 710.0, 745.0, 746.0]
    return np.concatenate([np.linspace(-1000, 1000, 2001), EXTREME, MODERATE,
                           edges, np.negative(edges)])


def float32_grid() -> np.ndarray:
    """The whole float32 range, with the points where float32 exp over/underflows."""
    fi = np.finfo(np.float32)
    mags = [0.0, float(fi.tiny), 1e-8, 0.5, 1.0, 5.0, 10.0, 17.0, 20.0, 40.0, 50.0, 87.0,
            88.0, 88.8, 89.0, 100.0, 104.0, 110.0, 1e3, 1e4, 1e10, 1e19, 1e20, 1e30, 1e38,
            float(fi.max)]
    return np.array(mags + [-m for m in mags], dtype=np.float32)


# ---------------------------------------------------------------- oracle

def _sigmoid(u):
    return expit(u)  # scipy's logistic function: exact to rounding, never overflows


def _softplus(z):
    return np.logaddexp(0.0, z)  # ln(e^0 + e^z) without overflow


def _per_slope_sum(values: np.ndarray, a_shape: tuple) -> np.ndarray:
    """Sum ``values`` (z's shape) over the positions that share one entry of an ``a`` of
    shape ``a_shape`` broadcast against them: label every position with the flat index
    of its slope, then add up by label."""
    labels = np.broadcast_to(np.arange(int(np.prod(a_shape))).reshape(a_shape), values.shape)
    sums = np.bincount(labels.ravel(), weights=values.ravel(), minlength=int(np.prod(a_shape)))
    return sums.reshape(a_shape)


def oracle(name: str, z, a=0.25, beta=1.0, upstream=None) -> dict[str, np.ndarray]:
    """Reference values in float64: ``f``, ``df`` (df/dz, elementwise) and, for swish,
    ``dbeta`` (elementwise df/dbeta) or, for prelu, ``da`` (dL/da for ``upstream``,
    shaped like ``a``).

    Closed forms in float64 via scipy's expit and NumPy's logaddexp, written apart
    from the master solution; tests/hw1/test_hw1_oracle.py checks every one of them
    against torch autograd. (Grading does not import torch: it would add seconds to
    every ``otter run``.)"""
    z = np.array(z, dtype=np.float64)
    pos = z >= 0  # the note's convention: the identity branch, slope 1, at exactly 0
    if name == "sigmoid":
        e = np.exp(-np.abs(z))
        return {"f": _sigmoid(z), "df": e / (1 + e) ** 2}
    if name == "relu":
        return {"f": np.where(pos, z, 0.0), "df": np.where(pos, 1.0, 0.0)}
    if name == "leaky_relu":
        return {"f": np.where(pos, z, LEAKY_SLOPE * z), "df": np.where(pos, 1.0, LEAKY_SLOPE)}
    if name == "prelu":
        a = np.array(a, dtype=np.float64)
        full = np.broadcast_shapes(z.shape, a.shape)
        out = {"f": np.broadcast_to(np.where(pos, z, a * z), full).copy(),
               "df": np.broadcast_to(np.where(pos, 1.0, a), full).copy()}
        up = np.ones(full) if upstream is None else np.broadcast_to(np.array(upstream, dtype=np.float64), full)
        out["da"] = _per_slope_sum(up * np.broadcast_to(np.where(pos, 0.0, z), full), a.shape)
        return out
    if name == "swish":
        bz = beta * z
        s, s_neg = _sigmoid(bz), _sigmoid(-bz)  # sigma(bz) and 1 - sigma(bz), each to full precision
        return {"f": z * s, "df": s + bz * s * s_neg, "dbeta": (z * s) * (z * s_neg)}
    if name == "softplus":
        return {"f": _softplus(z), "df": _sigmoid(z)}
    if name == "mish":
        t = np.tanh(_softplus(z))
        return {"f": z * t, "df": t + z * _sigmoid(z) * ((1 - t) * (1 + t))}
    raise KeyError(name)


# ---------------------------------------------------------------- helpers

def _fmt(x) -> str:
    return f"{float(x):.10g}"


def _label(name: str, which: str, params: dict) -> str:
    base = LABELS[(name, which)]
    if params:
        inside = ", ".join(f"{k}={v!r}" if np.ndim(v) == 0 else f"{k}=<array of shape {np.shape(v)}>"
                           for k, v in params.items())
        return f"{base}(z, {inside})"
    return f"{base}(z)"


def _as_result(out, label: str) -> np.ndarray:
    if out is None:
        raise AssertionError(f"{label} returned None: is the function finished (does it `return`)?")
    try:
        return np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{label} returned {type(out).__name__}, not an array of numbers ({exc})") from None


def assert_close(got, expected, z, label: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Assert ``got`` matches ``expected`` in shape and value; name the first inputs that fail."""
    got = _as_result(got, label)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise AssertionError(f"{label} returned shape {got.shape}; expected {expected.shape} "
                             f"(the shape of z; the function is elementwise)")
    ok = np.isclose(got, expected, rtol=rtol, atol=atol)
    if not ok.all():
        zz = np.broadcast_to(np.asarray(z, dtype=np.float64), expected.shape)
        idx = np.flatnonzero(~ok.ravel())
        examples = "; ".join(f"z = {_fmt(zz.ravel()[i])}: expected {_fmt(expected.ravel()[i])}, "
                             f"got {_fmt(got.ravel()[i])}" for i in idx[:3])
        raise AssertionError(f"{label} is wrong at {idx.size} of {ok.size} inputs, e.g. {examples} "
                             f"(tolerance rtol={rtol:g}, atol={atol:g})")


def _call(fn, label, *args, **kw):
    """``fn(*args, **kw)``; an exception or a None result becomes an AssertionError that says so."""
    try:
        out = fn(*args, **kw)
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(f"{label} raised {type(exc).__name__}: {exc}") from None
    if out is None:
        raise AssertionError(f"{label} returned None: is the function finished (does it `return`)?")
    return out


def _expected(name, which, z, params):
    return oracle(name, z, **params)[which]


# ---------------------------------------------------------------- checks: values

def check_values(fn, name: str, which: str = "f", inputs: str = "typical", seed: int = 1) -> None:
    """Compare ``fn`` with the oracle on ``inputs``: "typical" (random and moderate
    edge cases) or "extreme" (+-40, +-700, +-1000). Floating-point warnings are
    ignored here; the stability checks look at them."""
    z = typical_z(seed) if inputs == "typical" else EXTREME.copy()
    for params in _param_sets(name, inputs):
        label = _label(name, which, params)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            got = _call(fn, label, z.copy(), **params)
        assert_close(got, _expected(name, which, z, params), z, label)


def _param_sets(name: str, inputs: str) -> list[dict]:
    if name == "prelu":
        return [{"a": a} for a in PRELU_SLOPES]
    if name == "swish":
        betas = SWISH_BETAS if inputs == "typical" else (1.0, 2.0)
        # the first call leaves beta at its default (which must be 1.0)
        return [{}] + [{"beta": b} for b in betas]
    return [{}]


def check_prelu_per_channel(fn, which: str = "f", seed: int = 2) -> None:
    """prelu / prelu_grad with one slope per channel, a of shape (C, 1, 1), z of shape (N, C, H, W)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(2, 3, 4, 5))
    z[0, 0, 0, :2] = 0.0
    a = np.array([0.1, 0.25, 0.6]).reshape(3, 1, 1)
    label = _label("prelu", which, {"a": a})
    got = _call(fn, label, z.copy(), a.copy())
    assert_close(got, oracle("prelu", z, a=a)[which], z, label)


# ---------------------------------------------------------------- checks: stability

def _copy(z):
    return z.copy() if isinstance(z, np.ndarray) else z


def _raises_fp(fn, z, params) -> str | None:
    """The floating-point error ``fn(z)`` raises when over/invalid/divide are errors, or None."""
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            fn(_copy(z), **params)
    except (FloatingPointError, RuntimeWarning, OverflowError, ZeroDivisionError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def check_stable(fn, name: str, which: str = "f") -> None:
    """No overflow / invalid / divide-by-zero for |z| <= 1000 in float64 and anywhere in
    the float32 range; results finite and (loosely) right."""
    for dtype, grid, rtol, atol in ((np.float64, float64_grid(), RTOL, ATOL),
                                    (np.float32, float32_grid(), RTOL32, ATOL32)):
        z = grid.astype(dtype)
        betas = ({"beta": 1.0}, {"beta": 2.0}) if (name == "swish" and dtype == np.float64) else ({},)
        for params in betas:
            label = _label(name, which, params)
            problem = _raises_fp(fn, z, params)
            if problem:
                offenders = [v for v in z if _raises_fp(fn, np.asarray([v], dtype=dtype), params)]
                where = (", ".join(f"{float(v):.4g}" for v in offenders[:4])
                         if offenders else "several inputs together")
                raise AssertionError(
                    f"{label} is numerically unstable on {np.dtype(dtype).name} input: {problem} "
                    f"(at z = {where}). Rewrite it so that no intermediate value overflows: for "
                    f"example never take exp of a large positive number, and remember that "
                    f"np.where evaluates both branches.")
            with np.errstate(all="ignore"):
                got = _as_result(_call(fn, label, z.copy(), **params), label)
            bad = ~np.isfinite(got)
            if bad.any():
                raise AssertionError(f"{label} returned a non-finite value ({got[bad][0]}) at "
                                     f"{np.dtype(dtype).name} z = {float(z[bad][0]):.4g}")
            assert_close(got, _expected(name, which, z.astype(np.float64), params), z, label, rtol, atol)


def check_mish_grad_at_zero(fn) -> None:
    """mish_grad at exactly 0 is tanh(ln 2) = 0.6, without a 0/0 (arrays, 0-d, float32, Python float)."""
    for z in (np.zeros(3), np.array([-1.0, 0.0, 1.0]), np.array(0.0), np.zeros(2, dtype=np.float32), 0.0):
        kind = "Python float" if isinstance(z, float) else f"{z.dtype} array of shape {z.shape}"
        label = f"mish_grad(z) at z = 0 ({kind})"
        problem = _raises_fp(fn, z, {})
        if problem:
            raise AssertionError(f"{label}: {problem}. The note's identity divides f(z) by z; "
                                 f"use a form of f'(z) without a division by z.")
        with np.errstate(all="ignore"):
            got = _as_result(_call(fn, label, _copy(z)), label)
        tol = (RTOL32, ATOL32) if np.asarray(z).dtype == np.float32 else (RTOL, ATOL)
        assert_close(got, oracle("mish", z)["df"], z, label, *tol)


# ---------------------------------------------------------------- checks: contracts

def check_contracts(fn, name: str, which: str = "f", seed: int = 3, **params) -> None:
    """Input not modified; output shaped like z; float32 in -> float32 out; 0-d arrays
    and Python floats work."""
    label = _label(name, which, params)
    rng = np.random.default_rng(seed)

    z = rng.uniform(-3, 3, size=(4, 5))
    z[0, :2] = 0.0
    before = z.copy()
    _call(fn, label, z, **params)
    if not np.array_equal(z, before):
        raise AssertionError(f"{label} changed its input array in place. Leave z alone: build a "
                             f"new array (np.where, arithmetic) or copy first (z = np.array(z, dtype=float)).")

    for shape in [(7,), (2, 3, 4), (), (0,)]:
        z = rng.uniform(-3, 3, size=shape)
        got = _call(fn, label, z.copy(), **params)
        if np.shape(got) != shape:
            raise AssertionError(f"{label} returned shape {np.shape(got)} for z of shape {shape}; "
                                 f"it must return z's shape")
        if shape:
            assert_close(got, _expected(name, which, z, params), z, label)

    for z in (0.7, -1.3, 0.0):
        got = _call(fn, f"{label} with a Python float z", z, **params)
        if np.shape(got) != ():
            raise AssertionError(f"{label} with the Python float z = {z} returned shape "
                                 f"{np.shape(got)}; expected a scalar (shape ())")
        assert_close(got, _expected(name, which, z, params), z, f"{label} with the Python float z = {z}")

    z0 = np.array(-0.4)
    got = _call(fn, label, z0.copy(), **params)
    if np.shape(got) != ():
        raise AssertionError(f"{label} returned shape {np.shape(got)} for a 0-d array z; expected ()")
    assert_close(got, _expected(name, which, z0, params), z0, label)

    for z32 in (np.array([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=np.float32), np.array(1.5, dtype=np.float32)):
        got = _call(fn, label, z32.copy(), **params)
        dt = np.asarray(got).dtype if got is not None else None
        if dt != np.float32:
            raise AssertionError(f"{label} returned {dt} for float32 z (shape {z32.shape}); float32 "
                                 f"in must give float32 out. Look for float64 constants that are "
                                 f"arrays, e.g. np.where(z >= 0, 1.0, 0.0) or .astype(float); "
                                 f"np.ones_like(z) keeps z's dtype.")
        assert_close(got, _expected(name, which, z32.astype(np.float64), params), z32, label,
                     RTOL32, ATOL32)


# ---------------------------------------------------------------- checks: prelu_grad_a

def check_prelu_grad_a(fn, case: str, seed: int = 4) -> None:
    """dL/da for ``case`` in {"scalar", "channel", "feature", "dense"}; random upstream."""
    rng = np.random.default_rng(seed)
    if case == "scalar":
        z = rng.normal(size=(6, 5))
        setups = [(0.25, "a Python float"), (np.array(0.1), "a 0-d array")]
    elif case == "channel":
        z = rng.normal(size=(3, 4, 5, 6))
        setups = [(np.array([0.1, 0.2, 0.3, 0.4]).reshape(4, 1, 1), "shape (C, 1, 1) = (4, 1, 1), z (N, C, H, W)")]
    elif case == "feature":
        z = rng.normal(size=(8, 5))
        setups = [(np.linspace(0.05, 0.45, 5), "shape (F,) = (5,), z (N, F)")]
    elif case == "dense":
        z = rng.normal(size=(4, 5))
        setups = [(rng.uniform(0, 0.5, size=(4, 5)), "the shape of z (one slope per entry)")]
    else:
        raise KeyError(case)
    z.ravel()[:3] = 0.0
    upstream = rng.normal(size=z.shape)
    for a, what in setups:
        label = f"prelu_grad_a(z, a, upstream) with a of {what}"
        got = _call(fn, label, z.copy(), a.copy() if isinstance(a, np.ndarray) else a, upstream.copy())
        expected = oracle("prelu", z, a=a, upstream=upstream)["da"]
        got = _as_result(got, label)
        if got.shape != np.shape(a):
            raise AssertionError(f"{label} returned shape {got.shape}; dL/da has the shape of a, "
                                 f"{np.shape(a)}: sum over the positions that share a slope")
        assert_close(got, expected, a, label + " (the 'z' shown is the slope a)", rtol=1e-9, atol=1e-9)
        # upstream must matter: a second, different upstream gives a different answer
        up2 = rng.normal(size=z.shape)
        got2 = _as_result(_call(fn, label, z.copy(), a, up2.copy()), label)
        assert_close(got2, oracle("prelu", z, a=a, upstream=up2)["da"], a,
                     label + " for a second upstream gradient", rtol=1e-9, atol=1e-9)


def check_prelu_grad_a_contracts(fn, seed: int = 5) -> None:
    """Inputs not modified; float32 in -> float32 out."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(2, 3, 4, 4))
    a = np.full((3, 1, 1), 0.2)
    up = rng.normal(size=z.shape)
    copies = (z.copy(), a.copy(), up.copy())
    _call(fn, "prelu_grad_a", z, a, up)
    for name, arr, before in zip(("z", "a", "upstream"), (z, a, up), copies):
        if not np.array_equal(arr, before):
            raise AssertionError(f"prelu_grad_a changed its argument {name} in place; build new arrays instead")
    z32, a32, up32 = z.astype(np.float32), a.astype(np.float32), up.astype(np.float32)
    got = _call(fn, "prelu_grad_a", z32, a32, up32)
    if np.asarray(got).dtype != np.float32:
        raise AssertionError(f"prelu_grad_a returned {np.asarray(got).dtype} for float32 z, a and "
                             f"upstream; float32 in must give float32 out")
    assert_close(got, oracle("prelu", z32, a=a32, upstream=up32)["da"], a32, "prelu_grad_a (float32)",
                 RTOL32, ATOL32)


# ---------------------------------------------------------------- checks: numerical_grad

CLOSED_FORMS = {  # textbook derivatives, nothing from the assignment
    "np.sin": (np.sin, np.cos),
    "np.tanh": (np.tanh, lambda z: 1.0 / np.cosh(z) ** 2),
    "np.exp": (np.exp, np.exp),
}


def check_numerical_grad_default_h(numerical_grad, seed: int = 6) -> None:
    """Default h = 1e-5: a centred difference is good to ~1e-10 here, a one-sided
    one only to ~1e-5."""
    z = random_z(seed, shape=(40,), scale=3.0)
    for fname, (f, df) in CLOSED_FORMS.items():
        label = f"numerical_grad({fname}, z)"
        got = _call(numerical_grad, label, f, z.copy())
        assert_close(got, df(z), z, label + " (compared with the exact derivative)", rtol=1e-7, atol=1e-8)


def check_numerical_grad_step(numerical_grad, seed: int = 7) -> None:
    """The step h is used, and the difference is centred: for z**3 the centred
    difference is exactly 3 z**2 + h**2 (a one-sided one adds +-3 z h)."""
    z = random_z(seed, shape=(30,), scale=2.0)
    for h in (0.1, 0.01):
        label = f"numerical_grad(lambda z: z**3, z, h={h})"
        got = _call(numerical_grad, label, lambda v: v ** 3, z.copy(), h=h)
        assert_close(got, 3 * z ** 2 + h ** 2, z,
                     label + " (a centred difference of z**3 is exactly 3 z**2 + h**2)", rtol=1e-9, atol=1e-9)
    label = "numerical_grad(np.sin, z, h=1e-3)"
    got = _call(numerical_grad, label, np.sin, z.copy(), h=1e-3)
    assert_close(got, np.cos(z), z, label, rtol=1e-6, atol=1e-6)


def check_numerical_grad_contracts(numerical_grad, seed: int = 8) -> None:
    """Input not modified; z's shape; 0-d arrays and Python floats work."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-2, 2, size=(3, 4))
    before = z.copy()
    _call(numerical_grad, "numerical_grad(np.tanh, z)", np.tanh, z)
    if not np.array_equal(z, before):
        raise AssertionError("numerical_grad changed its input array z in place (a perturbation left "
                             "behind?). Perturb a copy, or build z + h and z - h as new arrays.")
    for shape in [(5,), (2, 3, 4), ()]:
        z = rng.uniform(-2, 2, size=shape)
        got = _call(numerical_grad, "numerical_grad(np.tanh, z)", np.tanh, z.copy())
        if np.shape(got) != shape:
            raise AssertionError(f"numerical_grad returned shape {np.shape(got)} for z of shape {shape}")
        assert_close(got, 1 / np.cosh(z) ** 2, z, f"numerical_grad(np.tanh, z) with z of shape {shape}",
                     rtol=1e-7, atol=1e-8)
    got = _call(numerical_grad, "numerical_grad(np.tanh, 0.3)", np.tanh, 0.3)
    if np.shape(got) != ():
        raise AssertionError(f"numerical_grad(np.tanh, 0.3) returned shape {np.shape(got)}; expected ()")
    assert_close(got, 1 / np.cosh(0.3) ** 2, 0.3, "numerical_grad(np.tanh, 0.3)", rtol=1e-7, atol=1e-8)
