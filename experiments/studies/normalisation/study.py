"""Normalisation and where it goes: none, LRN, batch norm before or after the ReLU, each at five learning rates.

    python -m experiments.studies run normalisation [--seeds 0-4]

Each arm of config.py (a normalisation at a learning rate) is a `cnnjax repro` study
(runs/studies/normalisation/<arm>/). Reported: test accuracy per arm; per normalisation, the largest learning rate
that trains (every seed above TRAINS test accuracy: chance is 0.1) and its best rate; comparisons at one rate
(COMMON_LR) and at each normalisation's best rate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experiments.studies import common
from experiments.studies.normalisation.config import ARGS, LRS, NORMS

CONFIG = "experiments/studies/normalisation/config.py"
ARMS = ARGS
SEEDS = "0-4"
TRAINS = 0.5  # test accuracy every seed must pass for a learning rate to count as training
COMMON_LR = 0.1
LABELS = {"none": "none", "lrn": "LRN after ReLU", "bn": "BN before ReLU", "bn_after": "BN after ReLU"}


def arm(norm: str, lr: float) -> str:
    return f"{norm}_lr{lr:g}"


def run(seeds: list[int], runs_dir: str) -> dict[str, Any]:
    """Trains the arms (`cnnjax repro`) and reads each seed's count of skipped non-finite steps."""
    arms = common.train_arms(CONFIG, ARMS, seeds, runs_dir)
    for name in ARMS:
        arms[name]["nonfinite_steps"] = {
            str(seed): common.final_metrics(common.seed_workdir(arms[name], seed))["nonfinite_steps"] for seed in seeds
        }
    return {"seeds": seeds, "trains": TRAINS, "arms": arms}


def tolerance(results: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """norm -> the largest learning rate at which every seed passes TRAINS (None: none does), and the rate of the
    best mean test accuracy."""
    arms, out = results["arms"], {}
    for norm in NORMS:
        accuracy = {lr: list(arms[arm(norm, lr)]["test_accuracy"].values()) for lr in LRS}
        training = [lr for lr in LRS if min(accuracy[lr]) > results["trains"]]
        out[norm] = {
            "largest_training_lr": max(training) if training else None,
            "best_lr": max(LRS, key=lambda lr: np.mean(accuracy[lr])),
        }
    return out


def write(results: dict[str, Any], out_dir: Path) -> None:
    """The tables into README.md and the figure learning_rates.png."""
    arms = results["arms"]

    def accuracy(name: str) -> list[float]:
        return list(arms[name]["test_accuracy"].values())

    limits = tolerance(results)
    grid = ["| test accuracy (mean ± std) | " + " | ".join(f"lr {lr:g}" for lr in LRS) + " |", "|---" * 6 + "|"]
    for norm in NORMS:
        cells = [
            f"{np.mean(accuracy(arm(norm, lr))):.4f} ± {np.std(accuracy(arm(norm, lr)), ddof=1):.4f}" for lr in LRS
        ]
        grid.append(f"| {LABELS[norm]} | " + " | ".join(cells) + " |")
    limit_rows = ["| normalisation | largest lr that trains | best lr | seeds diverging (non-finite steps) |"]
    limit_rows.append("|---|---|---|---|")
    for norm in NORMS:
        diverged = [f"lr {lr:g}: {sum(n > 0 for n in arms[arm(norm, lr)]['nonfinite_steps'].values())}" for lr in LRS]
        largest = limits[norm]["largest_training_lr"]
        limit_rows.append(
            f"| {LABELS[norm]} | {'none' if largest is None else f'{largest:g}'} | {limits[norm]['best_lr']:g} | "
            f"{', '.join(d for d in diverged if not d.endswith(': 0')) or 'none'} |"
        )
    pairs = [("lrn", "none"), ("bn", "none"), ("bn_after", "bn")]
    comparisons = [
        common.comparison(
            arm(a, COMMON_LR),
            arm(b, COMMON_LR),
            accuracy(arm(a, COMMON_LR)),
            accuracy(arm(b, COMMON_LR)),
            "test_accuracy",
        )
        for a, b in pairs
    ] + [
        common.comparison(
            arm(a, limits[a]["best_lr"]),
            arm(b, limits[b]["best_lr"]),
            accuracy(arm(a, limits[a]["best_lr"])),
            accuracy(arm(b, limits[b]["best_lr"])),
            "test_accuracy",
        )
        for a, b in pairs
    ]
    text = "\n\n".join(
        [
            "\n".join(grid),
            f"A learning rate trains when every seed ends above {results['trains']} test accuracy (chance: 0.1):",
            "\n".join(limit_rows),
            common.summary_table("test accuracy", {name: accuracy(name) for name in ARMS}),
            f"At lr {COMMON_LR:g}, then each at its best rate:",
            common.comparison_table(comparisons),
            f"Seeds {', '.join(map(str, results['seeds']))}; {common.environment_line(results['environment'])}. "
            + common.checks_line(arms),
        ]
    )
    common.replace_block(out_dir / "README.md", "results", text)
    _figure(results, out_dir / "learning_rates.png")


def _figure(results: dict[str, Any], path: Path) -> None:
    with common.figure(path) as (_, ax):
        for norm in NORMS:
            values = np.array([list(results["arms"][arm(norm, lr)]["test_accuracy"].values()) for lr in LRS]).T
            common.plot_mean_band(ax, LRS, values, LABELS[norm], marker="o")
        ax.axhline(results["trains"], color="grey", linewidth=0.8, linestyle=":")
        ax.set_xscale("log")
        ax.set_xticks(LRS, [f"{lr:g}" for lr in LRS])
        ax.set_xlabel("learning rate (SGD, momentum 0.9, constant)")
        ax.set_ylabel("test accuracy after 4 epochs")
        ax.set_title(f"Normalisation and learning rate, mean ± std over {len(results['seeds'])} seeds")
        ax.grid(alpha=0.3)
        ax.legend()
