"""The book's figure helpers draw what their captions promise (labels, panels, data).

Oracles are the figures' own artists, inspected independently of how they were drawn:
the text objects, the circles and the histogram patches on each axis.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from activation_course import plotting, stability  # noqa: E402


def _texts(fig):
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts] + [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return out


def _circles(ax):
    return [p for p in ax.patches if isinstance(p, matplotlib.patches.Circle)]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_neuron_schematic_labels_both_sides():
    fig = plotting.draw_neuron(n_inputs=3)
    texts = " | ".join(_texts(fig))
    for label in ("dendrites", "cell body", "axon", "synapses",
                  "$w_{i1}$", "$w_{i3}$", "$z_i$", "$b_i$", "$a^{(l)}_i = f(z_i)$", "$a^{(l-1)}_2$"):
        assert label in texts, f"{label!r} missing from the neuron schematic: {texts}"
    assert len(fig.axes) == 2
    # artificial side: 3 inputs + the constant 1 + the sum node + the activation node
    assert len(_circles(fig.axes[1])) == 3 + 1 + 2


@pytest.mark.parametrize("widths", [(3, 4, 4, 2), (2, 5, 1)])
def test_mlp_schematic_names_every_layer_and_matrix(widths):
    fig = plotting.draw_mlp(widths)
    texts = " | ".join(_texts(fig))
    L = len(widths) - 1
    assert len(_circles(fig.axes[0])) == sum(widths)
    assert r"$\mathbf{a}^{(0)} = \mathbf{x}$" in texts
    for l in range(1, L + 1):
        assert f"$\\mathbf{{W}}^{{({l})}}$" in texts
        assert f"${widths[l]} \\times {widths[l - 1]}$" in texts          # shape (n_l, n_{l-1})
        assert f"$\\mathbf{{z}}^{{({l})}} = \\mathbf{{W}}^{{({l})}}\\mathbf{{a}}^{{({l - 1})}}$" in texts
        assert f"$\\mathbf{{a}}^{{({l})}} = f(\\mathbf{{z}}^{{({l})}})$" in texts
    assert f"$\\mathbf{{W}}^{{({L + 1})}}$" not in texts
    assert "$w^{(1)}_{11}$" in texts


@pytest.mark.parametrize("widths", [(3,), (3, 0, 2)])
def test_mlp_schematic_rejects_bad_widths(widths):
    with pytest.raises(ValueError, match="at least two layers of positive width"):
        plotting.draw_mlp(widths)


def test_layer_histograms_one_row_per_network():
    stats = {
        "sigmoid, Xavier": stability.layer_statistics("sigmoid", depth=12, width=16, batch=32,
                                                      init="xavier", device="cpu"),
        "relu, He": stability.layer_statistics("relu", depth=12, width=16, batch=32, init="he",
                                               device="cpu"),
    }
    fig = plotting.plot_layer_histograms(stats, layers=(1, 6, 12), bins=20)
    axes = np.array(fig.axes).reshape(2, 2)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == list(stats)
    for ax in axes.flat:
        assert len(ax.patches) == 3        # one step histogram per layer shown
    # the gradient panel of the sigmoid row is in log10 units and far below 0 at layer 1
    xs = axes[0, 1].patches[0].get_path().vertices[:, 0]
    assert xs.max() < 0
    # ReLU has exact zeros (not drawn) and the panel says so; the sigmoid has none
    assert "exact zeros" in axes[1, 0].get_title()
    assert "exact zeros" not in axes[0, 0].get_title()
    assert "layer 12" in [t.get_text() for t in axes[0, 0].get_legend().get_texts()]
