"""Activation speed: the course's numpy reference (hw1's solutions) forward + derivative
against torch's built-ins and the memory-bandwidth bound of a plain copy; Assignment 3's
student-style autograd Functions against ``F.silu``/``F.mish`` (forward + backward)."""
from __future__ import annotations

import numpy as np

from .measure import median_time, solution_namespace


def bench_activations(sizes: list[int], repeat: int) -> list[dict]:
    """Elements/s of forward+derivative: course numpy reference, torch, copy bound."""
    import torch
    import torch.nn.functional as F

    hw1 = solution_namespace("hw1")
    numpy_impl = {
        "sigmoid": lambda z: (hw1["sigmoid"](z), hw1["sigmoid_grad"](z)),
        "swish": lambda z: (hw1["swish"](z), hw1["swish_grad"](z)),
        "mish": lambda z: (hw1["mish"](z), hw1["mish_grad"](z)),
    }
    torch_fn = {"sigmoid": torch.sigmoid, "swish": F.silu, "mish": F.mish}

    def torch_fwd_grad(fn, x):
        x = x.detach().requires_grad_(True)
        y = fn(x)
        (g,) = torch.autograd.grad(y, x, torch.ones_like(y))
        return y, g

    rows = []
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for n in sizes:
            z = rng.normal(0.0, 3.0, n).astype(dtype)
            dst = np.empty_like(z)
            t_copy = median_time(lambda: np.copyto(dst, z), repeat)
            # A copy moves 2 arrays; forward + derivative must read z and write f and f'.
            bound = (2 * n / t_copy) / 3
            zt = torch.from_numpy(z)
            for name in numpy_impl:
                t_np = median_time(lambda: numpy_impl[name](z), repeat)
                t_t = median_time(lambda: torch_fwd_grad(torch_fn[name], zt), repeat)
                rows.append({
                    "activation": name, "dtype": np.dtype(dtype).name, "n": n,
                    "numpy Melem/s": n / t_np / 1e6, "torch Melem/s": n / t_t / 1e6,
                    "copy bound Melem/s": bound / 1e6,
                    "numpy/torch": (n / t_np) / (n / t_t),
                    "numpy / bound": (n / t_np) / bound,
                })
    return rows


def bench_autograd_functions(n: int, repeat: int) -> list[dict]:
    """Student-style autograd Functions (hw3 solutions) against F.silu / F.mish."""
    import torch
    import torch.nn.functional as F

    hw3 = solution_namespace("hw3")
    rows = []
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(n, dtype=dtype, generator=torch.Generator().manual_seed(0))
        beta = torch.tensor(1.0, dtype=dtype)
        cases = {
            "swish": (lambda t: hw3["SwishFunction"].apply(t, beta), F.silu),
            "mish": (lambda t: hw3["MishFunction"].apply(t), F.mish),
        }
        for name, (custom, builtin) in cases.items():
            def step(fn):
                t = x.detach().requires_grad_(True)
                fn(t).sum().backward()
            t_c = median_time(lambda: step(custom), repeat)
            t_b = median_time(lambda: step(builtin), repeat)
            rows.append({"activation": name, "dtype": str(dtype).replace("torch.", ""), "n": n,
                         "custom Function Melem/s": n / t_c / 1e6, "built-in Melem/s": n / t_b / 1e6,
                         "custom/built-in time": t_c / t_b})
    return rows
