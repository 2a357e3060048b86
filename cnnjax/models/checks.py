"""Input-size checks of the zoo models, raised before any computation.

`@checked_input` wraps a model's `__call__`. At the top level (the model itself, not a submodule) it refuses a
`train` that is not a bool (the str 'no' would mean True), and turns
  - a map that would vanish (a kernel or pool window larger than its padded input, `functional.checks.
    WindowTooLarge`) into a ValueError naming the model, the layer and the smallest square input that works;
  - variables initialised for another input size (`nn.base.VariableShapeError`) into a ValueError naming the
    input size they were made for and the one received;
  - training without `mutable=['batch_stats']` (Flax's ModifyScopeVariableError) into a ValueError saying how to
    call it;
and warns when the input leaves 1x1 maps at the input of more than a quarter of the convolutions (the model runs,
but most of its layers see no spatial structure: resnet50 at 8x8, say). The sizes are found by tracing the
model on abstract inputs (`jax.eval_shape`), only when something is wrong.
"""

from __future__ import annotations

import contextvars
import functools
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import nn as cnn
from cnnjax.functional.checks import WindowTooLarge, as_bool
from cnnjax.models import registry
from cnnjax.nn.base import VariableShapeError

_TRACING_SIZES = contextvars.ContextVar("cnnjax_tracing_sizes", default=False)  # inside a size search
_LARGEST = 4096  # the largest input side a search tries

ONE_BY_ONE_FRACTION = 0.25
"""Warn when more than this fraction of the convolutions see a 1x1 input map."""


def checked_input(call: Callable) -> Callable:
    """Decorates a zoo model's `__call__(self, x, **kwargs)` (under `nn.compact`) with the checks above."""

    @functools.wraps(call)
    def checked(self: nn.Module, x: jax.Array, *args: Any, **kwargs: Any):
        if isinstance(self.parent, nn.Module) or _TRACING_SIZES.get():
            return call(self, x, *args, **kwargs)
        if "train" in kwargs:
            kwargs["train"] = as_bool(kwargs["train"], "train")
        convs: list[tuple[str, tuple[int, ...]]] = []
        try:
            with nn.intercept_methods(_recorder(convs)):
                out = call(self, x, *args, **kwargs)
        except WindowTooLarge as e:
            raise ValueError(_vanishing(self, x, kwargs, e)) from None
        except VariableShapeError as e:
            raise ValueError(_other_size(self, x, kwargs, e)) from None
        except flax.errors.ModifyScopeVariableError as e:
            raise ValueError(
                f"train: {_describe(self)} updates its batch statistics in training; expected "
                "model.apply(variables, x, train=True, mutable=['batch_stats']), which returns (output, "
                f"{{'batch_stats': ...}}), got train=True without mutable ({e})"
            ) from None
        _warn_one_by_one(self, x, convs)
        return out

    return checked


def _recorder(convs: list[tuple[str, tuple[int, ...]]]) -> Callable:
    """An interceptor that notes the innermost module of a vanishing map and every conv's input shape."""

    def interceptor(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name == "__call__" and isinstance(module, cnn.Conv) and args:
            convs.append(("/".join(module.path), tuple(jnp.shape(args[0]))))
        try:
            return next_fun(*args, **kwargs)
        except WindowTooLarge as e:
            if not hasattr(e, "layer") and context.method_name == "__call__":
                e.layer = "/".join(module.path) or type(module).__name__
            raise

    return interceptor


def _describe(model: nn.Module) -> str:
    name = registry.name_of(model)
    return name if name == type(model).__name__ else f"{name} ({type(model).__name__})"


def _size(x: jax.Array) -> str:
    return "x".join(map(str, jnp.shape(x)[1:]))


def _init_shapes(model: nn.Module, side: int, channels: int, kwargs: Mapping[str, Any]) -> Any:
    """The variables' shapes of `model` initialised on a (1, side, side, channels) input."""
    x = jax.ShapeDtypeStruct((1, side, side, channels), jnp.float32)
    token = _TRACING_SIZES.set(True)
    try:
        return jax.eval_shape(functools.partial(model.clone(parent=None).init, **kwargs), jax.random.key(0), x)
    finally:
        _TRACING_SIZES.reset(token)


def _works(model: nn.Module, side: int, channels: int, kwargs: Mapping[str, Any]) -> bool:
    try:
        _init_shapes(model, side, channels, kwargs)
    except (ValueError, TypeError):
        return False
    return True


def _search(low: int, high: int, good: Callable[[int], bool]) -> int | None:
    """The smallest n in (low, high] with good(n), assuming good is monotone there; None if good(high) fails."""
    if not good(high):
        return None
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if good(mid) else (mid, high)
    return high


def _vanishing(model: nn.Module, x: jax.Array, kwargs: Mapping[str, Any], error: WindowTooLarge) -> str:
    channels, side = jnp.shape(x)[-1], max(jnp.shape(x)[1:-1])
    smallest = _search(side, _LARGEST, lambda n: _works(model, n, channels, kwargs))
    works = (
        f"the smallest square input that works is {smallest}x{smallest}x{channels}"
        if smallest
        else (f"no square input up to {_LARGEST} works")
    )
    return (
        f"x: {_describe(model)} expected a larger input: at {_size(x)} the map of layer {getattr(error, 'layer', '?')} "
        f"vanishes ({error}); {works}"
    )


def _other_size(model: nn.Module, x: jax.Array, kwargs: Mapping[str, Any], error: VariableShapeError) -> str:
    channels = jnp.shape(x)[-1]
    stored = math.prod(error.stored)

    def size_at(n: int) -> int:
        tree = _init_shapes(model, n, channels, kwargs)["params"]
        for key in (*error.path, error.name):
            tree = tree[key]
        return math.prod(tree.shape)

    side = _search(0, _LARGEST, lambda n: _works(model, n, channels, kwargs) and size_at(n) >= stored)
    if side is not None and size_at(side) == stored:
        expected = f"a {side}x{side}x{channels} input (the size its variables were initialised for)"
    else:
        expected = "the input size its variables were initialised for"
    return f"x: {_describe(model)} expected {expected}, got {_size(x)} ({error})"


def _warn_one_by_one(model: nn.Module, x: jax.Array, convs: list[tuple[str, tuple[int, ...]]]) -> None:
    flat = [path for path, shape in convs if len(shape) >= 4 and all(n == 1 for n in shape[1:-1])]
    if convs and len(flat) > ONE_BY_ONE_FRACTION * len(convs):
        name = registry.name_of(model)
        native = (
            f" (native: {'x'.join(map(str, registry.input_shape(name)))})" if name in registry.list_models() else ""
        )
        warnings.warn(
            f"{_describe(model)} at input {_size(x)}: the feature maps are 1x1 at the input of {len(flat)} of its "
            f"{len(convs)} convolutions (from layer {flat[0]}); they see no spatial structure. "
            f"Use a larger input{native}",
            stacklevel=2,
        )
