"""Student implementations for Assignment 1: realistic mistakes and correct rewrites.

Each mutant is a mistake students really make; it redefines one or more student
functions and must lose points on its own question when graded by the real
autograder. Each rewrite is correct but written differently from the master
solution and must keep full marks. ``test_hw1_autograder.py`` grades them.
"""
from __future__ import annotations

from otter_support import Mutant, Rewrite


MUTANTS = [
    # ---------------------------------------------------------------- q1_numerical_grad
    Mutant("ng_one_sided", "q1_numerical_grad", "one-sided (forward) difference", '''
def numerical_grad(f, z, h=1e-5):
    z = np.asarray(z, dtype=float)
    return (f(z + h) - f(z)) / h
'''),
    Mutant("ng_precedence", "q1_numerical_grad", "operator precedence: / 2 * h instead of / (2 * h)", '''
def numerical_grad(f, z, h=1e-5):
    z = np.asarray(z, dtype=float)
    return (f(z + h) - f(z - h)) / 2 * h
'''),
    Mutant("ng_ignores_h", "q1_numerical_grad", "ignores the step argument h (always 1e-5)", '''
def numerical_grad(f, z, h=1e-5):
    z = np.asarray(z, dtype=float)
    step = 1e-5
    return (f(z + step) - f(z - step)) / (2 * step)
'''),
    Mutant("ng_inplace", "q1_numerical_grad", "perturbs z in place and never restores it", '''
def numerical_grad(f, z, h=1e-5):
    z = np.asarray(z, dtype=float)      # no copy when z is already float64
    g = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        old = z[i]
        z[i] = old + h
        up = f(z)[i]
        z[i] = old - h
        down = f(z)[i]
        g[i] = (up - down) / (2 * h)
    return g
'''),
    # ---------------------------------------------------------------- q2_sigmoid
    Mutant("sig_grad_no_square", "q2_sigmoid", "forgot the square: e^-z / (1 + e^-z)", '''
def sigmoid_grad(z):
    e = np.exp(-np.asarray(z))
    return e / (1 + e)
'''),
    Mutant("sig_naive", "q2_sigmoid", "textbook formula 1 / (1 + exp(-z)): overflows for z << 0", '''
def sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z)))
'''),
    Mutant("sig_where_both_branches", "q2_sigmoid", "np.where with two formulas: both branches are evaluated and overflow", '''
def sigmoid(z):
    z = np.asarray(z)
    return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))
'''),
    # ---------------------------------------------------------------- q3_relu
    Mutant("relu_grad_zero_at_zero", "q3_relu", "wrong convention at the kink: f'(0) = 0 (z > 0)", '''
def relu_grad(z):
    z = np.asarray(z)
    return np.where(z > 0, np.ones_like(z), np.zeros_like(z))
'''),
    Mutant("relu_inplace", "q3_relu", "clips the input array in place", '''
def relu(z):
    z[z < 0] = 0
    return z
'''),
    Mutant("relu_grad_float64", "q3_relu", "astype(float): float32 in gives float64 out", '''
def relu_grad(z):
    return (np.asarray(z) >= 0).astype(float)
'''),
    # ---------------------------------------------------------------- q4_leaky_relu
    Mutant("leaky_grad_is_value", "q4_leaky_relu", "derivative returns 0.01 z (the value) for z < 0", '''
def leaky_relu_grad(z):
    z = np.asarray(z)
    return np.where(z >= 0, np.ones_like(z), LEAKY_SLOPE * z)
'''),
    Mutant("leaky_grad_slope_at_zero", "q4_leaky_relu", "wrong convention at the kink: f'(0) = 0.01", '''
def leaky_relu_grad(z):
    z = np.asarray(z)
    return np.where(z > 0, np.ones_like(z), np.full_like(z, LEAKY_SLOPE))
'''),
    Mutant("leaky_forgot_z", "q4_leaky_relu", "negative branch is the constant 0.01 instead of 0.01 z", '''
def leaky_relu(z):
    z = np.asarray(z)
    return np.where(z >= 0, z, np.full_like(z, LEAKY_SLOPE))
'''),
    # ---------------------------------------------------------------- q5_prelu
    Mutant("prelu_grad_fixed_slope", "q5_prelu", "derivative uses the leaky constant 0.01 instead of a", '''
def prelu_grad(z, a):
    z = np.asarray(z)
    return np.where(z >= 0, np.ones_like(z), np.full_like(z, 0.01))
'''),
    Mutant("prelu_grad_slope_at_zero", "q5_prelu", "wrong convention at the kink: df/dz(0) = a", '''
def prelu_grad(z, a):
    z = np.asarray(z)
    ones = np.ones_like(z)
    return np.where(z > 0, ones, a * ones)
'''),
    Mutant("prelu_grad_float64", "q5_prelu", "np.where(z >= 0, 1.0, a): float64 constants, float32 lost", '''
def prelu_grad(z, a):
    return np.where(np.asarray(z) >= 0, 1.0, a)
'''),
    # ---------------------------------------------------------------- q6_prelu_grad_a
    Mutant("pga_no_sum", "q6_prelu_grad_a", "no reduction: returns z's shape", '''
def prelu_grad_a(z, a, upstream):
    z = np.asarray(z)
    return upstream * np.where(z < 0, z, 0.0)
'''),
    Mutant("pga_sum_all", "q6_prelu_grad_a", "always sums over everything, even for per-channel a", '''
def prelu_grad_a(z, a, upstream):
    z = np.asarray(z)
    return np.sum(upstream * np.where(z < 0, z, 0.0))
'''),
    Mutant("pga_ignores_upstream", "q6_prelu_grad_a", "forgets the upstream gradient (chain rule)", '''
def prelu_grad_a(z, a, upstream):
    z = np.asarray(z)
    g = np.where(z < 0, z, np.zeros_like(z))
    lead = tuple(range(g.ndim - np.ndim(a)))
    g = g.sum(axis=lead)
    ones = tuple(i for i, n in enumerate(np.shape(a)) if n == 1)
    return g.sum(axis=ones, keepdims=True).reshape(np.shape(a))
'''),
    Mutant("pga_axis0_only", "q6_prelu_grad_a", "sums over the batch axis only (right for (F,), wrong for (C, 1, 1))", '''
def prelu_grad_a(z, a, upstream):
    z = np.asarray(z)
    g = upstream * np.where(z < 0, z, np.zeros_like(z))
    if np.ndim(a) == 0:
        return g.sum()
    if np.shape(a) == g.shape:
        return g
    return g.sum(axis=0)
'''),
    # ---------------------------------------------------------------- q7_swish
    Mutant("swish_ignores_beta", "q7_swish", "beta ignored in swish: z * sigmoid(z)", '''
def swish(z, beta=1.0):
    return z * sigmoid(np.asarray(z))
'''),
    Mutant("swish_grad_missing_beta", "q7_swish", "chain rule: the factor beta missing from the second term", '''
def swish_grad(z, beta=1.0):
    z = np.asarray(z)
    s = sigmoid(beta * z)
    return s + z * s * (1 - s)
'''),
    Mutant("swish_grad_beta_one_z", "q7_swish", "df/dbeta with one factor z instead of z**2", '''
def swish_grad_beta(z, beta=1.0):
    z = np.asarray(z)
    s = sigmoid(beta * z)
    return z * s * (1 - s)
'''),
    Mutant("swish_grad_beta_squares_first", "q7_swish", "forms z**2 first: inf * 0 = nan for large float32 z", '''
def swish_grad_beta(z, beta=1.0):
    z = np.asarray(z)
    s = sigmoid(beta * z)
    return z ** 2 * s * (1 - s)
'''),
    # ---------------------------------------------------------------- q8_softplus
    Mutant("softplus_naive", "q8_softplus", "np.log(1 + np.exp(z)): inf for z > 709", '''
def softplus(z):
    return np.log(1 + np.exp(np.asarray(z)))
'''),
    Mutant("softplus_no_abs", "q8_softplus", "max(z, 0) + log1p(exp(-z)): forgot the absolute value", '''
def softplus(z):
    z = np.asarray(z)
    return np.maximum(z, 0) + np.log1p(np.exp(-z))
'''),
    Mutant("softplus_log1p_overflow", "q8_softplus", "np.log1p(np.exp(z)): log1p does not stop exp overflowing", '''
def softplus(z):
    return np.log1p(np.exp(np.asarray(z)))
'''),
    # ---------------------------------------------------------------- q9_mish
    Mutant("mish_grad_note_identity", "q9_mish", "the note's identity as written: f(z)/z is 0/0 at z = 0", '''
def mish_grad(z):
    z = np.asarray(z)
    sp = softplus(z)
    return (1 - np.tanh(sp) ** 2) * z * sigmoid(z) + mish(z) / z
'''),
    Mutant("mish_grad_expanded", "q9_mish", "the expanded closed form e^z w / d^2: overflows for large z", '''
def mish_grad(z):
    z = np.asarray(z)
    e = np.exp(z)
    omega = 4 * (z + 1) + 4 * e ** 2 + e ** 3 + e * (4 * z + 6)
    delta = 2 * e + e ** 2 + 2
    return e * omega / delta ** 2
'''),
    Mutant("mish_grad_no_inner_chain", "q9_mish", "chain rule stops early: softplus' = sigmoid factor missing", '''
def mish_grad(z):
    z = np.asarray(z)
    t = np.tanh(softplus(z))
    return t + z * (1 - t * t)
'''),
    Mutant("mish_naive_softplus", "q9_mish", "mish with an inline naive softplus: overflow warnings", '''
def mish(z):
    z = np.asarray(z)
    return z * np.tanh(np.log(1 + np.exp(z)))
'''),
]


REWRITES = [
    # Round 1: disjoint questions, graded together.
    Rewrite("ng_loop_copy", ("q1_numerical_grad",), "entry-by-entry loop on a float64 copy", '''
def numerical_grad(f, z, h=1e-5):
    z = np.array(z, dtype=np.float64)   # a copy: the caller's z stays untouched
    g = np.empty_like(z)
    for i in np.ndindex(z.shape):
        old = z[i]
        z[i] = old + h
        up = f(z)[()] if z.ndim == 0 else f(z)[i]
        z[i] = old - h
        down = f(z)[()] if z.ndim == 0 else f(z)[i]
        z[i] = old
        g[i] = (up - down) / (2 * h)
    return g
'''),
    Rewrite("sigmoid_scipy_expit", ("q2_sigmoid",), "scipy.special.expit", '''
from scipy.special import expit

def sigmoid(z):
    return expit(z)

def sigmoid_grad(z):
    return expit(z) * expit(-np.asarray(z))
'''),
    Rewrite("relu_family_where_forms", ("q3_relu", "q4_leaky_relu", "q5_prelu"), "np.maximum, np.heaviside, np.where(z < 0, ...)", '''
def relu(z):
    return np.maximum(z, np.zeros_like(z))

def relu_grad(z):
    return np.heaviside(np.asarray(z), 1.0)       # heaviside(0, 1.0) = 1: the note's convention

def leaky_relu(z):
    z = np.asarray(z)
    return np.maximum(z, LEAKY_SLOPE * z)

def leaky_relu_grad(z):
    z = np.asarray(z)
    return np.where(z < 0, LEAKY_SLOPE, 1).astype(z.dtype)

def prelu(z, a):
    z = np.asarray(z)
    return np.where(z < 0, a * z, z)

def prelu_grad(z, a):
    z = np.asarray(z)
    return np.where(z < 0, a, 1).astype(z.dtype)      # broadcasts a (C, 1, 1) up to z's shape
'''),
    Rewrite("pga_unbroadcast_loop", ("q6_prelu_grad_a",), "autograd-style unbroadcast loop", '''
def prelu_grad_a(z, a, upstream):
    z = np.asarray(z)
    g = np.asarray(upstream) * (z < 0) * z
    a_shape = np.shape(a)
    while g.ndim > len(a_shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(a_shape):
        if size == 1:
            g = g.sum(axis=axis, keepdims=True)
    return g
'''),
    Rewrite("swish_expit_factored", ("q7_swish",), "expit, factored derivative s (1 + beta z (1 - s))", '''
from scipy.special import expit

def swish(z, beta=1.0):
    return z * expit(beta * np.asarray(z))

def swish_grad(z, beta=1.0):
    u = beta * np.asarray(z)
    s = expit(u)
    return s * (1 + u * expit(-u))

def swish_grad_beta(z, beta=1.0):
    z = np.asarray(z)
    u = beta * z
    return (z * expit(u)) * (z * expit(-u))
'''),
    Rewrite("softplus_logaddexp", ("q8_softplus",), "np.logaddexp(0, z)", '''
def softplus(z):
    z = np.asarray(z)
    return np.logaddexp(np.zeros_like(z), z)
'''),
    Rewrite("mish_logaddexp_sech", ("q9_mish",), "logaddexp softplus, sech^2 as (1 - t)(1 + t), expit", '''
from scipy.special import expit

def _sp(z):
    return np.logaddexp(np.zeros_like(z), z)

def mish(z):
    z = np.asarray(z)
    return z * np.tanh(_sp(z))

def mish_grad(z):
    z = np.asarray(z)
    t = np.tanh(_sp(z))
    return t + z * expit(z) * ((1 - t) * (1 + t))
'''),
    # Round 2
    Rewrite("sigmoid_tanh_form", ("q2_sigmoid",), "sigma(z) = (1 + tanh(z/2)) / 2", '''
def sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(z)))

def sigmoid_grad(z):
    t = np.tanh(0.5 * np.asarray(z))
    return 0.25 * (1 - t * t)
'''),
    Rewrite("softplus_threshold_log1p", ("q8_softplus",), "threshold trick: z above 40, log1p(exp(min(z, 40))) below", '''
def softplus(z):
    z = np.asarray(z)
    return np.where(z > 40, z, np.log1p(np.exp(np.minimum(z, 40))))
'''),
    Rewrite("mish_grad_guarded_identity", ("q9_mish",), "the note's identity with the 0/0 guarded", '''
def mish_grad(z):
    z = np.asarray(z)
    t = np.tanh(softplus(z))
    nonzero = z != 0
    safe = np.where(nonzero, z, np.ones_like(z))
    ratio = np.where(nonzero, mish(safe) / safe, t)      # f(z) / z, whose limit at 0 is tanh(ln 2)
    return (1 - t * t) * swish(z) + ratio
'''),
    Rewrite("ng_vectorised_float", ("q1_numerical_grad",), "np.array(z, float) and a vectorised centred difference", '''
def numerical_grad(f, z, h=1e-5):
    zp = np.array(z, dtype=float) + h
    zm = np.array(z, dtype=float) - h
    return (f(zp) - f(zm)) / (h + h)
'''),
]
