"""Dropout with an explicit key."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def dropout(key: jax.Array | None, x: jax.Array, rate: float, *, train: bool) -> jax.Array:
    """Inverted dropout: in training each unit is zeroed with probability `rate` and survivors are scaled by
    1 / (1 - rate), so evaluation is the identity. The mask is a pure function of `key`.

    Args:
      key: a PRNG key (may be None when not training or when rate == 0).
      x: any shape. Returns the same shape.
      rate: the drop probability, in [0, 1).
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate: expected a drop probability in [0, 1), got {rate!r}")
    if not train or rate == 0.0:
        return x
    if key is None:
        raise ValueError("key: expected a PRNG key for dropout in training, got None")
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))
