"""Softmax cross-entropy against the multiclass hinge (SVM) loss: accuracy and calibration.

    python -m experiments.studies run loss [--seeds 0-4]

Each arm of config.py is a `cnnjax repro` study (runs/studies/loss/<arm>/). Then every seed's network gives its
test-set probabilities (the softmax of its logits; for the hinge arm the softmax of scores that were never trained
to be probabilities, which is what a user of its outputs would read) and their expected calibration error: the
test images in BINS equal-width bins of the top probability, sum over bins of |accuracy - mean confidence| x the
bin's share of images (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cnnjax.viz import load_run
from experiments.studies import common

CONFIG = "experiments/studies/loss/config.py"
ARMS = ("cross_entropy", "cross_entropy_smoothed", "hinge")
SEEDS = "0-4"
BINS = 15


def calibration(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Expected calibration error of (N, classes) probabilities, and per bin of the top probability its mean
    confidence, accuracy and count."""
    confidence, predicted = probabilities.max(-1), probabilities.argmax(-1)
    correct = predicted == labels
    bins = np.minimum((confidence * BINS).astype(int), BINS - 1)
    rows = [
        (float(confidence[bins == b].mean()), float(correct[bins == b].mean()), int((bins == b).sum()))
        for b in range(BINS)
        if (bins == b).any()
    ]
    ece = sum(abs(accuracy - conf) * count for conf, accuracy, count in rows) / len(labels)
    return {"ece": float(ece), "mean_confidence": float(confidence.mean()), "bins": rows}


def run(seeds: list[int], runs_dir: str) -> dict[str, Any]:
    """Trains the arms (`cnnjax repro`), then measures every seed's calibration on the test set."""
    arms = common.train_arms(CONFIG, ARMS, seeds, runs_dir)
    for arm in ARMS:
        measured = {}
        for seed in seeds:
            run = load_run(common.seed_workdir(arms[arm], seed))
            measured[str(seed)] = calibration(run.test_probabilities, run.test_set.labels)
        arms[arm]["calibration"] = measured
    return {"seeds": seeds, "bins": BINS, "arms": arms}


def write(results: dict[str, Any], out_dir: Path) -> None:
    """The tables into README.md and the figure calibration.png."""
    arms = results["arms"]
    values = {arm: {m: list(arms[arm][m].values()) for m in ("test_accuracy", "test_loss")} for arm in ARMS}
    for arm in ARMS:
        values[arm]["test_calibration_error"] = [c["ece"] for c in arms[arm]["calibration"].values()]
        values[arm]["confidence"] = [c["mean_confidence"] for c in arms[arm]["calibration"].values()]
    comparisons = [
        common.comparison(a, b, values[a][metric], values[b][metric], metric)
        for a, b in (("cross_entropy", "hinge"), ("cross_entropy_smoothed", "cross_entropy"))
        for metric in ("test_accuracy", "test_calibration_error")
    ]
    text = "\n\n".join(
        [
            common.summary_table("test accuracy", {arm: values[arm]["test_accuracy"] for arm in ARMS}),
            common.summary_table(
                "expected calibration error", {arm: values[arm]["test_calibration_error"] for arm in ARMS}
            ),
            common.summary_table("mean top probability", {arm: values[arm]["confidence"] for arm in ARMS}),
            common.comparison_table(comparisons),
            f"Seeds {', '.join(map(str, results['seeds']))}; {common.environment_line(results['environment'])}. "
            + common.checks_line(arms),
        ]
    )
    common.replace_block(out_dir / "README.md", "results", text)
    _figure(results, out_dir / "calibration.png")


def _figure(results: dict[str, Any], path: Path) -> None:
    seed = str(results["seeds"][0])
    with common.figure(path, figsize=(5.6, 5.0)) as (_, ax):
        ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
        for arm in ARMS:
            measured = results["arms"][arm]["calibration"][seed]
            confidence, accuracy, _ = zip(*measured["bins"])
            ax.plot(confidence, accuracy, "o-", label=f"{arm} (ECE {measured['ece']:.3f})", markersize=4)
        ax.set_xlabel("top probability (mean in each of 15 bins)")
        ax.set_ylabel("accuracy in the bin")
        ax.set_title(f"Reliability on the Fashion-MNIST test set, LeNet-5, seed {seed}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
