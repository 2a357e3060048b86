"""The model zoo: `create(name, **options)`, `parse_option(name, key, text)`, `list_models()`, `input_shape(name)`.

Each family lives in its own file and registers its variants as presets of one module.
"""

from cnnjax.models import (
    alexnet,  # noqa: F401
    autoencoder,  # noqa: F401
    googlenet,  # noqa: F401
    lenet,  # noqa: F401  (registers the family)
    resnet,  # noqa: F401
    simple,  # noqa: F401
    unet,  # noqa: F401
    vgg,  # noqa: F401
)
from cnnjax.models.registry import create, input_shape, list_models, options, parse_option, register, task

__all__ = ["create", "input_shape", "list_models", "options", "parse_option", "register", "task"]
