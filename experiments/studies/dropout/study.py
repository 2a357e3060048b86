"""Where dropout goes: none, after the dense layer, after the convolutions, both; and the test-time rule checked.

    python -m experiments.studies run dropout [--seeds 0-4]

Each arm of config.py is a `cnnjax repro` study (runs/studies/dropout/<arm>/). Reported per arm: test accuracy,
the training accuracy of the last steps (with dropout on) and the gap between the two.

The test-time rule: cnnjax's dropout is "inverted" (kept units are scaled by 1/(1-p) in training, nothing changes at
test time), the notes' convention scales by (1-p) at test time instead; both make a unit's expected training output
equal its test output, so they train the same function up to a rescaling of the next layer's weights. What neither
makes exact is the network's output: the test pass (the "weight-scaling rule") approximates the average prediction
over dropout masks. For every seed of the `fc` and `both` arms this measures that approximation: the test accuracy
of the Monte-Carlo average of MC_SAMPLES dropout passes against that of the single test pass, and how often the two
predict the same class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from cnnjax.viz import load_run
from experiments.studies import common

CONFIG = "experiments/studies/dropout/config.py"
ARMS = ("none", "fc", "conv", "both")
SEEDS = "0-4"
MC_SAMPLES = 50
MC_IMAGES = 2000  # the first test images, for the Monte-Carlo average


def weight_scaling_check(workdir: Path, seed: int) -> dict[str, float]:
    """Test pass against the mean softmax of MC_SAMPLES dropout passes on the first MC_IMAGES test images."""
    run = load_run(workdir)
    x, labels = run.inputs(run.test_set.images[:MC_IMAGES]), run.test_set.labels[:MC_IMAGES]
    model, variables = run.model, run.variables

    @jax.jit
    def sampled(key):
        return jax.nn.softmax(model.apply(variables, x, train=True, rngs={"dropout": key}))

    keys = jax.random.split(jax.random.key(seed), MC_SAMPLES)
    average = np.mean([np.asarray(sampled(key)) for key in keys], axis=0)
    single = np.asarray(jax.nn.softmax(model.apply(variables, x, train=False)))
    return {
        "test_pass_accuracy": float((single.argmax(-1) == labels).mean()),
        "mc_average_accuracy": float((average.argmax(-1) == labels).mean()),
        "same_class": float((single.argmax(-1) == average.argmax(-1)).mean()),
    }


def run(seeds: list[int], runs_dir: str) -> dict[str, Any]:
    """Trains the arms (`cnnjax repro`), then checks the test-time rule on the arms with dropout on the dense layer."""
    arms = common.train_arms(CONFIG, ARMS, seeds, runs_dir)
    for arm in ("fc", "both"):
        arms[arm]["weight_scaling"] = {
            str(seed): weight_scaling_check(common.seed_workdir(arms[arm], seed), seed) for seed in seeds
        }
    curves = {
        arm: {str(seed): common.evaluations(common.seed_workdir(arms[arm], seed)) for seed in seeds} for arm in ARMS
    }
    for arm in ARMS:
        arms[arm]["test_accuracy_by_epoch"] = {
            seed: [r["test_accuracy"] for r in records] for seed, records in curves[arm].items()
        }
    return {"seeds": seeds, "mc_samples": MC_SAMPLES, "mc_images": MC_IMAGES, "arms": arms}


def write(results: dict[str, Any], out_dir: Path) -> None:
    """The tables into README.md and the figure dropout.png."""
    arms = results["arms"]

    def values(arm: str, metric: str) -> list[float]:
        return list(arms[arm][metric].values())

    gap = {arm: [r - t for r, t in zip(values(arm, "train_accuracy"), values(arm, "test_accuracy"))] for arm in ARMS}
    checks = {
        f"{arm}: {key}": [c[key] for c in arms[arm]["weight_scaling"].values()]
        for arm in ("fc", "both")
        for key in ("test_pass_accuracy", "mc_average_accuracy", "same_class")
    }
    comparisons = [
        common.comparison(a, "none", values(a, "test_accuracy"), values("none", "test_accuracy"), "test_accuracy")
        for a in ("fc", "conv", "both")
    ]
    text = "\n\n".join(
        [
            common.summary_table("test accuracy", {arm: values(arm, "test_accuracy") for arm in ARMS}),
            common.summary_table(
                "train accuracy (last steps, dropout on)", {a: values(a, "train_accuracy") for a in ARMS}
            ),
            common.summary_table("train accuracy (dropout on) - test accuracy", gap),
            common.comparison_table(comparisons),
            f"The test-time rule, on the first {results['mc_images']} test images ({results['mc_samples']} "
            "dropout passes averaged):",
            common.summary_table("weight scaling against the Monte-Carlo average", checks),
            f"Seeds {', '.join(map(str, results['seeds']))}; {common.environment_line(results['environment'])}. "
            + common.checks_line(arms),
        ]
    )
    common.replace_block(out_dir / "README.md", "results", text)
    _figure(results, out_dir / "dropout.png")


def _figure(results: dict[str, Any], path: Path) -> None:
    with common.figure(path) as (_, ax):
        for arm in ARMS:
            curves = np.array(list(results["arms"][arm]["test_accuracy_by_epoch"].values()))  # (seeds, epochs)
            epochs = np.arange(1, curves.shape[1] + 1)
            common.plot_mean_band(ax, epochs, curves, arm)
        ax.set_xlabel("epoch (3,000 training images)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"Dropout placement: test accuracy, mean ± std over {len(results['seeds'])} seeds")
        ax.grid(alpha=0.3)
        ax.legend(title="dropout")
