"""cnnjax: convolutional networks in JAX.

The package root imports nothing, so `import cnnjax.functional` loads JAX alone (no Flax, no model). `cnnjax.summary`
is imported on first use; the module is callable as its function: `cnnjax.summary(model, (28, 28, 1))`. Importing
it sets cnnjax's default XLA flags (`cnnjax.xla_flags`) if no JAX backend has started yet.
"""

from __future__ import annotations

import importlib
from typing import Any

from cnnjax import xla_flags as _xla_flags  # noqa: F401  (sets XLA_FLAGS before JAX starts a backend)

__version__ = "0.1.0"

_LAZY = ("convert", "functional", "models", "nn", "summary")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"cnnjax.{name}")
    raise AttributeError(f"module 'cnnjax' has no attribute {name!r}")
