"""Training: Assignment 3's comparison through the course's harness, per run and whole, per
device, with its final accuracies. The activations, seeds and epochs are the master's own,
read from its comparison cell (``factories``, ``SEEDS``, ``EPOCHS``)."""
from __future__ import annotations

import time

from .measure import median_time, notebook_setup, solution_namespace

HW = "hw3"


def comparison() -> dict:
    """hw3's comparison cell, without its training: ``factories``, ``SEEDS``, ``EPOCHS``."""
    return notebook_setup(HW, "factories", solution_namespace(HW))


def bench_training(repeat: int, smoke: bool = False) -> tuple[list[dict], list[dict]]:
    """Seconds per training run and for the whole comparison, per device; and its accuracies.
    ``smoke``: one epoch, one seed."""
    import torch
    from activation_course import training

    setup = comparison()
    factories = setup["factories"]
    epochs, seeds = (1, [0]) if smoke else (int(setup["EPOCHS"]), list(setup["SEEDS"]))
    one_run = next(iter(factories))
    rows, accuracy = [], []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        one = median_time(lambda: training.train(factories[one_run], seed=0, epochs=epochs,
                                                 device=device, progress=False), repeat)
        t0 = time.perf_counter()
        table = training.compare(factories, seeds=seeds, epochs=epochs, device=device, progress=False)
        rows.append({"device": device, "torch threads (train)": "1 (harness 'auto' on CPU)" if device == "cpu" else "-",
                     "epochs": epochs, f"one {one_run} run (s)": one, "runs": len(factories) * len(seeds),
                     "comparison (s)": time.perf_counter() - t0})
        final = table[table["epoch"] == epochs].groupby("activation", observed=True)["test_acc"]
        for name, acc in final:
            accuracy.append({"device": device, "activation": name, "test accuracy mean": float(acc.mean()),
                             "std": float(acc.std(ddof=1)) if len(acc) > 1 else float("nan")})
    if len(rows) == 2:
        rows[1]["speedup vs CPU"] = rows[0]["comparison (s)"] / rows[1]["comparison (s)"]
    return rows, accuracy
