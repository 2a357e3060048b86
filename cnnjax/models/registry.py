"""One registry for the zoo: `create(name, **options)` builds a model; variants are presets of one module class."""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any, NamedTuple

import flax.linen as nn


class ModelEntry(NamedTuple):
    module: type[nn.Module]
    input_shape: tuple[int, int, int]  # native (H, W, C)
    preset: dict[str, Any]
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register(name: str, module: type[nn.Module], *, input_shape: tuple[int, int, int], description: str = "", **preset):
    """Registers `name` as `module(**preset)` with its native input shape."""
    if name in _REGISTRY:
        raise ValueError(f"name: model {name!r} is already registered")
    _REGISTRY[name] = ModelEntry(module, tuple(input_shape), preset, description)


def _entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        raise ValueError(f"name: expected one of the registered models {list_models()}, got {name!r}")
    return _REGISTRY[name]


def options(name: str) -> list[str]:
    """The options `create(name, ...)` accepts (the module's fields)."""
    fields = dataclasses.fields(_entry(name).module)
    return sorted(f.name for f in fields if f.init and f.name not in ("parent", "name"))


def create(name: str, *, num_classes: int | None = None, **kwargs) -> nn.Module:
    """Builds a registered model.

    Args:
      name: a name from `list_models()`.
      num_classes: output classes; None keeps the model's native number (1000 for the ImageNet models, 10 for
        LeNet and the CIFAR ResNets). Ignored by models without a classifier (autoencoder, unet take out_channels).
      **kwargs: options of the model (see `options(name)`), e.g. `version='v1'`, `aux_logits=True`.

    Returns:
      A flax.linen.Module; call it as `model.apply(variables, x_nhwc, train=False)`.
    """
    entry = _entry(name)
    valid = options(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"options: {name!r} accepts {valid}, got unknown {unknown}")
    settings = {**entry.preset, **kwargs}
    if num_classes is not None:
        if "num_classes" not in valid:
            raise ValueError(f"num_classes: {name!r} has no classifier; its options are {valid}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes: expected a positive int, got {num_classes!r}")
        settings["num_classes"] = num_classes
    return entry.module(**settings)


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted; `pattern` is a shell-style filter such as 'resnet*'."""
    names = sorted(_REGISTRY)
    return names if pattern is None else [n for n in names if fnmatch.fnmatch(n, pattern)]


def name_of(model: nn.Module) -> str:
    """The registered name whose preset `model` matches most specifically (e.g. 'alexnet_tv' for
    AlexNet(config='tv', ...)), else the class name."""
    matches = [
        (len(entry.preset), name)
        for name, entry in _REGISTRY.items()
        if type(model) is entry.module and all(getattr(model, k, None) == v for k, v in entry.preset.items())
    ]
    return max(matches)[1] if matches else type(model).__name__


def input_shape(name: str) -> tuple[int, int, int]:
    """The model's native input (H, W, C), e.g. (227, 227, 3) for alexnet."""
    return _entry(name).input_shape
