"""Depth with and without residual connections: plain and residual networks of 8, 20 and 56 layers.

    python -m experiments.studies run depth [--seeds 0-4]

Each arm of config.py is a `cnnjax repro` study (runs/studies/depth/<arm>/). Reported per arm: the final training
error (1 - the training accuracy of the last logged steps, batch norm in training mode, as the paper's thin curves)
and test error, their curves after every second epoch, and the comparisons the degradation problem rests on: deeper
against shallower plain networks, and residual against plain at each depth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experiments.studies import common
from experiments.studies.depth.config import ARGS, DEPTHS

CONFIG = "experiments/studies/depth/config.py"
ARMS = ARGS
SEEDS = "0-4"


def run(seeds: list[int], runs_dir: str) -> dict[str, Any]:
    """Trains the arms (`cnnjax repro`), then reads every seed's curves."""
    arms = common.train_arms(CONFIG, ARMS, seeds, runs_dir)
    for name in ARMS:
        records = {str(seed): common.evaluations(common.seed_workdir(arms[name], seed)) for seed in seeds}
        arms[name]["train_error_by_epoch"] = {s: [1 - r["train_accuracy"] for r in rs] for s, rs in records.items()}
        arms[name]["test_error_by_epoch"] = {s: [1 - r["test_accuracy"] for r in rs] for s, rs in records.items()}
    return {"seeds": seeds, "arms": arms}


def write(results: dict[str, Any], out_dir: Path) -> None:
    """The tables into README.md and the figure degradation.png."""
    arms = results["arms"]

    def error(name: str, metric: str) -> list[float]:
        return [1 - v for v in arms[name][metric].values()]

    def compare(a: str, b: str, metric: str) -> dict[str, Any]:
        # errors: A better means lower, so the comparison runs on the accuracies and is reported as such
        return common.comparison(a, b, list(arms[a][metric].values()), list(arms[b][metric].values()), metric)

    comparisons = [
        compare("plain_56", "plain_20", "train_accuracy"),
        compare("plain_20", "plain_8", "train_accuracy"),
        compare("residual_56", "residual_20", "train_accuracy"),
        *(compare(f"residual_{d}", f"plain_{d}", "test_accuracy") for d in DEPTHS),
    ]
    text = "\n\n".join(
        [
            common.summary_table("training error, last steps", {name: error(name, "train_accuracy") for name in ARMS}),
            common.summary_table("test error", {name: error(name, "test_accuracy") for name in ARMS}),
            "Comparisons on accuracy (A - B > 0: A has the lower error):",
            common.comparison_table(comparisons),
            f"Seeds {', '.join(map(str, results['seeds']))}; {common.environment_line(results['environment'])}. "
            + common.checks_line(arms),
        ]
    )
    common.replace_block(out_dir / "README.md", "results", text)
    _figure(results, out_dir / "degradation.png")


def _figure(results: dict[str, Any], path: Path) -> None:
    with common.figure(path, ncols=2, figsize=(10, 4.2), sharey=True) as (fig, axes):
        for ax, kind in zip(axes, ("plain", "residual")):
            for i, depth in enumerate(DEPTHS):
                arm = results["arms"][f"{kind}_{depth}"]
                colour = f"C{i}"
                for metric, style, label in (
                    ("train_error_by_epoch", "--", "train"),
                    ("test_error_by_epoch", "-", "test"),
                ):
                    curves = np.array(list(arm[metric].values()))  # (seeds, epochs)
                    epochs = 2 * np.arange(1, curves.shape[1] + 1)
                    common.plot_mean_band(ax, epochs, curves, f"{depth} layers, {label}", color=colour, linestyle=style)
            ax.set_title(f"{kind} networks")
            ax.set_xlabel("epoch (5,000 training images)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        axes[0].set_ylabel("error (dashed: training, solid: test)")
        fig.suptitle(f"Depth with and without shortcuts, mean ± std over {len(results['seeds'])} seeds")
