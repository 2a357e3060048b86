"""Shared pytest setup: JAX on CPU (set before any test imports jax), float32 by default."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
