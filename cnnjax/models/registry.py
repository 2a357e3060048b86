"""One registry for the zoo: `create(name, **options)` builds a model; variants are presets of one module class.

Options are checked against the types the module declares for them (`cnnjax.models.options`), in `create` and in
`parse_option`, which reads them from command-line text.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn

from cnnjax.models import options as optionlib
from cnnjax.models.outputs import CLASSIFIER


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


def _check_known(name: str, keys: Sequence[str]) -> None:
    """Refuses keys that are not options of the model, listing its options."""
    valid = options(name)
    unknown = sorted(set(keys) - set(valid))
    if unknown:
        raise ValueError(f"options: {name!r} accepts {valid}, got unknown {unknown}")


def create(name: str, *, num_classes: int | None = None, **kwargs) -> nn.Module:
    """Builds a registered model.

    Args:
      name: a name from `list_models()`.
      num_classes: output classes; None keeps the model's native number (1000 for the ImageNet models, 10 for
        LeNet and the CIFAR ResNets). Models without a classifier (autoencoder, unet take out_channels) refuse it.
      **kwargs: options of the model (see `options(name)`), e.g. `version='v1'`, `aux_logits=True`, each of the
        type the model declares for it (a bool, not the str 'false': `parse_option` reads command-line text).

    Returns:
      A flax.linen.Module; call it as `model.apply(variables, x_nhwc, train=False)`.

    Raises:
      ValueError: an unknown option, or a value outside the option's bounds (num_classes=0, features=()).
      TypeError: a value not of the option's declared type (batch_norm='yes', num_classes=True).
    """
    entry = _entry(name)
    _check_known(name, list(kwargs))
    if num_classes is not None:
        if "num_classes" not in options(name):
            raise ValueError(f"num_classes: {name!r} has no classifier; its options are {options(name)}")
        kwargs["num_classes"] = num_classes
    checked = {key: optionlib.check(name, entry.module, key, value) for key, value in kwargs.items()}
    return entry.module(**{**entry.preset, **checked})


def parse_option(name: str, key: str, text: str) -> Any:
    """The value of the option `key` of model `name` written as command-line text, read by its declared type: a
    bool from true/false, yes/no or 1/0 (any case), an int, a float, None from 'none', a tuple from a Python
    literal ('(16, 32)' or '16,32'), a str as it is. e.g. parse_option('vgg11', 'batch_norm', 'false') is False.

    Raises:
      ValueError: an unknown option, text that is not of the option's type, or a value outside its bounds.
    """
    _check_known(name, [key])
    return optionlib.parse(name, _entry(name).module, key, text)


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted; `pattern` is a shell-style filter such as 'resnet*'."""
    names = sorted(_REGISTRY)
    if pattern is not None and not isinstance(pattern, str):
        raise TypeError(
            f"pattern: expected a shell-style str such as 'resnet*', or None for all, got "
            f"{type(pattern).__name__} {pattern!r}"
        )
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


def task(name: str) -> str:
    """The task of the model's main output ('classification', 'reconstruction', 'segmentation'; see
    `outputs.OutputSpec`), whatever its options: read from the class, or from its preset when the class declares
    its outputs with a property (their auxiliary outputs depend on options, their task does not)."""
    module = _entry(name).module
    declared = getattr(module, "outputs", CLASSIFIER)
    if isinstance(declared, property):
        declared = _entry(name).module(**_entry(name).preset).outputs
    return declared.task
