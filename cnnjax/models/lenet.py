"""LeNet-5: the common modern variant and the 1998 original (LeCun, Bottou, Bengio, Haffner)."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import functional as F
from cnnjax import nn as cnn
from cnnjax.models.checks import checked_input
from cnnjax.models.options import Count, Size
from cnnjax.models.registry import register

# LeCun et al. 1998, Table I: which S2 maps (rows of the paper's table, here the inner lists) feed each C3 map.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (0, 4, 5),
    (0, 1, 5),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (0, 3, 4, 5),
    (0, 1, 4, 5),
    (0, 1, 2, 5),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class LeNet5(nn.Module):
    """Modern LeNet-5: conv 6@5x5 (pad 2) - pool - conv 16@5x5 - pool - 120 - 84 - classes. 61,706 parameters.

    (N, 28, 28, C) -> (N, num_classes); 32x32 inputs use `padding='VALID'` for the first conv, like the paper.
    """

    num_classes: Count = 10
    activation: str = "relu"
    pool: str = "max"
    padding: int | str = 2

    @nn.compact
    @checked_input
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        act = F.get_activation(self.activation)
        if self.pool not in ("max", "avg"):
            raise ValueError(f"pool: expected 'max' or 'avg', got {self.pool!r}")
        pool = cnn.MaxPool if self.pool == "max" else cnn.AvgPool
        x = pool(2, name="pool1")(act(cnn.Conv(6, 5, padding=self.padding, name="conv1")(x)))
        x = pool(2, name="pool2")(act(cnn.Conv(16, 5, padding="VALID", name="conv2")(x)))
        x = cnn.Flatten(name="flatten")(x)
        x = act(cnn.Dense(120, name="fc1")(x))
        x = act(cnn.Dense(84, name="fc2")(x))
        return cnn.Dense(self.num_classes, name="fc3")(x)


class TrainableSubsampling(cnn.Module):
    """LeNet's S2/S4: 2x2 sums times a trainable coefficient plus a trainable bias, per channel (2 C params).

    One multiply-accumulate per input unit (LeCun et al.'s count).
    """

    macs = staticmethod(lambda params, x, y: math.prod(x[1:]))

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        coefficient = self.declare("coefficient", F.init.ones, (x.shape[-1],), x)
        bias = self.declare("bias", F.init.zeros, (x.shape[-1],), x)
        sums = F.avg_pool(self.promote(x), 2) * 4.0
        return sums * coefficient[None, None, None, :] + bias[None, None, None, :]


class ConnectionTableConv(cnn.Module):
    """A convolution where output map j sees only the input maps `table[j]` (LeNet's C3).

    Only the connected kernels are parameters: 'kernel' (kh, kw, connections), 'bias' (len(table),). They are
    scattered into a dense HWIO kernel with zeros elsewhere and passed to `functional.conv`.
    """

    table: tuple[tuple[int, ...], ...]
    kernel_size: int = 5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        inputs = np.array([i for row in self.table for i in row])
        outputs = np.array([j for j, row in enumerate(self.table) for _ in row])
        if inputs.max() >= x.shape[-1]:
            raise ValueError(f"table: references input map {inputs.max()}, but x has {x.shape[-1]} channels")
        k = self.kernel_size
        packed = self.declare("kernel", F.init.lecun_normal(in_axis=-1, out_axis=-1), (k, k, len(inputs)), x)
        bias = self.declare("bias", F.init.zeros, (len(self.table),), x)
        kernel = jnp.zeros((k, k, x.shape[-1], len(self.table)), packed.dtype).at[:, :, inputs, outputs].set(packed)
        return F.conv(self.promote(x), kernel, bias, padding="VALID")


class LeNet5Classic(nn.Module):
    """LeNet-5 as in 1998: C1 6@5x5, S2 trainable subsampling, C3 16@5x5 with the partial connection table,
    S4, C5 120@5x5, F6 84, scaled tanh, and a fully connected 10-way output (in place of the paper's RBF units).

    60,850 parameters (C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164, output 850).
    (N, 32, 32, C) -> (N, num_classes); 28x28 inputs are padded by 2 (`pad_input=2`).
    """

    num_classes: Count = 10
    pad_input: Size = 0

    @nn.compact
    @checked_input
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        act = F.scaled_tanh
        p = self.pad_input
        x = act(cnn.Conv(6, 5, padding=((p, p), (p, p)), name="c1")(x))
        x = act(TrainableSubsampling(name="s2")(x))
        x = act(ConnectionTableConv(C3_TABLE, name="c3")(x))
        x = act(TrainableSubsampling(name="s4")(x))
        x = act(cnn.Conv(120, 5, padding="VALID", name="c5")(x))
        x = cnn.Flatten(name="flatten")(x)
        x = act(cnn.Dense(84, name="f6")(x))
        return cnn.Dense(self.num_classes, name="output")(x)


register("lenet5", LeNet5, input_shape=(28, 28, 1), description="LeNet-5, modern variant (ReLU, max-pool)")
register("lenet5_classic", LeNet5Classic, input_shape=(32, 32, 1), description="LeNet-5 as in LeCun et al. 1998")
