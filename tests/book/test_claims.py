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
    """Chapter 3: 4^-100 underflows to 0 in float32 and cannot be undone; float64 keeps it."""
    x32, x64 = np.float32(1.0), 1.0
    for _ in range(100):
        x32, x64 = x32 * np.float32(0.25), x64 * 0.25
    assert x32 == 0.0 and x64 == pytest.approx(0.25**100)
    for _ in range(100):
        x32, x64 = x32 * np.float32(4.0), x64 * 4.0
    assert x32 == 0.0 and x64 == pytest.approx(1.0)


def test_library_sigmoid_and_softplus_are_stable_in_float32():
    """Chapter 3: the library functions that stand in for the stable forms."""
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
