"""Flax modules that declare the parameters of the linear layers and call `cnnjax.functional`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import functional as F
from cnnjax.functional._checks import Padding, as_tuple

Initializer = Callable[..., jax.Array]


class Conv(nn.Module):
    """Convolution; parameters 'kernel' (*kernel_size, C_in // groups, features) and 'bias' (features,).

    (N, *spatial, C_in) -> (N, *out_spatial, features). The kernel's rank follows `kernel_size` (1-D, 2-D, 3-D).
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] = 1
    padding: Padding = "SAME"
    dilation: int | Sequence[int] = 1
    groups: int = 1
    use_bias: bool = True
    ndim: int = 2
    kernel_init: Initializer = F.init.lecun_normal()
    bias_init: Initializer = F.init.zeros

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel_size = as_tuple(self.kernel_size, self.ndim, "kernel_size")
        if x.shape[-1] % self.groups:
            raise ValueError(f"groups: expected a divisor of the {x.shape[-1]} input channels, got {self.groups}")
        shape = (*kernel_size, x.shape[-1] // self.groups, self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        bias = self.param("bias", self.bias_init, (self.features,), jnp.float32) if self.use_bias else None
        return F.conv(x, kernel, bias, stride=self.strides, padding=self.padding, dilation=self.dilation, groups=self.groups)


class ConvTranspose(nn.Module):
    """Transposed convolution; 'kernel' (*kernel_size, C_in, features). 'SAME' gives n * strides."""

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] = 1
    padding: Padding = "SAME"
    use_bias: bool = True
    ndim: int = 2
    kernel_init: Initializer = F.init.lecun_normal()
    bias_init: Initializer = F.init.zeros

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel_size = as_tuple(self.kernel_size, self.ndim, "kernel_size")
        kernel = self.param("kernel", self.kernel_init, (*kernel_size, x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", self.bias_init, (self.features,), jnp.float32) if self.use_bias else None
        return F.conv_transpose(x, kernel, bias, stride=self.strides, padding=self.padding)


class LocallyConnected(nn.Module):
    """Unshared-weight convolution; 'kernel' (*out_spatial, C_in * prod(kernel_size), features), 'bias'
    (*out_spatial, features)."""

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] = 1
    padding: Padding = "VALID"
    use_bias: bool = True
    ndim: int = 2
    kernel_init: Initializer = F.init.lecun_normal()
    bias_init: Initializer = F.init.zeros

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        window = as_tuple(self.kernel_size, self.ndim, "kernel_size")
        strides = as_tuple(self.strides, self.ndim, "strides")
        out_spatial = jax.eval_shape(
            lambda y: F.avg_pool(y, window, strides, self.padding), jax.ShapeDtypeStruct(x.shape, x.dtype)
        ).shape[1:-1]
        shape = (*out_spatial, x.shape[-1] * math.prod(window), self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        bias = self.param("bias", self.bias_init, (*out_spatial, self.features), jnp.float32) if self.use_bias else None
        return F.locally_connected(x, kernel, bias, kernel_size=window, stride=strides, padding=self.padding)


class Dense(nn.Module):
    """Fully connected; 'kernel' (D_in, features), 'bias' (features,). (..., D_in) -> (..., features)."""

    features: int
    use_bias: bool = True
    kernel_init: Initializer = F.init.lecun_normal()
    bias_init: Initializer = F.init.zeros

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", self.bias_init, (self.features,), jnp.float32) if self.use_bias else None
        return F.linear(x, kernel, bias)
