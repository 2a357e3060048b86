"""Fully connected against convolutional: equal parameter budgets on Fashion-MNIST, and shifted test images.

    python -m experiments.studies run fc_vs_conv [--seeds 0-4]

Each arm of config.py (`cnn`, `mlp_equal`, `mlp_notes`) is a `cnnjax repro` study over the seeds
(runs/studies/fc_vs_conv/<arm>/). Then every seed's trained network classifies the test set shifted by 1-4 pixels
(right, left, down and up, zero-filled; the accuracy is the mean over the four directions): the networks never saw
a shifted image in training, so the drop measures how much of the answer survives translation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cnnjax import models, summary
from experiments.studies import common

CONFIG = "experiments/studies/fc_vs_conv/config.py"
ARMS = ("cnn", "mlp_equal", "mlp_notes")
SHIFTS = common.SHIFTS
SEEDS = "0-4"


def run(seeds: list[int], runs_dir: str) -> dict[str, Any]:
    """Trains the arms (`cnnjax repro`), then measures every seed's accuracy under shifts."""
    arms = common.train_arms(CONFIG, ARMS, seeds, runs_dir)
    for arm in ARMS:
        model, options = _model(arm)
        arms[arm] |= {
            "model": model,
            "options": options,
            "params": _params(model, options),
            "shift_accuracy": {
                str(seed): common.shift_accuracies(common.seed_workdir(arms[arm], seed)) for seed in seeds
            },
        }
    return {"seeds": seeds, "shifts": list(SHIFTS), "arms": arms}


def _model(arm: str) -> tuple[str, dict[str, Any]]:
    from experiments.studies.fc_vs_conv import config

    name, options = config.MODELS[arm]
    return name, {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


def _params(name: str, options: dict[str, Any]) -> int:
    module = models.create(name, **{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
    return summary(module, models.input_shape(name)).params


def write(results: dict[str, Any], out_dir: Path) -> None:
    """The tables into README.md and the figure shifts.png."""
    arms = results["arms"]
    names = {arm: f"{arm} ({arms[arm]['params']:,} params)" for arm in ARMS}
    test = {names[a]: list(arms[a]["test_accuracy"].values()) for a in ARMS}
    train = {names[a]: list(arms[a]["train_accuracy"].values()) for a in ARMS}

    def at(arm: str, i: int) -> list[float]:
        return [values[i] for values in arms[arm]["shift_accuracy"].values()]

    shift_rows = {f"{names[a]}, shift {s}": at(a, i) for a in ARMS for i, s in enumerate(SHIFTS) if s}
    drop = {names[a]: [v[0] - v[-1] for v in arms[a]["shift_accuracy"].values()] for a in ARMS}
    comparisons = [
        common.comparison("cnn", "mlp_equal", test[names["cnn"]], test[names["mlp_equal"]], "test_accuracy"),
        common.comparison("cnn", "mlp_notes", test[names["cnn"]], test[names["mlp_notes"]], "test_accuracy"),
        *(
            common.comparison("cnn", "mlp_notes", at("cnn", i), at("mlp_notes", i), f"accuracy_shift_{s}")
            for i, s in enumerate(SHIFTS)
            if s in (2, 4)
        ),
    ]
    text = "\n\n".join(
        [
            common.summary_table("test accuracy", test),
            common.summary_table("train accuracy (last steps)", train),
            common.summary_table("test accuracy, images shifted", shift_rows),
            common.summary_table(f"accuracy lost at a {SHIFTS[-1]}-pixel shift", drop),
            common.comparison_table(comparisons),
            f"Seeds {', '.join(map(str, results['seeds']))}; {common.environment_line(results['environment'])}. "
            + common.checks_line(arms),
        ]
    )
    common.replace_block(out_dir / "README.md", "results", text)
    _figure(results, names, out_dir / "shifts.png")


def _figure(results: dict[str, Any], names: dict[str, str], path: Path) -> None:
    with common.figure(path) as (_, ax):
        for arm in ARMS:
            values = np.array(list(results["arms"][arm]["shift_accuracy"].values()))  # (seeds, shifts)
            common.plot_mean_band(ax, SHIFTS, values, names[arm], marker="o")
        ax.set_xlabel("shift of the test images (pixels; mean over right, left, down, up)")
        ax.set_ylabel("test accuracy")
        ax.set_xticks(SHIFTS)
        ax.set_title(f"Fashion-MNIST: accuracy under translation, mean ± std over {len(results['seeds'])} seeds")
        ax.grid(alpha=0.3)
        ax.legend()
