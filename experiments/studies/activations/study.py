"""Activations and unstable gradients: sigmoid, tanh and ReLU in a deeper plain CNN, with per-layer gradient norms.

    python -m experiments.studies run activations [--seeds 0-4]

Each arm of config.py is a `cnnjax repro` study (runs/studies/activations/<arm>/). For every seed the gradient of
the cross-entropy on the first PROBE_IMAGES test images is taken with respect to every kernel, twice: at a fresh
initialisation of the same network (`model.init` with the seed's key: a draw from the initialisation the training
started from) and with the trained parameters. Reported per layer: the Frobenius norm of the kernel's gradient
divided by that of the kernel itself (the relative size of a step), so that layers of different sizes compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import functional as F
from cnnjax.viz import load_run
from experiments.studies import common

CONFIG = "experiments/studies/activations/config.py"
ARMS = ("sigmoid", "tanh", "relu")
SEEDS = "0-4"
PROBE_IMAGES = 512
LAYERS = ("conv1", "conv2", "conv3", "conv4", "fc1", "fc2", "fc3", "fc4")


def gradient_ratios(workdir: Path, seed: int) -> dict[str, dict[str, float]]:
    """{'init' | 'trained': {layer: ||dL/dW|| / ||W||}} on the first PROBE_IMAGES test images."""
    run = load_run(workdir)
    x = run.inputs(run.test_set.images[:PROBE_IMAGES])
    labels = jnp.asarray(run.test_set.labels[:PROBE_IMAGES])
    model = run.model

    @jax.jit
    def grads(params):
        loss = lambda p: F.softmax_cross_entropy(model.apply({"params": p}, x, train=False), labels).mean()
        return jax.grad(loss)(params)

    measured = {}
    for name, params in (
        ("init", model.init(jax.random.key(seed), x[:1])["params"]),
        ("trained", run.variables["params"]),
    ):
        g = grads(params)
        measured[name] = {
            layer: float(jnp.linalg.norm(g[layer]["kernel"]) / jnp.linalg.norm(params[layer]["kernel"]))
            for layer in LAYERS
        }
    return measured


def run(seeds: list[int], runs_dir: str) -> dict[str, Any]:
    """Trains the arms (`cnnjax repro`), then measures every seed's per-layer gradients."""
    arms = common.train_arms(CONFIG, ARMS, seeds, runs_dir)
    for arm in ARMS:
        arms[arm]["gradients"] = {
            str(seed): gradient_ratios(common.seed_workdir(arms[arm], seed), seed) for seed in seeds
        }
    return {"seeds": seeds, "probe_images": PROBE_IMAGES, "layers": list(LAYERS), "arms": arms}


def _ratios(results: dict[str, Any], arm: str, when: str, layer: str) -> list[float]:
    return [g[when][layer] for g in results["arms"][arm]["gradients"].values()]


def write(results: dict[str, Any], out_dir: Path) -> None:
    """The tables into README.md and the figure gradients.png."""
    arms = results["arms"]
    test = {arm: list(arms[arm]["test_accuracy"].values()) for arm in ARMS}

    def spread(arm: str, when: str) -> list[float]:  # first conv layer's ratio over the last dense layer's, per seed
        first, last = _ratios(results, arm, when, "conv1"), _ratios(results, arm, when, "fc4")
        return [a / b for a, b in zip(first, last)]

    comparisons = [
        common.comparison("relu", arm, test["relu"], test[arm], "test_accuracy") for arm in ("sigmoid", "tanh")
    ]
    tables = [
        common.summary_table("test accuracy", test),
        *(
            common.summary_table(
                f"norm(dL/dW) / norm(W) {'at initialisation' if when == 'init' else 'after training'}, {arm}",
                {layer: _ratios(results, arm, when, layer) for layer in results["layers"]},
                digits=3,
                significant=True,
            )
            for when in ("init", "trained")
            for arm in ARMS
        ),
        common.summary_table(
            "conv1's ratio / fc4's ratio (1: the first layer learns as fast as the last)",
            {f"{arm}, {when}": spread(arm, when) for when in ("init", "trained") for arm in ARMS},
            digits=3,
            significant=True,
        ),
        common.comparison_table(comparisons),
        f"Seeds {', '.join(map(str, results['seeds']))}; gradients on the first {results['probe_images']} test "
        f"images; {common.environment_line(results['environment'])}. " + common.checks_line(arms),
    ]
    common.replace_block(out_dir / "README.md", "results", "\n\n".join(tables))
    _figure(results, out_dir / "gradients.png")


def _figure(results: dict[str, Any], path: Path) -> None:
    layers = results["layers"]
    with common.figure(path, ncols=2, figsize=(11.0, 4.2), sharey=True) as (fig, axes):
        for ax, when in zip(axes, ("init", "trained")):
            for arm in ARMS:
                values = np.array(
                    [[g[when][layer] for layer in layers] for g in results["arms"][arm]["gradients"].values()]
                )
                ax.plot(range(len(layers)), values.mean(0), marker="o", label=arm)
                ax.fill_between(range(len(layers)), values.min(0), values.max(0), alpha=0.2)
            ax.set_yscale("log")
            ax.set_xticks(range(len(layers)), layers)
            ax.axvline(3.5, color="grey", linestyle=":")
            ax.set_title(f"{'at initialisation' if when == 'init' else 'after training'}")
            ax.set_xlabel("layer (input side left; conv | dense)")
            ax.grid(alpha=0.3, which="both")
            ax.legend()
        axes[0].set_ylabel("||dL/dW|| / ||W|| (mean; band: min-max over seeds)")
        fig.suptitle("Gradient size per layer in an 8-layer plain CNN")
