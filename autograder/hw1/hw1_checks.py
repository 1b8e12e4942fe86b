"""Assignment 1's public checks: a few values, a finite difference and the dtype rule per question.

Shipped next to the student notebook and in the autograder zip (the master's
``files:``), so each public test cell is one call, e.g. ``check_sigmoid(sigmoid, sigmoid_grad)``.
It holds no solution: the references are the definitions evaluated one Python float
at a time with ``math`` (where they are safe), hand-computed values, and centred
differences of those definitions. The hidden tests are in ``hw1_oracle.py``
(autograder only). Every check returns None and raises ``AssertionError`` with a
message saying what was expected.
"""
from __future__ import annotations

import math

import numpy as np

H = 1e-06  # the step of the centred differences below


def _fd(ref, z, h=H):
    """Centred differences of a Python-float function at every entry of z."""
    return np.array([(ref(v + h) - ref(v - h)) / (2 * h) for v in z])


def _keeps_float32(z, *fns):
    z32 = np.asarray(z).astype(np.float32)
    return all(getattr(f(z32), "dtype", None) == np.float32 for f in fns)


def check_numerical_grad(numerical_grad):
    """Q1: ``numerical_grad(np.sin, z)`` against cos z, and z's shape.

    Args:
        numerical_grad: the student's function.
    Returns:
        None; raises AssertionError.
    """
    z = np.array([-2.0, -0.3, 0.0, 1.1, 2.5])
    got = numerical_grad(np.sin, z)
    assert np.shape(got) == z.shape, f"numerical_grad must return z's shape {z.shape}; got {np.shape(got)}"
    assert np.allclose(got, np.cos(z), rtol=1e-07, atol=1e-08), f"numerical_grad(np.sin, z) should match cos(z) = {np.cos(z)} to about 1e-7 (a centred difference does); got {got}"


def check_sigmoid(sigmoid, sigmoid_grad):
    """Q2: a few values, sigma' against a finite difference, float32 kept.

    Args:
        sigmoid, sigmoid_grad: the student's functions.
    Returns:
        None; raises AssertionError.
    """
    z = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    ref = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = np.array([ref(v) for v in z])
    assert np.allclose(sigmoid(z), expected, rtol=1e-09, atol=0), f"sigmoid(z) at z = {z} should be {expected}; got {sigmoid(z)}"
    fd = _fd(ref, z)
    assert np.allclose(sigmoid_grad(z), fd, rtol=1e-06, atol=1e-09), f"sigmoid_grad(z) at z = {z} should be close to the finite difference {fd}; got {sigmoid_grad(z)}"
    assert _keeps_float32(z, sigmoid, sigmoid_grad), "float32 in must give float32 out for sigmoid and sigmoid_grad"


def check_relu(relu, relu_grad):
    """Q3: values, f'(0) = 1, float32 kept.

    Args:
        relu, relu_grad: the student's functions.
    Returns:
        None; raises AssertionError.
    """
    z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    assert np.array_equal(relu(z), [0.0, 0.0, 0.0, 0.5, 2.0]), f"relu(z) at z = {z} should be [0, 0, 0, 0.5, 2]; got {relu(z)}"
    assert np.array_equal(relu_grad(z), [0.0, 0.0, 1.0, 1.0, 1.0]), f"relu_grad(z) at z = {z} should be [0, 0, 1, 1, 1] (the note's convention: f'(0) = 1); got {relu_grad(z)}"
    assert _keeps_float32(z, relu, relu_grad), "float32 in must give float32 out for relu and relu_grad (np.ones_like(z) keeps the dtype)"


def check_leaky_relu(leaky_relu, leaky_relu_grad):
    """Q4: values with the slope 0.01, f'(0) = 1, float32 kept.

    Args:
        leaky_relu, leaky_relu_grad: the student's functions.
    Returns:
        None; raises AssertionError.
    """
    z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    assert np.allclose(leaky_relu(z), [-0.02, -0.005, 0.0, 0.5, 2.0], rtol=1e-12, atol=0), f"leaky_relu(z) at z = {z} should be [-0.02, -0.005, 0, 0.5, 2]; got {leaky_relu(z)}"
    assert np.allclose(leaky_relu_grad(z), [0.01, 0.01, 1.0, 1.0, 1.0], rtol=1e-12, atol=0), f"leaky_relu_grad(z) at z = {z} should be [0.01, 0.01, 1, 1, 1] (1 at exactly 0); got {leaky_relu_grad(z)}"
    assert _keeps_float32(z, leaky_relu, leaky_relu_grad), "float32 in must give float32 out for leaky_relu and leaky_relu_grad"


def check_prelu(prelu, prelu_grad):
    """Q5: values at a = 0.25, f'(0) = 1, one slope per channel, float32 kept.

    Args:
        prelu, prelu_grad: the student's functions.
    Returns:
        None; raises AssertionError.
    """
    z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    assert np.allclose(prelu(z, 0.25), [-0.5, -0.125, 0.0, 0.5, 2.0], rtol=1e-12, atol=0), f"prelu(z, 0.25) at z = {z} should be [-0.5, -0.125, 0, 0.5, 2]; got {prelu(z, 0.25)}"
    assert np.allclose(prelu_grad(z, 0.25), [0.25, 0.25, 1.0, 1.0, 1.0], rtol=1e-12, atol=0), f"prelu_grad(z, 0.25) at z = {z} should be [0.25, 0.25, 1, 1, 1] (1 at exactly 0); got {prelu_grad(z, 0.25)}"
    zc = -np.ones((2, 3, 4, 4))
    a = np.array([0.1, 0.2, 0.3]).reshape(3, 1, 1)
    assert np.shape(prelu(zc, a)) == zc.shape and np.shape(prelu_grad(zc, a)) == zc.shape, "with one slope per channel, a of shape (3, 1, 1) and z of shape (2, 3, 4, 4), prelu and prelu_grad must return z's shape"
    assert np.allclose(prelu_grad(zc, a)[:, 1], 0.2), "prelu_grad with per-channel slopes: channel 1 (slope 0.2) of a negative z should be 0.2"
    z32 = z.astype(np.float32)
    assert prelu(z32, 0.25).dtype == np.float32 and prelu_grad(z32, 0.25).dtype == np.float32, "float32 z with a Python-float a must give float32 out"


def check_prelu_slope_gradient(prelu_grad_a):
    """Q6: dL/da by hand for a scalar a and for one a per feature.

    Args:
        prelu_grad_a: the student's function.
    Returns:
        None; raises AssertionError.
    """
    z = np.array([[-1.0, 2.0], [-3.0, 0.5]])
    up = np.array([[1.0, 1.0], [2.0, 1.0]])
    g = prelu_grad_a(z, 0.25, up)
    assert np.shape(g) == () and np.isclose(g, -7.0), f"scalar a: dL/da = 1*(-1) + 2*(-3) = -7 (only z < 0 counts, weighted by upstream), as a scalar; got {g!r}"
    g = prelu_grad_a(z, np.array([0.25, 0.25]), up)
    assert np.shape(g) == (2,) and np.allclose(g, [-7.0, 0.0]), f"a of shape (F,) = (2,) with z of shape (N, F): sum over N only, expected [-7, 0]; got {g!r}"


def check_swish(swish, swish_grad, swish_grad_beta):
    """Q7: values, both derivatives against finite differences, beta = 0, float32 kept.

    Args:
        swish, swish_grad, swish_grad_beta: the student's functions.
    Returns:
        None; raises AssertionError.
    """
    z = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])

    def ref(v, b):
        return v / (1 + math.exp(-b * v))
    for b in (1.0, 2.0):
        expected = np.array([ref(v, b) for v in z])
        assert np.allclose(swish(z, beta=b), expected, rtol=1e-09, atol=1e-12), f"swish(z, beta={b}) at z = {z} should be {expected}; got {swish(z, beta=b)}"
        fd_z = _fd(lambda v: ref(v, b), z)
        fd_b = np.array([(ref(v, b + H) - ref(v, b - H)) / (2 * H) for v in z])
        assert np.allclose(swish_grad(z, beta=b), fd_z, rtol=1e-06, atol=1e-08), f"swish_grad(z, beta={b}) should be close to the finite difference in z, {fd_z}; got {swish_grad(z, beta=b)}"
        assert np.allclose(swish_grad_beta(z, beta=b), fd_b, rtol=1e-06, atol=1e-08), f"swish_grad_beta(z, beta={b}) should be close to the finite difference in beta, {fd_b}; got {swish_grad_beta(z, beta=b)}"
    assert np.allclose(swish(z, beta=0.0), z / 2), f"swish with beta = 0 is z/2; got {swish(z, beta=0.0)}"
    assert _keeps_float32(z, swish, swish_grad, swish_grad_beta), "float32 in must give float32 out for swish, swish_grad and swish_grad_beta"


def check_softplus(softplus):
    """Q8: values, softplus(0) = ln 2, float32 kept.

    Args:
        softplus: the student's function.
    Returns:
        None; raises AssertionError.
    """
    z = np.array([-5.0, -1.0, 0.0, 1.0, 5.0])
    expected = np.array([math.log1p(math.exp(v)) for v in z])
    assert np.allclose(softplus(z), expected, rtol=1e-09, atol=1e-12), f"softplus(z) at z = {z} should be {expected}; got {softplus(z)}"
    assert np.isclose(softplus(0.0), math.log(2.0)), f"softplus(0) should be ln 2 = {math.log(2.0)}; got {softplus(0.0)}"
    assert _keeps_float32(z, softplus), "float32 in must give float32 out"


def check_mish(mish, mish_grad):
    """Q9: values, f' against a finite difference away from 0, float32 kept.

    Args:
        mish, mish_grad: the student's functions.
    Returns:
        None; raises AssertionError.
    """
    z = np.array([-3.0, -0.5, 0.5, 3.0])

    def ref(v):
        return v * math.tanh(math.log1p(math.exp(v)))
    expected = np.array([ref(v) for v in z])
    assert np.allclose(mish(z), expected, rtol=1e-09, atol=1e-12), f"mish(z) at z = {z} should be {expected}; got {mish(z)}"
    fd = _fd(ref, z)
    assert np.allclose(mish_grad(z), fd, rtol=1e-06, atol=1e-08), f"mish_grad(z) at z = {z} should be close to the finite difference {fd}; got {mish_grad(z)}"
    assert _keeps_float32(z, mish, mish_grad), "float32 in must give float32 out for mish and mish_grad"
