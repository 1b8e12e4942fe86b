"""Plotting helpers shared by the chapters and the assignment notebooks."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import reference


def plot_activation(name: str, z=None, ax=None, label=None, **params):
    """Plot f and f' (autograd) of a reference activation on one axis; return the axis.

    Args:
        name: an activation of :data:`activation_course.reference.ACTIVATIONS`.
        z: the grid, or ``None`` for a default one.
        ax: the matplotlib axis, or ``None`` for a new figure.
        label: the legend's name (default: ``name``).
        **params: the activation's parameters.

    Returns:
        The matplotlib axis.
    """
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

    Args:
        funcs: ``{reference name: (f, f_grad)}``, numpy functions or ``None``.
        z: the grid, or ``None`` for a default one.
        ncols: panels per row.

    Returns:
        The matplotlib figure.
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


# ---------------------------------------------------------------------------
# Schematics drawn at build time (chapter 1)
# ---------------------------------------------------------------------------

def _node(ax, xy, r, text="", fc="white", ec="k", fontsize=11, lw=1.4):
    ax.add_patch(plt.Circle(xy, r, fc=fc, ec=ec, lw=lw, zorder=3))
    if text:
        ax.text(*xy, text, ha="center", va="center", fontsize=fontsize, zorder=4)


def _arrow(ax, start, end, color="k", lw=1.2, shrink=0.0):
    ax.annotate("", xy=end, xytext=start, zorder=2,
                arrowprops=dict(arrowstyle="-|>", color=color, lw=lw, shrinkA=shrink, shrinkB=shrink))


def draw_neuron(n_inputs: int = 3):
    """Two panels: a cartoon of a nerve cell (left) and the artificial neuron (right).

    The artificial neuron is drawn in the book's notation: inputs ``a_j^(l-1)``,
    weights ``w_ij``, the pre-activation ``z_i`` (a weighted sum plus bias) and the
    activation ``a_i = f(z_i)``. Dashed grey captions under both panels pair up the
    parts (dendrites/inputs, cell body/sum and activation, axon/output). Returns the
    figure.

    Args:
        n_inputs: the number of inputs drawn.

    Returns:
        The matplotlib figure.
    """
    fig, (bio, art) = plt.subplots(1, 2, figsize=(11, 3.9))
    for ax in (bio, art):
        ax.set_aspect("equal")
        ax.axis("off")

    # --- the nerve cell: dendrites -> cell body -> axon -> terminals
    rng = np.random.default_rng(4)
    soma = np.array([0.0, 0.0])
    for k, angle in enumerate(np.linspace(110, 250, 5)):
        t = np.deg2rad(angle)
        end = soma + 1.5 * np.array([np.cos(t), np.sin(t)])
        bio.plot([soma[0], end[0]], [soma[1], end[1]], color="C0", lw=2.5 - 0.2 * k % 2)
        for s in (-1, 1):  # small branches
            tb = t + s * 0.45
            start = soma + 1.0 * np.array([np.cos(t), np.sin(t)])
            bio.plot([start[0], start[0] + 0.5 * np.cos(tb)], [start[1], start[1] + 0.5 * np.sin(tb)],
                     color="C0", lw=1.2)
    bio.add_patch(plt.Circle(soma, 0.45, fc="C0", ec="k", alpha=0.85, zorder=3))
    bio.add_patch(plt.Circle(soma + [0.05, 0.05], 0.15, fc="white", ec="k", zorder=4))  # nucleus
    axon_x = np.linspace(0.45, 3.6, 50)
    bio.plot(axon_x, 0.08 * np.sin(3 * axon_x) + 0.02 * rng.standard_normal(50).cumsum() * 0,
             color="C1", lw=3)
    for dy in (-0.5, 0.0, 0.5):  # axon terminals
        bio.plot([3.6, 4.1], [0.0, dy], color="C1", lw=1.5)
        bio.add_patch(plt.Circle((4.15, dy), 0.07, fc="C1", ec="k", zorder=3))
    bio.text(-1.55, 1.25, "dendrites\n(receive signals)", ha="center", fontsize=10)
    bio.text(0.9, -0.55, "cell body\n(integrates, fires)", ha="center", va="top", fontsize=10)
    bio.text(2.1, 0.35, "axon (sends the spike on)", ha="center", fontsize=10)
    bio.text(4.15, 0.75, "synapses", ha="center", fontsize=10)
    bio.set_xlim(-2.3, 4.6)
    bio.set_ylim(-1.9, 1.9)
    bio.set_title("a nerve cell (cartoon)")

    # --- the artificial neuron: a_j -> (w_ij) -> z_i -> f -> a_i
    ys = np.linspace(1.2, -1.2, n_inputs)
    labels = [f"$a^{{(l-1)}}_{j + 1}$" for j in range(n_inputs)]
    sum_xy, act_xy = np.array([1.6, 0.0]), np.array([3.1, 0.0])
    for j, (y, lab) in enumerate(zip(ys, labels)):
        _node(art, (0.0, y), 0.32, lab, fc="#dbe9f6", fontsize=10)
        _arrow(art, (0.32, y), sum_xy + 0.38 * (np.array([0.0, y]) - sum_xy) / np.hypot(1.6, y))
        art.text(0.55, y * 0.8 + 0.12, f"$w_{{i{j + 1}}}$", fontsize=11, color="C3", ha="center")
    _node(art, (0.0, -1.95), 0.22, "$1$", fc="0.92", fontsize=9)
    _arrow(art, (0.2, -1.85), sum_xy + [-0.25, -0.3])
    art.text(0.95, -1.45, "$b_i$", fontsize=11, color="C3")
    _node(art, sum_xy, 0.38, r"$\Sigma$", fc="#fde0c5", fontsize=14)
    _arrow(art, sum_xy + [0.38, 0], act_xy - [0.38, 0])
    art.text(2.35, 0.12, "$z_i$", fontsize=12, ha="center")
    _node(art, act_xy, 0.38, "$f$", fc="#fde0c5", fontsize=14)
    _arrow(art, act_xy + [0.38, 0], act_xy + [1.3, 0])
    art.text(act_xy[0] + 1.45, 0.0, "$a^{(l)}_i = f(z_i)$", fontsize=12, va="center")
    art.text(3.9, -1.1, r"$z_i = \sum_j w_{ij}\, a^{(l-1)}_j + b_i$", ha="center", fontsize=11)
    art.text(0.0, 1.75, "inputs", ha="center", fontsize=10)
    art.set_xlim(-0.6, 5.8)
    art.set_ylim(-2.4, 2.1)
    art.set_title("an artificial neuron (unit $i$ of layer $l$)")
    fig.text(0.5, 0.01, "dendrites ~ inputs and weights;  cell body ~ weighted sum $z$ and "
             "activation $f$;  axon ~ output $a$", ha="center", fontsize=10, color="0.35")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def draw_mlp(widths=(3, 4, 4, 2)):
    """A small MLP in the book's notation; returns the figure.

    Layer ``l`` holds the column vectors ``z^(l)`` and ``a^(l)`` (``a^(0) = x``); the
    matrix ``W^(l)`` of shape ``(n_l, n_{l-1})`` sits on the edges from layer ``l-1``
    to layer ``l``, and one edge is labelled with its entry ``w^(l)_ij``.

    Args:
        widths: ``(n_0, ..., n_L)``, the layer widths.

    Returns:
        The matplotlib figure.
    """
    widths = [int(n) for n in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"need at least two layers of positive width, got {widths}")
    L = len(widths) - 1
    fig, ax = plt.subplots(figsize=(2.3 * (L + 1) + 1, 0.9 * max(widths) + 1.6))
    ax.set_aspect("equal")
    ax.axis("off")
    dx, r = 2.3, 0.27
    pos = [[(l * dx, (n - 1) / 2 - i) for i in range(n)] for l, n in enumerate(widths)]
    for l in range(1, L + 1):
        for p in pos[l - 1]:
            for q in pos[l]:
                ax.plot([p[0] + r, q[0] - r], [p[1], q[1]], color="0.65", lw=0.8, zorder=1)
        top = max(y for _, y in pos[l]) + 0.75
        ax.text((l - 0.5) * dx, top, f"$\\mathbf{{W}}^{{({l})}}$", ha="center", fontsize=13, color="C3")
        ax.text((l - 0.5) * dx, top - 0.32, f"${widths[l]} \\times {widths[l - 1]}$", ha="center",
                fontsize=9, color="C3")
    # one labelled entry: w^(1)_{11}, from unit 1 of layer 0 to unit 1 of layer 1
    (x0, y0), (x1, y1) = pos[0][0], pos[1][0]
    ax.plot([x0 + r, x1 - r], [y0, y1], color="C3", lw=2, zorder=2)
    ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, "$w^{(1)}_{11}$", color="C3", fontsize=10, ha="center")
    for l, layer in enumerate(pos):
        colour = "#dbe9f6" if l == 0 else ("#fde0c5" if l < L else "#d9f0d3")
        for (x, y) in layer:
            _node(ax, (x, y), r, fc=colour)
        bottom = min(y for _, y in layer) - 0.7
        if l == 0:
            name = "input\n$\\mathbf{a}^{(0)} = \\mathbf{x}$"
        else:
            name = (f"{'output' if l == L else f'hidden layer {l}'}\n"
                    f"$\\mathbf{{z}}^{{({l})}} = \\mathbf{{W}}^{{({l})}}\\mathbf{{a}}^{{({l - 1})}}$\n"
                    f"$\\mathbf{{a}}^{{({l})}} = f(\\mathbf{{z}}^{{({l})}})$")
        ax.text(l * dx, bottom, name, ha="center", va="top", fontsize=10)
        ax.text(l * dx, max(y for _, y in layer) + 0.4, f"$n_{l} = {widths[l]}$", ha="center",
                fontsize=9, color="0.35")
    ax.set_xlim(-0.8, L * dx + 0.8)
    ax.set_ylim(-(max(widths) - 1) / 2 - 2.2, (max(widths) - 1) / 2 + 1.2)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Per-layer distributions at initialisation (chapter 4)
# ---------------------------------------------------------------------------

def plot_layer_histograms(stats: dict, layers=(1, 10, 20, 30), bins: int = 60):
    """One row per network, two panels: the activations ``a^(l)`` and
    ``log10 |entries of grad_{W^(l)} L|`` for the chosen layers.

    ``stats`` maps a row label (e.g. ``"sigmoid, Xavier"``) to the output of
    :func:`activation_course.stability.layer_statistics`. Layers are 1-based. The
    histograms are densities, one colour per layer (dark = near the input). Exact
    zeros (ReLU outputs, and the gradients they cause) are left out of both panels
    (a logarithm of 0 does not exist, and a spike at 0 would flatten the rest); the
    panel title reports their largest share. Returns the figure.

    Args:
        stats: ``{row label: layer_statistics(...)}``.
        layers: the 1-based layers to show.
        bins: the histogram bins.

    Returns:
        The matplotlib figure.
    """
    n = len(stats)
    fig, axes = plt.subplots(n, 2, figsize=(10, 2.0 * n + 0.6), squeeze=False)
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(layers)))
    for row, (name, st) in enumerate(stats.items()):
        ax_a, ax_g = axes[row]
        zero_share, a_zero_share = [], []
        a_all = np.concatenate([st["a"][l - 1] for l in layers])
        a_bins = np.linspace(a_all.min(), a_all.max(), bins + 1)
        for l, c in zip(layers, colours):
            a = st["a"][l - 1]
            a_zero_share.append(np.mean(a == 0))
            ax_a.hist(a[a != 0], bins=a_bins, density=True, histtype="step", color=c, lw=1.4,
                      label=f"layer {l}")
            g = np.abs(st["grad_w"][l - 1])
            zero_share.append(np.mean(g == 0))
            g = g[g > 0]
            if g.size:
                ax_g.hist(np.log10(g), bins=bins, density=True, histtype="step", color=c, lw=1.4,
                          label=f"layer {l}")
        ax_a.set_ylabel(name, fontsize=10)
        ax_a.set_yticks([])
        ax_g.set_yticks([])
        heads = ("activations $a^{(l)}$", "weight gradients") if row == 0 else ("", "")
        for ax, head, share in ((ax_a, heads[0], a_zero_share), (ax_g, heads[1], zero_share)):
            note = f"exact zeros, not drawn: up to {100 * max(share):.0f}%" if max(share) > 0 else ""
            ax.set_title("\n".join(t for t in (head, note) if t), fontsize=9)
        if row == 0:
            ax_a.legend(fontsize="x-small", loc="upper center", ncols=2)
    axes[-1, 0].set_xlabel("value of $a^{(l)}$")
    axes[-1, 1].set_xlabel(r"$\log_{10} |\partial \mathcal{L} / \partial w^{(l)}_{ij}|$")
    fig.tight_layout()
    return fig
