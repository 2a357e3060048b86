"""Shared pytest setup: JAX on CPU (set before any test imports jax), float32 by default, and no implicit rank
promotion anywhere in the suite: every broadcast in cnnjax is written out.

The suite runs under XLA's own CPU defaults (`CNNJAX_XLA_DEFAULTS=0`, unless set otherwise): programs holding the
oneDNN custom calls of cnnjax's default flags cannot be written to the persistent compilation cache that the
training tests share, which doubled the suite's time. `tests/test_xla_defaults_suite.py` runs the tests whose
numbers depend on the convolution and pooling paths (conv, pool, the training loop's bitwise tests) again, in a
subprocess, under cnnjax's defaults.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("CNNJAX_XLA_DEFAULTS", "0")

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
