"""XOR: a single-layer perceptron cannot represent it; one hidden layer can.

    python -m experiments.studies run xor [--seeds 0-9]

The four points of {0, 1}^2, labelled x1 XOR x2, trained full-batch: a network with no hidden layer (a
single-layer perceptron: two logits linear in x) and networks with one hidden layer of 1, 2, 3, 4 or 8 tanh units,
each from `SEEDS` initialisations (`cnnjax.nn` layers, LeCun-normal kernels, zero biases), softmax cross-entropy,
Adam at lr 0.05 for 2,000 steps. Measured per width and seed: the accuracy on the four points and the final loss;
the figure draws each width's decision boundary for seed 0 and, per width, the fraction of seeds that solve XOR.
A few seconds on a CPU: no checkpoints, the results are recomputed by the same command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax import functional as F
from cnnjax import nn as cnn
from experiments.studies import common

POINTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
LABELS = np.array([0, 1, 1, 0], np.int32)  # x1 XOR x2
WIDTHS = (0, 1, 2, 3, 4, 8)  # hidden units; 0: no hidden layer
STEPS, LR = 2000, 0.05
SEEDS = "0-9"


def network(width: int) -> cnn.Sequential:
    """(N, 2) -> (N, 2) logits: Dense(2) when `width` is 0, else Dense(width) - tanh - Dense(2)."""
    hidden = [cnn.Dense(width), jnp.tanh] if width else []
    return cnn.Sequential([*hidden, cnn.Dense(2)])


def train(width: int, seed: int) -> tuple[Any, float, float]:
    """Trains `network(width)` from `jax.random.key(seed)`; returns (variables, accuracy, final loss)."""
    model, x, y = network(width), jnp.asarray(POINTS), jnp.asarray(LABELS)
    variables = model.init(jax.random.key(seed), x)
    optimizer = optax.adam(LR)

    def loss_fn(variables):
        return F.softmax_cross_entropy(model.apply(variables, x), y).mean()

    def step(carry, _):
        variables, opt_state = carry
        loss, grads = jax.value_and_grad(loss_fn)(variables)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (optax.apply_updates(variables, updates), opt_state), loss

    (variables, _), _ = jax.jit(lambda v: jax.lax.scan(step, (v, optimizer.init(v)), None, length=STEPS))(variables)
    logits = model.apply(variables, x)
    accuracy = float((logits.argmax(-1) == y).mean())
    return variables, accuracy, float(loss_fn(variables))


def run(seeds: list[int], runs_dir: str) -> dict[str, Any]:
    """Every width with every seed (`runs_dir` is not needed: nothing is saved between runs)."""
    del runs_dir
    results: dict[str, Any] = {"seeds": seeds, "steps": STEPS, "lr": LR, "arms": {}}
    for width in WIDTHS:
        arm = {"accuracy": [], "loss": []}
        for seed in seeds:
            _, accuracy, loss = train(width, seed)
            arm["accuracy"].append(accuracy)
            arm["loss"].append(loss)
        results["arms"][str(width)] = arm
    return results


def _name(width: str) -> str:
    return "no hidden layer" if width == "0" else f"{width} hidden"


def write(results: dict[str, Any], out_dir: Path) -> None:
    """The tables into README.md and the figure boundary.png."""
    arms = results["arms"]
    accuracy = {_name(w): arm["accuracy"] for w, arm in arms.items()}
    solved = {_name(w): [float(a == 1.0) for a in arm["accuracy"]] for w, arm in arms.items()}
    comparisons = [
        common.comparison(_name(w), _name("0"), arms[w]["accuracy"], arms["0"]["accuracy"], "accuracy")
        for w in ("2", "8")
    ]
    text = "\n\n".join(
        [
            common.summary_table("accuracy on the 4 points", accuracy, digits=3),
            common.summary_table("fraction of seeds that solve XOR", solved, digits=2),
            common.comparison_table(comparisons, digits=3),
            f"Seeds {results['seeds'][0]}-{results['seeds'][-1]}; {common.environment_line(results['environment'])}.",
        ]
    )
    common.replace_block(out_dir / "README.md", "results", text)
    _figure(results, out_dir / "boundary.png")


def _figure(results: dict[str, Any], path: Path) -> None:
    grid = np.linspace(-0.5, 1.5, 101, dtype=np.float32)
    xx, yy = np.meshgrid(grid, grid)
    flat = jnp.asarray(np.stack([xx.ravel(), yy.ravel()], axis=1))
    seed = results["seeds"][0]
    with common.figure(path, ncols=len(WIDTHS), figsize=(2.9 * len(WIDTHS), 3.4)) as (fig, axes):
        for ax, width in zip(axes, WIDTHS):
            variables, accuracy, _ = train(width, seed)
            p1 = jax.nn.softmax(network(width).apply(variables, flat))[:, 1].reshape(xx.shape)
            ax.contourf(xx, yy, p1, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8)
            ax.contour(xx, yy, p1, levels=[0.5], colors="k", linewidths=1.5)
            ax.scatter(POINTS[:, 0], POINTS[:, 1], c=LABELS, cmap="RdBu_r", edgecolors="k", s=80, vmin=0, vmax=1)
            rate = np.mean(np.asarray(results["arms"][str(width)]["accuracy"]) == 1.0)
            ax.set_title(
                f"{_name(str(width))}\nseed {seed}: accuracy {accuracy:.2f}\nsolved by {rate:.0%} of seeds", fontsize=9
            )
            ax.set_xticks([0, 1])
            ax.set_yticks([0, 1])
            ax.set_aspect("equal")
        fig.suptitle("XOR: P(class 1) and the decision boundary (black) of each hidden width's first-seed network")
