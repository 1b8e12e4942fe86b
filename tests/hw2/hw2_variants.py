"""Implementations of Assignment 2's functions for the autograder suites.

``WRONG`` holds the mistakes students really make, each with the question it must
lose points on and the later questions it may also cost (Q8 runs the student's own
forward, backward, norms and initializers, so some mistakes propagate there). ``RIGHT``
holds correct implementations written differently from the solution; they must keep
full marks. Each entry is a code cell appended to the solution notebook, redefining
one or more student functions.
"""
from __future__ import annotations

import textwrap

Q1, Q2, Q3, Q4 = "q1_forward", "q2_backward", "q3_grad_norms", "q4_preactivation_variance"
Q6, Q7, Q8 = "q6_xavier_normal", "q7_he_normal", "q8_depth_experiment"


def _c(src: str) -> str:
    return textwrap.dedent(src).strip() + "\n"


# name -> (question that must lose points, questions that may also lose points, code)
WRONG: dict[str, tuple[str, frozenset, str]] = {
    "forward_last_activation_forgotten": (Q1, frozenset({Q8}), _c("""
        def mlp_forward(x, Ws, act):
            a, z = [x], []
            for l, W in enumerate(Ws):
                z.append(W @ a[-1])
                a.append(act(z[-1]) if l < len(Ws) - 1 else z[-1])  # the output layer left linear
            return a[-1], {"z": z, "a": a}
    """)),
    "forward_cache_z_holds_activations": (Q1, frozenset({Q8}), _c("""
        def mlp_forward(x, Ws, act):
            a, z = [x], []
            for W in Ws:
                a.append(act(W @ a[-1]))
                z.append(a[-1])  # stores a where z belongs
            return a[-1], {"z": z, "a": a}
    """)),
    "forward_upcasts_float32": (Q1, frozenset(), _c("""
        def mlp_forward(x, Ws, act):
            a, z = [np.asarray(x, dtype=float)], []
            for W in Ws:
                z.append(np.asarray(W, dtype=float) @ a[-1])
                a.append(act(z[-1]))
            return a[-1], {"z": z, "a": a}
    """)),
    "backward_grad_transposed": (Q2, frozenset({Q8}), _c("""
        def mlp_backward(dL_dy, cache, Ws, act_grad):
            grads, g = [None] * len(Ws), dL_dy
            for l in reversed(range(len(Ws))):
                delta = act_grad(cache["z"][l]) * g
                grads[l] = cache["a"][l] @ delta.T  # a delta^T instead of delta a^T
                g = Ws[l].T @ delta
            return grads
    """)),
    "backward_act_grad_of_a": (Q2, frozenset({Q8}), _c("""
        def mlp_backward(dL_dy, cache, Ws, act_grad):
            grads, g = [None] * len(Ws), dL_dy
            for l in reversed(range(len(Ws))):
                delta = act_grad(cache["a"][l + 1]) * g  # f' at a = f(z) instead of at z
                grads[l] = delta @ cache["a"][l].T
                g = Ws[l].T @ delta
            return grads
    """)),
    "backward_W_instead_of_WT": (Q2, frozenset({Q8}), _c("""
        def mlp_backward(dL_dy, cache, Ws, act_grad):
            grads, g = [None] * len(Ws), dL_dy
            for l in reversed(range(len(Ws))):
                delta = act_grad(cache["z"][l]) * g
                grads[l] = delta @ cache["a"][l].T
                g = Ws[l] @ delta  # W where W^T belongs
            return grads
    """)),
    "backward_reverse_order": (Q2, frozenset({Q8}), _c("""
        def mlp_backward(dL_dy, cache, Ws, act_grad):
            grads, g = [], dL_dy
            for l in reversed(range(len(Ws))):
                delta = act_grad(cache["z"][l]) * g
                grads.append(delta @ cache["a"][l].T)
                g = Ws[l].T @ delta
            return grads  # last layer first
    """)),
    "backward_no_act_grad_at_output": (Q2, frozenset({Q8}), _c("""
        def mlp_backward(dL_dy, cache, Ws, act_grad):
            grads, g = [None] * len(Ws), dL_dy
            for l in reversed(range(len(Ws))):
                delta = g if l == len(Ws) - 1 else act_grad(cache["z"][l]) * g
                grads[l] = delta @ cache["a"][l].T
                g = Ws[l].T @ delta
            return grads
    """)),
    "backward_averages_over_batch": (Q2, frozenset({Q8}), _c("""
        def mlp_backward(dL_dy, cache, Ws, act_grad):
            grads, g = [None] * len(Ws), dL_dy
            B = dL_dy.shape[1]
            for l in reversed(range(len(Ws))):
                delta = act_grad(cache["z"][l]) * g
                grads[l] = delta @ cache["a"][l].T / B
                g = Ws[l].T @ delta
            return grads
    """)),
    "backward_modifies_dL_dy": (Q2, frozenset(), _c("""
        def mlp_backward(dL_dy, cache, Ws, act_grad):
            grads, g = [None] * len(Ws), dL_dy
            for l in reversed(range(len(Ws))):
                delta = g
                delta *= act_grad(cache["z"][l])  # in place: overwrites dL_dy on the first pass
                grads[l] = delta @ cache["a"][l].T
                g = Ws[l].T @ delta
            return grads
    """)),
    "grad_norms_spectral": (Q3, frozenset({Q8}), _c("""
        def grad_norms(grads):
            return np.array([np.linalg.norm(g, 2) for g in grads])
    """)),
    "grad_norms_squared": (Q3, frozenset({Q8}), _c("""
        def grad_norms(grads):
            return np.array([np.sum(g ** 2) for g in grads])
    """)),
    "preactivation_variance_forgets_n_in": (Q4, frozenset(), _c("""
        def preactivation_variance(n_in, var_w, second_moment):
            return var_w * second_moment
    """)),
    "preactivation_variance_returns_std": (Q4, frozenset(), _c("""
        def preactivation_variance(n_in, var_w, second_moment):
            return np.sqrt(n_in * var_w * second_moment)
    """)),
    "xavier_without_the_2": (Q6, frozenset({Q8}), _c("""
        def xavier_normal(n_out, n_in, rng):
            return rng.normal(0.0, np.sqrt(1.0 / (n_in + n_out)), size=(n_out, n_in))
    """)),
    "xavier_sqrt_forgotten": (Q6, frozenset({Q8}), _c("""
        def xavier_normal(n_out, n_in, rng):
            return rng.normal(0.0, 2.0 / (n_in + n_out), size=(n_out, n_in))  # variance passed as sd
    """)),
    "xavier_global_np_random": (Q6, frozenset(), _c("""
        def xavier_normal(n_out, n_in, rng):
            return np.random.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), size=(n_out, n_in))
    """)),
    "xavier_uniform": (Q6, frozenset(), _c("""
        def xavier_normal(n_out, n_in, rng):
            limit = np.sqrt(6.0 / (n_in + n_out))  # right variance, wrong distribution
            return rng.uniform(-limit, limit, size=(n_out, n_in))
    """)),
    "he_with_n_out": (Q7, frozenset(), _c("""
        def he_normal(n_out, n_in, rng):
            return rng.normal(0.0, np.sqrt(2.0 / n_out), size=(n_out, n_in))
    """)),
    "he_fixed_seed": (Q7, frozenset({Q8}), _c("""
        def he_normal(n_out, n_in, rng):
            return np.random.default_rng(0).normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))
    """)),
    "he_shape_transposed": (Q7, frozenset(), _c("""
        def he_normal(n_out, n_in, rng):
            return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
    """)),
    "experiment_x_drawn_first": (Q8, frozenset(), _c("""
        def depth_experiment(act, act_grad, init, depth, width, batch, rng):
            x = rng.standard_normal((width, batch))
            Ws = [init(width, width, rng) for _ in range(depth)]
            dL_dy = rng.standard_normal((width, batch))
            y, cache = mlp_forward(x, Ws, act)
            return grad_norms(mlp_backward(dL_dy, cache, Ws, act_grad))
    """)),
    "experiment_ignores_rng": (Q8, frozenset(), _c("""
        def depth_experiment(act, act_grad, init, depth, width, batch, rng):
            rng = np.random.default_rng(0)
            Ws = [init(width, width, rng) for _ in range(depth)]
            x = rng.standard_normal((width, batch))
            dL_dy = rng.standard_normal((width, batch))
            y, cache = mlp_forward(x, Ws, act)
            return grad_norms(mlp_backward(dL_dy, cache, Ws, act_grad))
    """)),
}

RIGHT: dict[str, str] = {
    "einsum": _c("""
        def mlp_forward(x, Ws, act):
            z, a = [], [x]
            for W in Ws:
                z.append(np.einsum("ij,jb->ib", W, a[-1]))
                a.append(act(z[-1]))
            return a[-1], {"z": z, "a": a}

        def mlp_backward(dL_dy, cache, Ws, act_grad):
            grads, g = [], dL_dy
            for W, z, a_prev in zip(Ws[::-1], cache["z"][::-1], cache["a"][-2::-1]):
                delta = act_grad(z) * g
                grads.append(np.einsum("ib,jb->ij", delta, a_prev))
                g = np.einsum("ij,ib->jb", W, delta)
            return grads[::-1]

        def grad_norms(grads):
            return np.array([np.sqrt(np.einsum("ij,ij->", g, g)) for g in grads])
    """),
    "stored_deltas": _c("""
        def mlp_backward(dL_dy, cache, Ws, act_grad):
            z, a, L = cache["z"], cache["a"], len(Ws)
            deltas = [None] * L
            deltas[L - 1] = act_grad(z[L - 1]) * dL_dy
            for l in range(L - 2, -1, -1):
                deltas[l] = act_grad(z[l]) * (Ws[l + 1].T @ deltas[l + 1])
            return [d @ a_prev.T for d, a_prev in zip(deltas, a[:-1])]

        def xavier_normal(n_out, n_in, rng):
            # drawn transposed: same distribution, different placement of the draws
            return rng.standard_normal((n_in, n_out)).T * np.sqrt(2.0 / (n_in + n_out))

        def he_normal(n_out, n_in, rng):
            return np.sqrt(2.0 / n_in) * rng.standard_normal(size=(n_out, n_in))

        def preactivation_variance(n_in, var_w, second_moment):
            return np.multiply(np.multiply(n_in, var_w), second_moment)
    """),
    "loop_over_samples": _c("""
        def mlp_forward(x, Ws, act):
            cols = [mlp_forward_one(x[:, b], Ws, act) for b in range(x.shape[1])]
            z = [np.stack([c[0][l] for c in cols], axis=1) for l in range(len(Ws))]
            a = [x] + [np.stack([c[1][l] for c in cols], axis=1) for l in range(len(Ws))]
            return a[-1], {"z": z, "a": a}

        def mlp_forward_one(x_b, Ws, act):
            zs, as_ = [], []
            for W in Ws:
                zs.append(W @ (as_[-1] if as_ else x_b))
                as_.append(act(zs[-1]))
            return zs, as_

        def mlp_backward(dL_dy, cache, Ws, act_grad):
            grads = [np.zeros_like(W) for W in Ws]
            for b in range(dL_dy.shape[1]):
                g = dL_dy[:, b]
                for l in reversed(range(len(Ws))):
                    delta = act_grad(cache["z"][l][:, b]) * g
                    grads[l] += np.outer(delta, cache["a"][l][:, b])
                    g = Ws[l].T @ delta
            return grads

        def grad_norms(grads):
            return np.array([np.linalg.norm(g) for g in grads], dtype=float)
    """),
    "draws_by_hand": _c("""
        def xavier_normal(n_out, n_in, rng):
            sd = (2.0 / (n_in + n_out)) ** 0.5
            return rng.normal(loc=0.0, scale=sd, size=n_out * n_in).reshape(n_out, n_in)

        def he_normal(n_out, n_in, rng):
            return rng.normal(scale=np.sqrt(2 / n_in), size=(n_in, n_out)).T.copy()

        def depth_experiment(act, act_grad, init, depth, width, batch, rng):
            Ws = []
            for _ in range(depth):
                Ws.append(init(width, width, rng))
            x, dL_dy = rng.standard_normal((width, batch)), rng.standard_normal((width, batch))
            _, cache = mlp_forward(x, Ws, act)
            return np.linalg.norm(np.stack(mlp_backward(dL_dy, cache, Ws, act_grad)), axis=(1, 2))
    """),
}
