"""cnnjax: convolutional networks in JAX.

The package root imports nothing, so `import cnnjax.functional` loads JAX alone (no Flax, no model). `cnnjax.summary`
is imported on first use; the module is callable as its function: `cnnjax.summary(model, (28, 28, 1))`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = ("convert", "functional", "models", "nn", "summary")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"cnnjax.{name}")
    raise AttributeError(f"module 'cnnjax' has no attribute {name!r}")
