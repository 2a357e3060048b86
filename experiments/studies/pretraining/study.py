"""Greedy layer-wise pretraining against random initialisation, fine-tuned with 500, 2,000 and 10,000 labels.

    python -m experiments.studies run pretraining [--seeds 0-4]

For each seed, pretrain.py first fits the two convolutions as autoencoders on all 60,000 training images without
labels (runs/studies/pretraining/encoders/, kept: a finished seed is not pretrained again); then each arm of
config.py is a `cnnjax repro` study (runs/studies/pretraining/<arm>/), the pretrained arms starting from their
seed's encoders. Reported: test accuracy per arm, the difference pretrained - random per number of labels, and the
autoencoders' reconstruction errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experiments.studies import common
from experiments.studies.pretraining.config import ARGS, ENCODERS, LABELS
from experiments.studies.pretraining.pretrain import EPOCHS_PER_LAYER, pretrain

CONFIG = "experiments/studies/pretraining/config.py"
ARMS = ARGS
SEEDS = "0-4"


def run(seeds: list[int], runs_dir: str) -> dict[str, Any]:
    """Pretrains the encoders of each seed, then trains the arms (`cnnjax repro`)."""
    pretraining = {str(seed): pretrain(seed, common.ROOT / ENCODERS.format(seed=seed)) for seed in seeds}
    arms = common.train_arms(CONFIG, ARMS, seeds, runs_dir)
    return {"seeds": seeds, "epochs_per_layer": EPOCHS_PER_LAYER, "pretraining": pretraining, "arms": arms}


def write(results: dict[str, Any], out_dir: Path) -> None:
    """The tables into README.md and the figure labels.png."""
    arms = results["arms"]

    def accuracy(arm: str) -> list[float]:
        return list(arms[arm]["test_accuracy"].values())

    errors = {
        f"conv{k} {when}": [p[f"conv{k}"][key] for p in results["pretraining"].values()]
        for k in (1, 2)
        for when, key in (("at initialisation", "mse_at_init"), ("pretrained", "mse_trained"))
    }
    comparisons = [
        common.comparison(
            f"pretrained_{n}", f"random_{n}", accuracy(f"pretrained_{n}"), accuracy(f"random_{n}"), "test_accuracy"
        )
        for n in LABELS
    ]
    text = "\n\n".join(
        [
            common.summary_table("test accuracy", {arm: accuracy(arm) for arm in ARMS}),
            common.comparison_table(comparisons),
            f"The autoencoders' reconstruction error (mean squared error on the first 10,000 training images, "
            f"{EPOCHS_PER_LAYER} epochs per layer over {next(iter(results['pretraining'].values()))['images']:,} "
            "images):",
            common.summary_table("reconstruction MSE", errors),
            f"Seeds {', '.join(map(str, results['seeds']))}; {common.environment_line(results['environment'])}. "
            + common.checks_line(arms),
        ]
    )
    common.replace_block(out_dir / "README.md", "results", text)
    _figure(results, out_dir / "labels.png")


def _figure(results: dict[str, Any], path: Path) -> None:
    with common.figure(path) as (_, ax):
        for kind in ("random", "pretrained"):
            values = np.array([list(results["arms"][f"{kind}_{n}"]["test_accuracy"].values()) for n in LABELS]).T
            common.plot_mean_band(
                ax, LABELS, values, "random initialisation" if kind == "random" else "pretrained", marker="o"
            )
        ax.set_xscale("log")
        ax.set_xticks(LABELS, [f"{n:,}" for n in LABELS])
        ax.set_xlabel("labelled training images")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"Layer-wise pretraining, mean ± std over {len(results['seeds'])} seeds")
        ax.grid(alpha=0.3)
        ax.legend()
