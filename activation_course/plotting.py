"""Plotting helpers shared by the chapters and the assignment notebooks."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import reference


def plot_activation(name: str, z=None, ax=None, label=None, **params):
    """Plot f and f' (autograd) of a reference activation on one axis; return the axis."""
    z = np.linspace(-5, 5, 801) if z is None else np.asarray(z, dtype=np.float64)
    f, df = reference.value_and_grad(name, z, **params)
    ax = ax or plt.gca()
    label = label or name
    ax.plot(z, f, label=f"{label}: $f(z)$")
    ax.plot(z, df, "--", label=f"{label}: $f'(z)$ (autograd)")
    ax.axhline(0, color="0.8", lw=0.8, zorder=0)
    ax.axvline(0, color="0.8", lw=0.8, zorder=0)
    ax.set_xlabel("$z$")
    ax.set_ylabel("value")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def compare_to_reference(funcs: dict, z=None, ncols: int = 4):
    """Plot student functions against the autograd reference.

    ``funcs`` maps a reference name to ``(f, f_grad)`` (either may be None). Draws one
    panel per activation with the reference f, f' as thin grey lines and the
    student's as coloured markers; returns the figure.
    """
    z = np.linspace(-6, 6, 121) if z is None else np.asarray(z, dtype=np.float64)
    n = len(funcs)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows), squeeze=False)
    for ax, (name, (f, df)) in zip(axes.flat, funcs.items()):
        rf, rdf = reference.value_and_grad(name, z)
        ax.plot(z, rf, color="0.3", lw=3, alpha=0.4, label="reference $f$")
        ax.plot(z, rdf, color="0.6", lw=3, alpha=0.4, label="reference $f'$")
        for fn, style, lab in ((f, "o", "yours $f$"), (df, "x", "yours $f'$")):
            if fn is None:
                continue
            try:
                y = np.asarray(fn(z.copy()), dtype=np.float64)
                ax.plot(z[::4], y[::4], style, ms=3, label=lab)
            except Exception as exc:  # a half-finished notebook should still plot the rest
                ax.text(0.5, 0.5, f"{lab}: {type(exc).__name__}", transform=ax.transAxes, ha="center")
        ax.set_title(name)
        ax.set_xlabel("$z$")
        ax.legend(fontsize="x-small", loc="upper left")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig
