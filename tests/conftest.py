"""Shared pytest setup: JAX on CPU (set before any test imports jax), float32 by default, and no implicit rank
promotion anywhere in the suite: every broadcast in cnnjax is written out."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
