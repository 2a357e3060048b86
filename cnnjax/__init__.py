"""cnnjax: convolutional networks in JAX.

The package root imports nothing, so `import cnnjax.functional` loads JAX alone (no Flax, no model), and importing
cnnjax changes nothing in the process (no environment variable, no JAX setting). `cnnjax.summary` is imported on
first use; the module is callable as its function: `cnnjax.summary(model, (28, 28, 1))`. cnnjax's CPU choices (XLA
flags, CPU formulations) apply only after `cnnjax.backend.configure()`, called first thing in a script.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = ("backend", "convert", "functional", "models", "nn", "summary")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"cnnjax.{name}")
    raise AttributeError(f"module 'cnnjax' has no attribute {name!r}")
