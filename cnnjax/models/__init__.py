"""The model zoo: `create(name, **options)`, `list_models()`, `input_shape(name)`.

Each family lives in its own file and registers its variants as presets of one module.
"""

from cnnjax.models import lenet  # noqa: F401  (registers the family)
from cnnjax.models.registry import create, input_shape, list_models, options, register

__all__ = ["create", "input_shape", "list_models", "options", "register"]
