"""Regularisers on 2,000 training images: L2 strength, L1, elastic net, max-norm, weight decay against an L2 term.

    python -m experiments.studies run regularisers [--seeds 0-4]

Each arm of config.py is a `cnnjax repro` study (runs/studies/regularisers/<arm>/). Reported per arm: test
accuracy, the training accuracy of the last steps, the gap between them after every epoch (the overfitting
picture), and from each seed's final kernels their L2 norm and the fraction of weights with |w| < SMALL (what L1 is
expected to raise), and the L2 norm of its biases (what l2_1e-3_biases alone regularises).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from cnnjax import functional as F
from cnnjax.viz import load_run
from experiments.studies import common
from experiments.studies.regularisers.config import ARGS

CONFIG = "experiments/studies/regularisers/config.py"
ARMS = ARGS
L2_ARMS = ("none", "l2_1e-4", "l2_1e-3", "l2_1e-2")
SEEDS = "0-4"
SMALL = 1e-3


def kernel_statistics(workdir: Path) -> dict[str, float]:
    """The L2 norm of a run's final kernels, the fraction of them below SMALL in magnitude, the L2 norm of its
    biases."""
    params = load_run(workdir).variables["params"]
    leaves = list(zip(jax.tree.leaves(params), jax.tree.leaves(F.weight_mask(params))))
    kernels = np.concatenate([np.asarray(w).ravel() for w, is_kernel in leaves if is_kernel])
    biases = np.concatenate([np.asarray(w).ravel() for w, is_kernel in leaves if not is_kernel])
    return {
        "kernel_norm": float(np.linalg.norm(kernels)),
        "small_fraction": float(np.mean(np.abs(kernels) < SMALL)),
        "bias_norm": float(np.linalg.norm(biases)),
    }


def run(seeds: list[int], runs_dir: str) -> dict[str, Any]:
    """Trains the arms (`cnnjax repro`), then reads every seed's curves and kernels."""
    arms = common.train_arms(CONFIG, ARMS, seeds, runs_dir)
    for arm in ARMS:
        workdirs = {str(seed): common.seed_workdir(arms[arm], seed) for seed in seeds}
        arms[arm]["kernels"] = {seed: kernel_statistics(w) for seed, w in workdirs.items()}
        arms[arm]["gap_by_epoch"] = {
            seed: [r["train_accuracy"] - r["test_accuracy"] for r in common.evaluations(w)]
            for seed, w in workdirs.items()
        }
    return {"seeds": seeds, "small": SMALL, "arms": arms}


def write(results: dict[str, Any], out_dir: Path) -> None:
    """The tables into README.md and the figure overfitting.png."""
    arms = results["arms"]

    def values(arm: str, metric: str) -> list[float]:
        return list(arms[arm][metric].values())

    def kernels(arm: str, key: str) -> list[float]:
        return [k[key] for k in arms[arm]["kernels"].values()]

    gap = {arm: [g[-1] for g in arms[arm]["gap_by_epoch"].values()] for arm in ARMS}
    comparisons = [
        *(
            common.comparison(a, "none", values(a, "test_accuracy"), values("none", "test_accuracy"), "test_accuracy")
            for a in ARMS[1:]
        ),
        common.comparison(
            "l2_1e-3_biases",
            "l2_1e-3",
            values("l2_1e-3_biases", "test_accuracy"),
            values("l2_1e-3", "test_accuracy"),
            "test_accuracy",
        ),
        common.comparison(
            "decay_1e-3",
            "l2_1e-3",
            values("decay_1e-3", "test_accuracy"),
            values("l2_1e-3", "test_accuracy"),
            "test_accuracy",
        ),
    ]
    text = "\n\n".join(
        [
            common.summary_table("test accuracy", {arm: values(arm, "test_accuracy") for arm in ARMS}),
            common.summary_table("train - test accuracy, last epoch", gap),
            common.summary_table(
                "L2 norm of the kernels", {arm: kernels(arm, "kernel_norm") for arm in ARMS}, digits=2
            ),
            common.summary_table(
                f"fraction of kernel weights with abs(w) < {results['small']:g}",
                {arm: kernels(arm, "small_fraction") for arm in ARMS},
            ),
            common.summary_table("L2 norm of the biases", {arm: kernels(arm, "bias_norm") for arm in ARMS}, digits=3),
            common.comparison_table(comparisons),
            f"Seeds {', '.join(map(str, results['seeds']))}; {common.environment_line(results['environment'])}. "
            + common.checks_line(arms),
        ]
    )
    common.replace_block(out_dir / "README.md", "results", text)
    _figure(results, out_dir / "overfitting.png")


def _figure(results: dict[str, Any], path: Path) -> None:
    with common.figure(path) as (_, ax):
        for arm in L2_ARMS:
            gaps = np.array(list(results["arms"][arm]["gap_by_epoch"].values()))  # (seeds, epochs)
            epochs = np.arange(1, gaps.shape[1] + 1)
            common.plot_mean_band(
                ax, epochs, gaps, "no regulariser" if arm == "none" else f"L2 {arm.removeprefix('l2_')}"
            )
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xlabel("epoch (2,000 training images)")
        ax.set_ylabel("train accuracy - test accuracy")
        ax.set_title(f"Overfitting against L2 strength, mean ± std over {len(results['seeds'])} seeds")
        ax.grid(alpha=0.3)
        ax.legend()
