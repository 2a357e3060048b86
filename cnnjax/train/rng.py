"""Named random streams: one root key from the seed, one stream per purpose, one key per step.

`stream(root, 'dropout')` is `fold_in(root, crc32('dropout'))`: a stable hash (not Python's salted `hash`), so
adding a stream never changes another, and the same seed gives the same keys in every process and run.
Inside the step, `step_key(stream, step)` folds in the step number.
"""

from __future__ import annotations

import zlib

import jax
import numpy as np

STREAMS = ("params", "dropout", "augment", "shuffle")


def stable_hash(name: str) -> int:
    """CRC-32 of the UTF-8 name, in [0, 2**32): the same in every Python process."""
    return zlib.crc32(name.encode("utf-8"))


# Seeds are in [0, SEED_LIMIT), a non-negative int32: jax.random.key keeps only the low 32 bits without
# jax_enable_x64 (2**32 + 5 gives the key of 5, -1 that of 2**32 - 1), and an int32 fits every consumer.
SEED_LIMIT = 2**31


def check_seed(seed: int, name: str = "seed") -> int:
    """Returns `seed` when it is an int in [0, 2**31); else raises naming `name` (e.g. '--seed')."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"{name}: expected an int in [0, 2**31), got {seed!r}")
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"{name}: expected a seed in [0, 2**31), got {seed}; use a seed from 0 to {SEED_LIMIT - 1}")
    return seed


def root_key(seed: int) -> jax.Array:
    """The root key (a typed threefry key) of a run; the seed is checked (`check_seed`)."""
    return jax.random.key(check_seed(seed))


def stream(root: jax.Array, name: str) -> jax.Array:
    """The key of the stream `name` ('params', 'dropout', 'augment', 'shuffle', or any other name)."""
    return jax.random.fold_in(root, stable_hash(name))


def step_key(stream_key: jax.Array, step: jax.Array | int) -> jax.Array:
    """The key of one training step in a stream."""
    return jax.random.fold_in(stream_key, step)


def shuffle_seed(root: jax.Array) -> int:
    """An int seed in [0, 2**31) for the data pipeline's order, drawn from the 'shuffle' stream."""
    bits = jax.random.bits(stream(root, "shuffle"), dtype=np.uint32)
    return int(np.asarray(bits)) >> 1
