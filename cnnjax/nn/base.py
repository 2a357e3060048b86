"""The base of the cnnjax modules that declare variables: a compute `dtype` and a parameter `param_dtype`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.functional.checks import is_int

Dtype = Any
Initializer = Callable[..., jax.Array]
Shape = tuple[int, ...]
MacsRule = Callable[[Mapping[str, Shape], Shape, Shape], int]
"""(own parameter shapes by name, input shape, output shape) -> MACs per example. Shapes include the batch axis."""


class VariableShapeError(ValueError):
    """A parameter's stored shape differs from the one this input needs."""

    def __init__(self, path: Sequence[str], name: str, stored: Shape, needed: Shape):
        self.path, self.name, self.stored, self.needed = tuple(path), name, stored, needed
        super().__init__(
            f"variables: expected {'/'.join((*path, name))} of shape {needed} for this input, got {stored} "
            f"(variables initialised for an input of another size or channel count?)"
        )


class Module(nn.Module):
    """A Flax module whose variables are created in `param_dtype` and whose computation runs in `dtype`.

    `param_dtype` defaults to float32. `dtype` defaults to None: the computation follows the input, in its floating
    dtype (float32 for integer inputs), so a whole model computes in bfloat16 on float32 parameters when its input
    is bfloat16 (mixed precision, what `config.precision` does) and in float32 otherwise; a set `dtype` fixes it.
    The two fields are keyword-only, so subclasses keep their positional fields.

    `macs` (a class attribute, None or a `MacsRule`) tells `cnnjax.summary` how many multiply-accumulates a call
    costs when the default, `output positions * kernel size` for a module owning a 'kernel', is not right.
    """

    dtype: Dtype | None = dataclasses.field(default=None, kw_only=True)
    param_dtype: Dtype = dataclasses.field(default=jnp.float32, kw_only=True)

    macs: ClassVar[MacsRule | None] = None

    def declare(self, name: str, init: Initializer, shape: Sequence[int], like: jax.Array) -> jax.Array:
        """The parameter `name` of `shape` in `param_dtype`, returned cast to the compute dtype for the input
        `like` (`compute_dtype`).

        Variables made for another input (a model initialised at 28x28 applied at 32x32) raise `VariableShapeError`
        naming the layer and both shapes, instead of Flax's error from inside the scope.
        """
        shape = tuple(shape)
        if self.has_variable("params", name):
            stored = tuple(jnp.shape(self.get_variable("params", name)))
            if stored != shape:
                raise VariableShapeError(self.path, name, stored, shape)
        return self.param(name, init, shape, self.param_dtype).astype(self.compute_dtype(like))

    def compute_dtype(self, x: jax.Array) -> Dtype:
        """`dtype`, or when None the floating dtype of `x` (float32 for an integer input)."""
        if self.dtype is not None:
            return self.dtype
        return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32

    def promote(self, x: jax.Array) -> jax.Array:
        """The input in the compute dtype (a uint8 image into a float32 conv, say)."""
        return jnp.asarray(x, self.compute_dtype(x))


def check_features(module: nn.Module, features: object, name: str = "features") -> None:
    """A layer width must be a positive int."""
    if not is_int(features) or features < 1:
        raise ValueError(f"{name}: expected a positive int (output width of {type(module).__name__}), got {features!r}")
