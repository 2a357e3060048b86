"""Flax modules that declare the parameters of the linear layers and call `cnnjax.functional`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import flax.linen as nn
import jax

from cnnjax import functional as F
from cnnjax.functional.checks import Padding, as_tuple
from cnnjax.nn.base import Initializer, Module, Shape, check_features


class Conv(Module):
    """Convolution; parameters 'kernel' (*kernel_size, C_in // groups, features) and 'bias' (features,).

    (N, *spatial, C_in) -> (N, *out_spatial, features). The kernel's rank follows `kernel_size` (1-D, 2-D, 3-D).
    """

    features: int
    kernel_size: int | Sequence[int]
    stride: int | Sequence[int] = 1
    padding: Padding = "SAME"
    dilation: int | Sequence[int] = 1
    groups: int = 1
    use_bias: bool = True
    ndim: int = 2
    kernel_init: Initializer = F.init.lecun_normal()
    bias_init: Initializer = F.init.zeros

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        check_features(self, self.features)
        kernel_size = as_tuple(self.kernel_size, self.ndim, "kernel_size")
        if x.shape[-1] % self.groups:
            raise ValueError(f"groups: expected a divisor of the {x.shape[-1]} input channels, got {self.groups}")
        kernel = self.declare("kernel", self.kernel_init, (*kernel_size, x.shape[-1] // self.groups, self.features), x)
        bias = self.declare("bias", self.bias_init, (self.features,), x) if self.use_bias else None
        return F.conv(
            self.promote(x),
            kernel,
            bias,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )


def _transpose_macs(params: Mapping[str, Shape], x: Shape, y: Shape) -> int:
    """Every kernel weight is used once per *input* position."""
    return math.prod(params["kernel"]) * math.prod(x[1:-1])


class ConvTranspose(Module):
    """Transposed convolution; 'kernel' (*kernel_size, C_in, features). 'SAME' gives n * stride."""

    features: int
    kernel_size: int | Sequence[int]
    stride: int | Sequence[int] = 1
    padding: Padding = "SAME"
    use_bias: bool = True
    ndim: int = 2
    kernel_init: Initializer = F.init.lecun_normal()
    bias_init: Initializer = F.init.zeros

    macs = staticmethod(_transpose_macs)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        check_features(self, self.features)
        kernel_size = as_tuple(self.kernel_size, self.ndim, "kernel_size")
        kernel = self.declare("kernel", self.kernel_init, (*kernel_size, x.shape[-1], self.features), x)
        bias = self.declare("bias", self.bias_init, (self.features,), x) if self.use_bias else None
        return F.conv_transpose(self.promote(x), kernel, bias, stride=self.stride, padding=self.padding)


class LocallyConnected(Module):
    """Unshared-weight convolution; 'kernel' (*out_spatial, C_in * prod(kernel_size), features), 'bias'
    (*out_spatial, features)."""

    features: int
    kernel_size: int | Sequence[int]
    stride: int | Sequence[int] = 1
    padding: Padding = "VALID"
    use_bias: bool = True
    ndim: int = 2
    kernel_init: Initializer = F.init.lecun_normal()
    bias_init: Initializer = F.init.zeros

    macs = staticmethod(lambda params, x, y: math.prod(params["kernel"]))  # nothing is shared

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        check_features(self, self.features)
        window = as_tuple(self.kernel_size, self.ndim, "kernel_size")
        stride = as_tuple(self.stride, self.ndim, "stride")
        out_spatial = jax.eval_shape(
            lambda y: F.avg_pool(y, window, stride, self.padding), jax.ShapeDtypeStruct(x.shape, x.dtype)
        ).shape[1:-1]
        kernel = self.declare(
            "kernel", self.kernel_init, (*out_spatial, x.shape[-1] * math.prod(window), self.features), x
        )
        bias = self.declare("bias", self.bias_init, (*out_spatial, self.features), x) if self.use_bias else None
        return F.locally_connected(
            self.promote(x), kernel, bias, kernel_size=window, stride=stride, padding=self.padding
        )


class Dense(Module):
    """Fully connected; 'kernel' (D_in, features), 'bias' (features,). (..., D_in) -> (..., features)."""

    features: int
    use_bias: bool = True
    kernel_init: Initializer = F.init.lecun_normal()
    bias_init: Initializer = F.init.zeros

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        check_features(self, self.features)
        kernel = self.declare("kernel", self.kernel_init, (x.shape[-1], self.features), x)
        bias = self.declare("bias", self.bias_init, (self.features,), x) if self.use_bias else None
        return F.linear(self.promote(x), kernel, bias)
