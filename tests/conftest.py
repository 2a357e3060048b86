"""Shared pytest setup: JAX on CPU, the "fast" backend profile that `cnnjax train` runs (both set before any test
imports jax), float32 by default, and no implicit rank promotion anywhere in the suite: every broadcast in cnnjax is
written out.

A cost of the "fast" profile: programs holding its oneDNN custom calls cannot be written to the persistent
compilation cache that the training tests share (tests/train/conftest.py), so they compile in every process.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from cnnjax import backend

backend.configure("fast")
os.environ.pop(backend.ENV_PROFILE, None)  # the `cnnjax train` subprocesses of the tests run "fast" too

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
