"""Shared helpers of the model tests.

jax.random's default threefry kernels take seconds each to compile on this CPU, and a model has dozens: the tests
that run a model draw its parameters and inputs with NumPy (same code paths; the initialisers' shapes are checked
by the parameter-count tests and their values are jax.nn.initializers').
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import models


def numpy_variables(model, x, seed: int = 0):
    """Variables of the model's shapes drawn with NumPy: kernels N(0, 2 / fan_in), BN scales and variances 1,
    everything else (biases, offsets, means) 0."""
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        name = path[-1].key
        if name == "kernel":
            return jnp.asarray(rng.normal(0.0, math.sqrt(2.0 / math.prod(leaf.shape[:-1])), leaf.shape), jnp.float32)
        return jnp.full(leaf.shape, 1.0 if name in ("scale", "var") else 0.0, jnp.float32)

    return jax.tree_util.tree_map_with_path(fill, jax.eval_shape(model.init, jax.random.key(0), x))


def intermediates(name: str, **options) -> dict:
    """The registered model's captured intermediates at its native input (shapes only, nothing computed)."""
    model = models.create(name, **options)
    x = jax.ShapeDtypeStruct((1, *models.input_shape(name)), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    _, state = jax.eval_shape(
        lambda v, x: model.apply(v, x, capture_intermediates=True, mutable=["intermediates"]), variables, x
    )
    return state["intermediates"]
