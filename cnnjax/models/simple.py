"""Two small configurable networks for studies: a multilayer perceptron and a plain convolutional network.

Both are what a lecture draws when it compares fully connected and convolutional layers: `MLP` flattens the image
into one vector, `ConvNet` keeps its grid through convolution + pooling blocks before a fully connected head. Their
options cover the questions such studies ask (widths, depth, activation, pooling, normalisation and where it
goes, dropout placement, a fixed first layer).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import functional as F
from cnnjax import nn as cnn
from cnnjax.models.checks import checked_input
from cnnjax.models.options import Count, Counts, Rate
from cnnjax.models.registry import register

POOLS = ("max", "avg", "l2", "stride", "none")
NORMS = ("none", "batch", "lrn")
_POOL_LAYERS = {"max": cnn.MaxPool, "avg": cnn.AvgPool, "l2": cnn.LpPool}


def _check_widths(key: str, widths: tuple[int, ...]) -> None:
    if any(w < 1 for w in widths):
        raise ValueError(f"{key}: expected widths >= 1 (an empty tuple for none), got {widths!r}")


def _dense_head(x: jax.Array, hidden: tuple[int, ...], num_classes: int, act, dropout: float, train: bool):
    """Flatten - [Dense(h) - act - dropout] for each h - Dense(num_classes): (N, ...) -> (N, num_classes)."""
    x = cnn.Flatten(name="flatten")(x)
    for i, width in enumerate(hidden):
        x = act(cnn.Dense(width, name=f"fc{i + 1}")(x))
        x = cnn.Dropout(dropout, name=f"fc{i + 1}_dropout")(x, train=train) if dropout else x
    return cnn.Dense(num_classes, name=f"fc{len(hidden) + 1}")(x)


class MLP(nn.Module):
    """Flatten - [Dense(h) - activation (- dropout)] for each h of `hidden` - Dense(num_classes).

    (N, H, W, C) -> (N, num_classes). `hidden=()` is a linear classifier (a single-layer perceptron). With the
    defaults on 28x28x1: 784 -> 100 -> 10, 79,510 parameters.
    """

    num_classes: Count = 10
    hidden: tuple[int, ...] = (100,)
    activation: str = "relu"
    dropout: Rate = 0.0

    @nn.compact
    @checked_input
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        _check_widths("hidden", self.hidden)
        return _dense_head(x, self.hidden, self.num_classes, F.get_activation(self.activation), self.dropout, train)


class FixedConv(nn.Module):
    """A 3x3 SAME convolution whose kernel is `functional.filter_bank` (not a parameter) plus a learned bias:
    (N, H, W, C) -> (N, H / stride, W / stride, len(FIXED_FILTERS))."""

    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = jnp.asarray(F.filter_bank(x.shape[-1]), x.dtype)
        bias = self.param("bias", F.init.zeros, (kernel.shape[-1],))
        return F.conv(x, kernel, bias, stride=self.stride, padding="SAME")


class ConvNet(nn.Module):
    """[Conv(c, kernel_size, SAME) - norm - activation - pool] for each c of `channels`, then `MLP`'s head.

    (N, H, W, C) -> (N, num_classes). `pool`: 'max', 'avg' or 'l2' (square root of the sum of squares) pooling
    over `pool_size` windows with stride = window; 'stride': no pooling layer, the convolution itself strided by
    `pool_size`; 'none': neither. Each block divides H and W by `pool_size` (pooling rounds down, the strided
    convolution up). `norm`: 'none', 'batch' (batch norm; the convolution then has no bias) or 'lrn' (AlexNet's
    local response normalisation, size 5, alpha 1e-4, beta 0.75, k 2), applied before the activation, or after it
    with `norm_after_activation`. `conv_dropout` drops activations after each block, `dropout` after each hidden
    dense layer. `fixed_first_layer`: the first convolution is the notes' fixed 3x3 filter bank
    (`functional.filter_bank`, 11 filters, only its bias learned) instead of channels[0] learned filters.
    With the defaults on 28x28x1: conv 8@3x3 - max pool 2 - 20 - 10, 31,670 parameters.
    """

    num_classes: Count = 10
    channels: Counts = (8,)
    kernel_size: Count = 3
    pool: str = "max"
    pool_size: Count = 2
    hidden: tuple[int, ...] = (20,)
    activation: str = "relu"
    norm: str = "none"
    norm_after_activation: bool = False
    conv_dropout: Rate = 0.0
    dropout: Rate = 0.0
    fixed_first_layer: bool = False

    @nn.compact
    @checked_input
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        if self.pool not in POOLS:
            raise ValueError(f"pool: expected one of {POOLS}, got {self.pool!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm: expected one of {NORMS}, got {self.norm!r}")
        if self.fixed_first_layer and self.channels[0] != len(F.FIXED_FILTERS):
            raise ValueError(
                f"channels: with fixed_first_layer the first width is the bank's {len(F.FIXED_FILTERS)} filters, "
                f"got channels={tuple(self.channels)}"
            )
        _check_widths("hidden", self.hidden)
        act = F.get_activation(self.activation)
        stride = self.pool_size if self.pool == "stride" else 1
        for i, width in enumerate(self.channels):
            if i == 0 and self.fixed_first_layer:
                x = FixedConv(stride, name="conv1")(x)
            else:
                use_bias = self.norm != "batch"  # batch norm's offset replaces the bias
                x = cnn.Conv(width, self.kernel_size, stride, "SAME", use_bias=use_bias, name=f"conv{i + 1}")(x)
            x = self._norm(i, act(x), train) if self.norm_after_activation else act(self._norm(i, x, train))
            if self.pool in _POOL_LAYERS:
                x = _POOL_LAYERS[self.pool](self.pool_size, name=f"pool{i + 1}")(x)
            x = cnn.Dropout(self.conv_dropout, name=f"conv{i + 1}_dropout")(x, train=train) if self.conv_dropout else x
        return _dense_head(x, self.hidden, self.num_classes, act, self.dropout, train)

    def _norm(self, i: int, x: jax.Array, train: bool) -> jax.Array:
        if self.norm == "batch":
            return cnn.BatchNorm(name=f"bn{i + 1}")(x, train=train)
        if self.norm == "lrn":
            return cnn.LocalResponseNorm(name=f"lrn{i + 1}")(x)
        return x


register("mlp", MLP, input_shape=(28, 28, 1), description="a multilayer perceptron (hidden widths as an option)")
register("convnet", ConvNet, input_shape=(28, 28, 1), description="a plain CNN: conv-pool blocks, a dense head")
