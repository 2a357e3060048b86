"""Dropout with an explicit key."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from cnnjax.functional.checks import as_bool, as_real, named_op


def _check_key(key: object) -> None:
    """One key: a typed key from `jax.random.key(seed)` (shape ()), or a legacy raw `jax.random.PRNGKey` (uint32
    (2,))."""
    expected = "key: expected one PRNG key from jax.random.key(seed) (or a legacy jax.random.PRNGKey(seed))"
    if not isinstance(key, jax.Array):
        raise TypeError(f"{expected}, got {type(key).__name__} {key!r}")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"{expected}, got an array of keys of shape {key.shape}; split or index it first")
    elif key.dtype != jnp.uint32 or key.shape != (2,):
        raise TypeError(f"{expected}, got an array of dtype {key.dtype} and shape {key.shape}")


@named_op("dropout", arrays=("x",))
def dropout(key: jax.Array | None, x: jax.Array, rate: float, *, train: bool) -> jax.Array:
    """Inverted dropout: in training each unit is zeroed with probability `rate` and survivors are scaled by
    1 / (1 - rate), so evaluation is the identity. The mask is a pure function of `key`.

    Args:
      key: a PRNG key (may be None when not training or when rate == 0).
      x: any shape. Returns the same shape.
      rate: the drop probability, in [0, 1): a Python or NumPy float or a 0-d array (concrete, not traced).
      train: a bool (the str 'no' is refused, not taken as True).
    """
    train = as_bool(train, "train")
    rate = as_real(rate, "rate", "a drop probability in [0, 1)")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate: expected a drop probability in [0, 1), got {rate!r}")
    if not train or rate == 0.0:
        return x
    if key is None:
        raise ValueError("key: expected a PRNG key for dropout in training, got None")
    _check_key(key)
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))
