"""Pooling and translation: max, average and L2 pooling against strided convolutions; invariance and
equivariance measured.

    python -m experiments.studies run pooling [--seeds 0-4]

Each arm of config.py is a `cnnjax repro` study (runs/studies/pooling/<arm>/). Then, for every seed's network:

- invariance of the classifier: test accuracy with the test images shifted by 1-4 pixels (right, left, down, up;
  zero-filled; `common.shift_accuracies`);
- invariance of the features: on the first PROBE_IMAGES test images, the relative change of the features the dense
  head reads (`flatten`) when the image moves by s pixels, ||f(shift(x)) - f(x)|| / ||f(x)||;
- equivariance of the first convolution: ||conv1(shift_2(x)) - shift(conv1(x))|| / ||conv1(x)|| over the map's
  interior (away from the zero-filled border), where the map is shifted by 2 pixels, or by 1 when the convolution
  has stride 2. A convolution is equivariant by construction, so this is ~0 up to rounding for every arm: a check
  of the claim rather than a finding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from cnnjax.viz import load_run
from experiments.studies import common

CONFIG = "experiments/studies/pooling/config.py"
ARMS = ("max", "avg", "l2", "stride")
SEEDS = "0-4"
PROBE_IMAGES = 500
BORDER = 3  # map pixels left out at each side when comparing shifted maps


def _intermediates(run, images: np.ndarray) -> dict[str, np.ndarray]:
    _, state = run.model.apply(
        run.variables, run.inputs(images), train=False, capture_intermediates=True, mutable=["intermediates"]
    )
    return {
        name: np.asarray(value["__call__"][0]) for name, value in state["intermediates"].items() if name != "__call__"
    }


def representation_measures(workdir: Path) -> dict[str, Any]:
    """The feature invariance for each shift of `common.SHIFTS` and the first convolution's equivariance error."""
    run = load_run(workdir)
    images = run.test_set.images[:PROBE_IMAGES]
    base = _intermediates(run, images)
    features = base["flatten"]
    invariance = []
    for s in common.SHIFTS:
        moved = _intermediates(run, common.shifted(images, 0, s))["flatten"]
        invariance.append(float(np.linalg.norm(moved - features) / np.linalg.norm(features)))
    conv = base["conv1"]
    stride = images.shape[2] // conv.shape[2]
    moved = _intermediates(run, common.shifted(images, 0, 2))["conv1"]
    shifted_map = common.shifted(conv, 0, 2 // stride)
    inner = (slice(None), slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    equivariance = float(np.linalg.norm((moved - shifted_map)[inner]) / np.linalg.norm(conv[inner]))
    return {"feature_change": invariance, "conv1_equivariance_error": equivariance}


def run(seeds: list[int], runs_dir: str) -> dict[str, Any]:
    """Trains the arms (`cnnjax repro`), then measures each seed's invariance and equivariance."""
    arms = common.train_arms(CONFIG, ARMS, seeds, runs_dir)
    for arm in ARMS:
        workdirs = {str(seed): common.seed_workdir(arms[arm], seed) for seed in seeds}
        arms[arm]["shift_accuracy"] = {seed: common.shift_accuracies(w) for seed, w in workdirs.items()}
        arms[arm]["representation"] = {seed: jax.device_get(representation_measures(w)) for seed, w in workdirs.items()}
    return {"seeds": seeds, "shifts": list(common.SHIFTS), "probe_images": PROBE_IMAGES, "arms": arms}


def write(results: dict[str, Any], out_dir: Path) -> None:
    """The tables into README.md and the figure pooling.png."""
    arms = results["arms"]
    shifts = results["shifts"]

    def at(arm: str, key: str, i: int) -> list[float]:
        if key == "shift_accuracy":
            return [values[i] for values in arms[arm][key].values()]
        return [r["feature_change"][i] for r in arms[arm]["representation"].values()]

    test = {arm: list(arms[arm]["test_accuracy"].values()) for arm in ARMS}
    shifted_4 = {arm: at(arm, "shift_accuracy", shifts.index(4)) for arm in ARMS}
    change_1 = {arm: at(arm, "feature_change", shifts.index(1)) for arm in ARMS}
    change_4 = {arm: at(arm, "feature_change", shifts.index(4)) for arm in ARMS}
    equivariance = {arm: [r["conv1_equivariance_error"] for r in arms[arm]["representation"].values()] for arm in ARMS}
    comparisons = [common.comparison("max", arm, test["max"], test[arm], "test_accuracy") for arm in ARMS[1:]] + [
        common.comparison("max", arm, shifted_4["max"], shifted_4[arm], "accuracy_shift_4") for arm in ARMS[1:]
    ]
    text = "\n\n".join(
        [
            common.summary_table("test accuracy", test),
            common.summary_table("test accuracy, images shifted by 4 pixels", shifted_4),
            common.summary_table("feature change, 1-pixel shift", change_1, digits=3),
            common.summary_table("feature change, 4-pixel shift", change_4, digits=3),
            common.summary_table("conv1 equivariance error (2-pixel shift)", equivariance, digits=6),
            common.comparison_table(comparisons),
            f"Seeds {', '.join(map(str, results['seeds']))}; feature measures on the first "
            f"{results['probe_images']} test images; {common.environment_line(results['environment'])}. "
            + common.checks_line(arms),
        ]
    )
    common.replace_block(out_dir / "README.md", "results", text)
    _figure(results, out_dir / "pooling.png")


def _figure(results: dict[str, Any], path: Path) -> None:
    shifts = results["shifts"]
    with common.figure(path, ncols=2, figsize=(11.0, 4.2)) as (fig, (ax_acc, ax_feat)):
        for arm in ARMS:
            r = results["arms"][arm]
            for ax, values in (
                (ax_acc, np.array(list(r["shift_accuracy"].values()))),
                (ax_feat, np.array([m["feature_change"] for m in r["representation"].values()])),
            ):
                common.plot_mean_band(ax, shifts, values, arm, marker="o")
        ax_acc.set_ylabel("test accuracy")
        ax_feat.set_ylabel("||f(shifted) - f|| / ||f||, features the dense head reads")
        for ax in (ax_acc, ax_feat):
            ax.set_xlabel("shift of the test images (pixels)")
            ax.set_xticks(shifts)
            ax.grid(alpha=0.3)
            ax.legend(title="pooling")
        fig.suptitle(f"Pooling and translation, mean ± std over {len(results['seeds'])} seeds")
