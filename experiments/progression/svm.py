"""A linear multiclass SVM trained on the multiclass hinge loss with optax.

    params = train_svm(key, x, y, SvmSpec(C=1.0), num_classes=10)     # x: (N, D) float32, y: (N,) int
    predictions = predict(params, x)

The objective is the primal SVM's, ½‖W‖² + C Σ_i L_i with L_i = Σ_{j≠y_i} max(0, s_j - s_{y_i} + 1)
(`cnnjax.functional.multiclass_hinge`, Weston & Watkins 1999) and s = x W + b (the bias is not
regularised). It is minimised divided by C N: the mean hinge loss plus ‖W‖² / (2 C N), by minibatch Adam with a
cosine-decayed learning rate, one `lax.scan` per epoch under `jit`. The key fixes the initialisation and the order of
the minibatches, so a seed gives the same bits on the same machine.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax import functional as F

Params = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class SvmSpec:
    """Training settings.

    Attributes:
      C: the SVM's C (larger: less regularisation).
      epochs: passes over the training set.
      batch_size: examples per step (the last partial minibatch of an epoch is dropped).
      lr: Adam's peak learning rate, decayed to 0 by a cosine.
      init_scale: std of the Gaussian initial weights.
    """

    C: float = 1.0
    epochs: int = 20
    batch_size: int = 500
    lr: float = 1e-3
    init_scale: float = 1e-3

    def __post_init__(self):
        if not self.C > 0:
            raise ValueError(f"C: expected a positive number, got {self.C!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs: expected a positive int, got {self.epochs!r}")


def objective(params: Params, x: jax.Array, y: jax.Array, reg: float) -> jax.Array:
    """Mean multiclass hinge loss + reg * ½‖W‖² (reg = 1 / (C N))."""
    scores = x @ params["w"] + params["b"][None, :]
    return jnp.mean(F.multiclass_hinge(scores, y)) + 0.5 * reg * jnp.sum(params["w"] ** 2)


def predict(params: Params, x: jax.Array | np.ndarray) -> np.ndarray:
    """Class ids of the highest scores: (N, D) -> (N,)."""
    return np.asarray(jnp.argmax(jnp.asarray(x) @ params["w"] + params["b"][None, :], axis=-1))


def _optimizer(lr: float, total_steps: int) -> optax.GradientTransformation:
    return optax.adam(optax.cosine_decay_schedule(lr, total_steps))


@functools.partial(jax.jit, static_argnames=("batch", "lr", "total_steps"))
def _epoch(params, opt_state, x, y, reg, key, *, batch: int, lr: float, total_steps: int):
    """One pass over (x, y) in the minibatch order drawn from `key` (the last partial minibatch dropped)."""
    optimizer = _optimizer(lr, total_steps)
    steps = x.shape[0] // batch
    order = jax.random.permutation(key, x.shape[0])[: steps * batch].reshape(steps, batch)

    def step(carry, idx):
        params, opt_state = carry
        grads = jax.grad(objective)(params, x[idx], y[idx], reg)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    (params, opt_state), _ = jax.lax.scan(step, (params, opt_state), order)
    return params, opt_state, objective(params, x, y, reg)


def train_svm(
    key: jax.Array, x: np.ndarray, y: np.ndarray, spec: SvmSpec, num_classes: int
) -> tuple[Params, dict[str, Any]]:
    """Fits the SVM on (x, y). Returns the parameters {'w': (D, K), 'b': (K,)} and a log {'objective': per epoch}."""
    n, d = x.shape
    batch = min(spec.batch_size, n)
    total_steps = spec.epochs * (n // batch)
    reg = jnp.float32(1.0 / (spec.C * n))  # traced: settings that differ only in C share one compilation
    init_key, order_key = jax.random.split(key)
    params = {"w": spec.init_scale * jax.random.normal(init_key, (d, num_classes)), "b": jnp.zeros(num_classes)}
    opt_state = _optimizer(spec.lr, total_steps).init(params)
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)
    objectives = []
    for e in range(spec.epochs):
        params, opt_state, value = _epoch(
            params,
            opt_state,
            x,
            y,
            reg,
            jax.random.fold_in(order_key, e),
            batch=batch,
            lr=spec.lr,
            total_steps=total_steps,
        )
        objectives.append(float(value))
    return params, {"objective": objectives}
