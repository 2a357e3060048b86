"""Parameter-free and stateful layers as thin Flax modules over `cnnjax.functional`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import functional as F
from cnnjax.functional.checks import Padding, as_bool
from cnnjax.nn.base import Module


class MaxPool(nn.Module):
    """`functional.max_pool`: (N, *spatial, C) -> (N, *out, C)."""

    window: int | Sequence[int]
    stride: int | Sequence[int] | None = None
    padding: Padding = "VALID"
    ceil_mode: bool = False

    def __call__(self, x: jax.Array) -> jax.Array:
        return F.max_pool(x, self.window, self.stride, self.padding, ceil_mode=self.ceil_mode)


class AvgPool(nn.Module):
    """`functional.avg_pool`: (N, *spatial, C) -> (N, *out, C)."""

    window: int | Sequence[int]
    stride: int | Sequence[int] | None = None
    padding: Padding = "VALID"
    count_include_pad: bool = True

    def __call__(self, x: jax.Array) -> jax.Array:
        return F.avg_pool(x, self.window, self.stride, self.padding, count_include_pad=self.count_include_pad)


class LpPool(nn.Module):
    """`functional.lp_pool` (L2 pooling by default)."""

    window: int | Sequence[int]
    stride: int | Sequence[int] | None = None
    padding: Padding = "VALID"
    p: float = 2.0

    def __call__(self, x: jax.Array) -> jax.Array:
        return F.lp_pool(x, self.window, self.stride, self.padding, p=self.p)


class GlobalAvgPool(nn.Module):
    """(N, *spatial, C) -> (N, C)."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return F.global_avg_pool(x)


class AdaptiveAvgPool(nn.Module):
    """`functional.adaptive_avg_pool`: (N, *spatial, C) -> (N, *output_size, C)."""

    output_size: int | Sequence[int]

    def __call__(self, x: jax.Array) -> jax.Array:
        return F.adaptive_avg_pool(x, self.output_size)


class ChannelMaxPool(nn.Module):
    """Maxout: (..., C) -> (..., C // pool_size)."""

    pool_size: int

    def __call__(self, x: jax.Array) -> jax.Array:
        return F.channel_max_pool(x, self.pool_size)


class BatchNorm(Module):
    """`functional.batch_norm`; params 'scale', 'bias'; running 'mean', 'var' in the 'batch_stats' collection
    (all in `param_dtype`). The output has the compute dtype; statistics of a lower-precision input are reduced
    in float32 (`functional.batch_norm`), and the running averages stay in `param_dtype`.

    Call with `train=True` under `mutable=['batch_stats']` to update the running statistics.
    """

    momentum: float = 0.9
    epsilon: float = 1e-5
    use_scale: bool = True
    use_bias: bool = True
    scale_init: Callable = F.init.ones
    axis_name: str | None = None
    ghost_batch_size: int | None = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        channels = (x.shape[-1],)
        params = {}
        if self.use_scale:
            params["scale"] = self.declare("scale", self.scale_init, channels, x)
        if self.use_bias:
            params["bias"] = self.declare("bias", F.init.zeros, channels, x)
        mean = self.variable("batch_stats", "mean", jnp.zeros, channels, self.param_dtype)
        var = self.variable("batch_stats", "var", jnp.ones, channels, self.param_dtype)
        state = {"mean": mean.value, "var": var.value}
        y, new_state = F.batch_norm(
            self.promote(x),
            params,
            state,
            train=train,
            momentum=self.momentum,
            eps=self.epsilon,
            axis_name=self.axis_name,
            ghost_batch_size=self.ghost_batch_size,
        )
        if train and not self.is_initializing():
            mean.value = new_state["mean"].astype(self.param_dtype)
            var.value = new_state["var"].astype(self.param_dtype)
        return y


class LocalResponseNorm(nn.Module):
    """`functional.local_response_norm` (AlexNet's defaults)."""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0
    average: bool = False

    def __call__(self, x: jax.Array) -> jax.Array:
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k, average=self.average)


class Dropout(nn.Module):
    """`functional.dropout`, drawing its key from the 'dropout' rng stream in training."""

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        train = as_bool(train, "train")  # before make_rng, which a truthy str would reach
        key = self.make_rng("dropout") if train and self.rate > 0 else None
        return F.dropout(key, x, self.rate, train=train)


class Flatten(nn.Module):
    """(N, ...) -> (N, prod(...)), in NHWC order."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[0], -1)


class Lambda(nn.Module):
    """Wraps a parameter-free function of x (an activation, say) as a layer."""

    fn: Callable[[jax.Array], jax.Array]

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fn(x)


def _takes_train(layer: Callable) -> bool:
    call = layer.__call__ if isinstance(layer, nn.Module) else layer
    try:
        return "train" in inspect.signature(call).parameters
    except (TypeError, ValueError):
        return False


class Sequential(nn.Module):
    """Applies layers in order, passing `train` to those whose `__call__` takes it. Plain functions are allowed."""

    layers: Sequence[Callable]

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        for layer in self.layers:
            x = layer(x, train=train) if _takes_train(layer) else layer(x)
        return x
