"""Activation functions (elementwise unless stated)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from cnnjax.functional.checks import named_op


@named_op("relu", arrays=("x",))
def relu(x: jax.Array) -> jax.Array:
    """max(x, 0)."""
    return jax.nn.relu(x)


@named_op("tanh", arrays=("x",))
def tanh(x: jax.Array) -> jax.Array:
    """Hyperbolic tangent."""
    return jnp.tanh(x)


@named_op("scaled_tanh", arrays=("x",))
def scaled_tanh(x: jax.Array) -> jax.Array:
    """LeCun et al. 1998's squashing function, 1.7159 tanh(2x / 3)."""
    return 1.7159 * jnp.tanh(2.0 * x / 3.0)


@named_op("sigmoid", arrays=("x",))
def sigmoid(x: jax.Array) -> jax.Array:
    """1 / (1 + exp(-x))."""
    return jax.nn.sigmoid(x)


@named_op("step", arrays=("x",))
def step(x: jax.Array) -> jax.Array:
    """The perceptron's threshold: 1 where x > 0, else 0 (its gradient is zero everywhere)."""
    return (x > 0).astype(jnp.result_type(x, jnp.float32))


@named_op("softmax", arrays=("x",))
def softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    """exp(x) / sum(exp(x)) along `axis`, computed stably."""
    return jax.nn.softmax(x, axis=axis)


ACTIVATIONS = {"relu": relu, "tanh": tanh, "scaled_tanh": scaled_tanh, "sigmoid": sigmoid, "step": step}


def get_activation(name: str):
    """Looks an activation up by name."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]
