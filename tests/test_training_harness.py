"""Unit tests of the digits data and the training harness (activation_course.data/.training)."""
import inspect
import math

import numpy as np
import pytest
import torch
from torch import nn

from activation_course import data as digits_data
from activation_course import devices, training

SMALL = dict(hidden=(16, 16), progress=False)


# --------------------------------------------------------------------------- data

def test_digits_split_shapes_dtypes_and_standardisation():
    d = digits_data.load_digits_split()
    assert d.x_train.shape == (1347, 64) and d.x_test.shape == (450, 64)
    assert d.y_train.shape == (1347,) and d.y_test.shape == (450,)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.device.type == "cpu"
    # standardised with training statistics: mean 0, std 1 where a pixel varies, 0 elsewhere
    mean, std = d.x_train.double().mean(0), d.x_train.double().std(0, unbiased=False)
    assert mean.abs().max() < 1e-5
    varying = std > 0
    assert torch.allclose(std[varying], torch.ones_like(std[varying]), atol=1e-5)
    assert int((~varying).sum()) >= 1  # some border pixels are always 0: no 0/0
    assert torch.isfinite(d.x_train).all() and torch.isfinite(d.x_test).all()
    # stratified: every class is in both sets in about the same proportion
    tr = torch.bincount(d.y_train, minlength=10).double() / len(d.y_train)
    te = torch.bincount(d.y_test, minlength=10).double() / len(d.y_test)
    assert (tr - te).abs().max() < 0.01


def test_digits_split_is_fixed_by_split_seed_and_dtype_is_honoured():
    a = digits_data.load_digits_split(split_seed=0)
    b = digits_data.load_digits_split(split_seed=0, dtype=torch.float64)
    c = digits_data.load_digits_split(split_seed=1)
    assert b.x_train.dtype == torch.float64
    assert torch.equal(a.y_train, b.y_train) and torch.allclose(a.x_train.double(), b.x_train, atol=1e-6)
    assert not torch.equal(a.y_train, c.y_train)
    assert a.to(dtype=torch.float64).x_test.dtype == torch.float64
    assert a.to(dtype=torch.float64).y_test.dtype == torch.int64


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(test_fraction=0), ValueError, "test_fraction"),
    (dict(test_fraction=1.5), ValueError, "test_fraction"),
    (dict(dtype=torch.int64), TypeError, "floating"),
])
def test_digits_split_bad_input_says_what_is_wrong(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        digits_data.load_digits_split(**kwargs)


# --------------------------------------------------------------------------- devices

def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert training.resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training.resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert training.resolve_device("auto") == torch.device("cpu")
    assert training.resolve_device("AUTO") == torch.device("cpu")


def test_explicit_devices_are_checked(monkeypatch):
    assert training.resolve_device("cpu") == torch.device("cpu")
    assert training.resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        training.resolve_device("cuda")
    with pytest.raises(RuntimeError, match="MPS is not available"):
        training.resolve_device("mps")
    with pytest.raises(ValueError, match="device must be"):
        training.resolve_device("tpu-please")


def test_auto_skips_mps_for_float64_and_explicit_mps_float64_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert devices.resolve_device("auto", torch.float32) == torch.device("mps")
    assert devices.resolve_device("auto", torch.float64) == torch.device("cpu")
    with pytest.raises(ValueError, match="no float64"):
        devices.resolve_device("mps", torch.float64)


def test_one_device_resolver_and_one_network_builder():
    """Issue 19: the package says each thing once. The old second and third resolvers
    (stability.resolve_device, experiments' own) and experiments.make_mlp are gone;
    what is left is the same object everywhere."""
    from activation_course import experiments, stability

    assert training.resolve_device is devices.resolve_device
    assert stability.resolve_device is devices.resolve_device
    assert not hasattr(experiments, "make_mlp")
    for module in (training, stability, experiments):
        src = inspect.getsource(module)
        assert "def resolve_device" not in src and "cuda.is_available" not in src
        assert src.count("def make_mlp") <= (module is training)


def test_harness_never_hard_codes_cuda():
    for module in (training, digits_data):
        assert ".cuda(" not in inspect.getsource(module)


# --------------------------------------------------------------------------- model

def test_make_mlp_layout_and_fresh_activation_per_layer():
    gen = torch.Generator().manual_seed(0)
    net = training.make_mlp(nn.PReLU, hidden=(8, 8, 8), generator=gen)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "PReLU"] * 3 + ["Linear"]
    slopes = [m.weight for m in net if isinstance(m, nn.PReLU)]
    assert len({id(s) for s in slopes}) == 3  # one learnable slope per layer, not shared
    first = net[0]
    bound = math.sqrt(6 / 64)  # He-uniform
    assert first.weight.abs().max() <= bound and first.weight.abs().max() > 0.9 * bound
    assert torch.count_nonzero(first.bias) == 0


def test_make_mlp_bad_input_says_what_is_wrong():
    with pytest.raises(TypeError, match="nn.Module"):
        training.make_mlp(lambda: torch.relu, hidden=(4,))
    with pytest.raises(TypeError, match="callable"):
        training.make_mlp(nn.ReLU(), hidden=(4,))
    with pytest.raises(ValueError, match="hidden"):
        training.make_mlp(nn.ReLU, hidden=())


# --------------------------------------------------------------------------- training

def test_train_is_deterministic_for_a_seed_on_cpu_whatever_the_global_rng():
    torch.manual_seed(123)
    a = training.train(nn.ReLU, seed=5, epochs=2, device="cpu", **SMALL)
    torch.manual_seed(999)
    torch.rand(17)
    b = training.train(nn.ReLU, seed=5, epochs=2, device="cpu", **SMALL)
    c = training.train(nn.ReLU, seed=6, epochs=2, device="cpu", **SMALL)
    assert a.train_loss == b.train_loss and a.test_loss == b.test_loss and a.test_acc == b.test_acc
    assert a.train_loss != c.train_loss
    # the harness does not consume the global generator either
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    training.train(nn.ReLU, seed=0, epochs=1, device="cpu", **SMALL)
    assert torch.equal(torch.rand(3), expected)


def test_train_history_shapes_and_learning():
    h = training.train(nn.ReLU, seed=0, epochs=4, device="cpu", name="relu", hidden=(32, 32), progress=False)
    assert h.activation == "relu" and h.seed == 0 and h.device == "cpu" and h.epochs == 4
    for metric in training.METRICS:
        assert len(getattr(h, metric)) == 5
    assert all(0.0 <= acc <= 1.0 for acc in h.test_acc)
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]
    assert h.test_acc[-1] > 0.9  # a ReLU MLP learns the digits within a few epochs
    assert h.seconds > 0
    assert h.final() == {m: getattr(h, m)[-1] for m in training.METRICS}


def test_train_records_activation_parameters_per_layer_and_epoch():
    h = training.train(nn.PReLU, seed=0, epochs=2, device="cpu", **SMALL)
    assert sorted(h.params) == ["act1.weight", "act2.weight"]
    for values in h.params.values():
        assert len(values) == 3 and values[0] == pytest.approx(0.25)
        assert values[-1] != values[0]  # learnable slopes move
    frame = h.to_frame()
    assert list(frame.columns) == ["activation", "seed", "epoch", *training.METRICS, "act1.weight", "act2.weight"]
    assert len(frame) == 3


def test_train_in_float64_and_threads_restored():
    before = torch.get_num_threads()
    h = training.train(nn.Tanh, seed=0, epochs=1, device="cpu", dtype=torch.float64, num_threads=1, **SMALL)
    assert torch.get_num_threads() == before
    assert np.isfinite(h.train_loss).all()
    with pytest.raises(ValueError, match="num_threads"):
        training.train(nn.Tanh, seed=0, epochs=1, device="cpu", num_threads=0, **SMALL)
    with pytest.raises(ValueError, match="epochs"):
        training.train(nn.Tanh, seed=0, epochs=-1, device="cpu", **SMALL)


def test_compare_returns_a_tidy_table_and_summary():
    factories = {"ReLU": nn.ReLU, "PReLU": nn.PReLU}
    table = training.compare(factories, seeds=(0, 1), epochs=2, device="cpu", **SMALL)
    assert len(table) == 2 * 2 * 3
    assert list(table.columns[:6]) == ["activation", "seed", "epoch", *training.METRICS]
    assert "act1.weight" in table.columns and table.columns[-1] == "seconds"
    assert list(table["activation"].cat.categories) == ["ReLU", "PReLU"]
    assert table.groupby(["activation", "seed"], observed=True).size().eq(3).all()
    assert table.loc[table["activation"] == "ReLU", "act1.weight"].isna().all()
    # the same run through train() gives the same numbers as through compare()
    h = training.train(nn.PReLU, seed=1, epochs=2, device="cpu", **SMALL)
    rows = table[(table["activation"] == "PReLU") & (table["seed"] == 1)]
    assert rows["test_acc"].tolist() == h.test_acc
    summary = training.summarize(table)
    assert list(summary.index) == ["ReLU", "PReLU"]
    assert "test_acc mean" in summary.columns and "test_acc std" in summary.columns
    last = table[table["epoch"] == 2]
    assert summary.loc["PReLU", "test_acc mean"] == pytest.approx(last[last["activation"] == "PReLU"]["test_acc"].mean())


def test_compare_bad_input_says_what_is_wrong():
    with pytest.raises(TypeError, match="factories"):
        training.compare([nn.ReLU], seeds=(0,), epochs=1, progress=False)
    with pytest.raises(ValueError, match="seed"):
        training.compare({"ReLU": nn.ReLU}, seeds=(), epochs=1, progress=False)


def test_plot_comparison_draws_one_line_per_activation_and_panel_per_metric():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = training.compare({"ReLU": nn.ReLU, "Tanh": nn.Tanh}, seeds=(0, 1), epochs=1, device="cpu", **SMALL)
    fig = training.plot_comparison(table, metrics=("train_loss", "test_loss", "test_acc"))
    axes = fig.axes
    assert len(axes) == 3
    for ax in axes:
        assert len(ax.lines) == 2 and ax.get_xlabel() == "epoch" and ax.get_ylabel()
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["ReLU", "Tanh"]
    with pytest.raises(ValueError, match="unknown metrics"):
        training.plot_comparison(table, metrics=("accuracy",))
    plt.close("all")
