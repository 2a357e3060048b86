"""AlexNet (Krizhevsky, Sutskever, Hinton 2012), its torchvision layout, and ZFNet (Zeiler & Fergus 2013).

All four are one module, `AlexNet`, reading its five convolutional layers from `CONFIGS`:

| name             | config    | input | conv1         | conv2             | conv3; conv4; conv5        | parameters |
|------------------|-----------|-------|---------------|-------------------|----------------------------|------------|
| `alexnet`        | 'alexnet' | 227   | 96@11x11/4    | 256@5x5 p2, 2 grp | 384; 384, 256 in 2 groups  | 60,965,224 |
| `alexnet_single` | 'alexnet' | 227   | 96@11x11/4    | 256@5x5 p2        | 384; 384; 256 (`towers=1`) | 62,378,344 |
| `alexnet_tv`     | 'tv'      | 224   | 64@11x11/4 p2 | 192@5x5 p2        | 384; 256; 256              | 61,100,840 |
| `zfnet`          | 'zfnet'   | 224   | 96@7x7/2 p1   | 256@5x5/2         | 384; 384; 256              | 62,357,608 |

conv3-5 are 3x3 with padding 1, every conv is followed by a ReLU, every max-pool is 3x3 with stride 2
("overlapping pooling"), and the classifier is fc1 4096 - fc2 4096 - fc3 num_classes with dropout 0.5.

Per config:
  'alexnet': conv1 VALID; ReLU - LRN - max-pool after conv1 and conv2, max-pool after conv5; LRN size 5,
    alpha 1e-4, beta 0.75, k 2 (the paper's, alpha not divided by size). Maps 55, 27, 13, 13, 13 -> 6x6x256.
    The "two GPU towers" are groups=2 in conv2, conv4 and conv5 (conv2's kernel is (5, 5, 48, 256)); conv3 is
    dense because the towers communicate there. Dropout follows the ReLU of fc1 and fc2 (Caffe's order). With
    `tower_axis` the towers run on two devices, as in the paper (`TowerConv`; docs/scaling.md).
  'tv': torchvision.models.alexnet: no LRN, no groups, adaptive average pool to 6x6 (`adaptive_pool=6`) before the
    classifier, dropout *before* fc1 and fc2. Maps at 224: 55, 27, 13, 13, 13 -> 6x6x256.
  'zfnet': ReLU - max-pool - LRN ("contrast normalisation", pooled then normalised, as in the paper's Fig. 3)
    after conv1 and conv2; conv1 padding 1 and max-pools with `ceil_mode=True` give exactly the paper's map sizes
    at 224: conv1 110, pool 55, conv2 26, pool 13, conv3-5 13, pool 6 -> 6x6x256.

Submodule names: conv1..conv5, lrn{i} and pool{i} after conv{i}, fc1, fc2, fc3 (`cnnjax.convert` maps
`alexnet_tv`'s onto torchvision's). Kernels are HWIO (torchvision: OIHW) and Dense kernels (in, out)
(torchvision: (out, in)); fc1's input rows are in NHWC flatten order (h, w, c) whereas torchvision flattens (c, h, w).

Small inputs (`small_input=True`, any config): conv1 becomes 3x3, stride 1, padding 1 and every other strided
conv gets stride 1 (zfnet's conv2), so the three 3x3/2 max-pools are the only downsampling. Every config then
ends in 3x3x256 maps at 32x32 and 2x2x256 at 28x28 ('tv' adapts them to 6x6); fc1's input width follows (Dense
infers it), and `fc_features` shrinks the hidden fc layers. `width` multiplies the feature maps of every conv layer
(rounded to a multiple of `towers`), e.g. `width=0.25` for a quarter-width network at 1/16 of the conv MACs.

Initialisation (`weight_init`): 'paper' draws every weight from N(0, 0.01^2); biases are 1 in conv2, conv4, conv5
and the fully connected hidden layers fc1, fc2 for 'alexnet' (Krizhevsky et al. section 5), 0 elsewhere and for every
layer of 'zfnet' (Zeiler & Fergus section 3) and 'tv'. 'he' draws He-normal weights with zero biases; it is
`alexnet_tv`'s preset (torchvision's PyTorch-default initialisation is not reproduced: its weights come converted).
Ablations of the paper: `lrn=False` drops the LRN layers, `pool_window=2` makes the pooling non-overlapping.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
from jax.sharding import PartitionSpec as P

from cnnjax import functional as F
from cnnjax import nn as cnn
from cnnjax.models.checks import checked_input
from cnnjax.models.heads import classifier
from cnnjax.models.options import Count, Positive, Rate
from cnnjax.models.registry import register
from cnnjax.models.width import scaled
from cnnjax.nn.base import Initializer


@dataclasses.dataclass(frozen=True)
class ConvLayer:
    """One convolution of the feature extractor, followed by a ReLU, then optionally LRN and a max-pool."""

    features: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    grouped: bool = False  # split into `towers` groups (the paper's two GPUs)
    lrn: bool = False
    pool: bool = False
    paper_bias: float = 0.0  # the constant bias of the 'paper' initialisation


@dataclasses.dataclass(frozen=True)
class AlexNetConfig:
    """The feature extractor's convolutions and where the variants differ around them."""

    convs: tuple[ConvLayer, ...]
    lrn_after_pool: bool = False  # ZFNet pools then normalises; AlexNet normalises then pools
    pool_ceil_mode: bool = False
    dropout_before_fc: bool = False  # torchvision: dropout - fc - relu; the paper: fc - relu - dropout
    paper_fc_bias: float = 0.0  # bias of fc1 and fc2 under the 'paper' initialisation


CONFIGS: dict[str, AlexNetConfig] = {
    "alexnet": AlexNetConfig(
        convs=(
            ConvLayer(96, 11, stride=4, padding=0, lrn=True, pool=True),
            ConvLayer(256, 5, padding=2, grouped=True, lrn=True, pool=True, paper_bias=1.0),
            ConvLayer(384, 3, padding=1),
            ConvLayer(384, 3, padding=1, grouped=True, paper_bias=1.0),
            ConvLayer(256, 3, padding=1, grouped=True, pool=True, paper_bias=1.0),
        ),
        paper_fc_bias=1.0,
    ),
    "tv": AlexNetConfig(
        convs=(
            ConvLayer(64, 11, stride=4, padding=2, pool=True),
            ConvLayer(192, 5, padding=2, pool=True),
            ConvLayer(384, 3, padding=1),
            ConvLayer(256, 3, padding=1),
            ConvLayer(256, 3, padding=1, pool=True),
        ),
        dropout_before_fc=True,
    ),
    "zfnet": AlexNetConfig(
        convs=(
            ConvLayer(96, 7, stride=2, padding=1, lrn=True, pool=True),
            ConvLayer(256, 5, stride=2, padding=0, lrn=True, pool=True),
            ConvLayer(384, 3, padding=1),
            ConvLayer(384, 3, padding=1),
            ConvLayer(256, 3, padding=1, pool=True),
        ),
        lrn_after_pool=True,
        pool_ceil_mode=True,
    ),
}

WEIGHT_INITS = ("paper", "he")


class TowerConv(cnn.Module):
    """A convolution computed tower by tower, one tower per device along the mesh axis `axis` (model parallelism:
    the paper's two GPUs). Same parameters as `cnn.Conv(..., groups=towers if grouped else 1)`: 'kernel' (kh, kw,
    C_in / groups, features), 'bias' (features,). Each device holds and computes its tower's share of the output
    channels (features / towers). `grouped`: a tower sees only its own tower's input channels (no communication);
    otherwise every tower sees all input channels, gathered from the devices (where the paper's towers
    communicate). Needs a mesh with `axis` of size `towers` (`jax.set_mesh`). (N, H, W, C_in) -> (N, H', W',
    features), sharded on its channels along `axis`.
    """

    features: int
    kernel_size: int
    stride: int
    padding: int
    towers: int
    axis: str
    grouped: bool
    kernel_init: Initializer
    bias_init: Initializer

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        groups = self.towers if self.grouped else 1
        k = self.kernel_size
        kernel = self.declare("kernel", self.kernel_init, (k, k, x.shape[-1] // groups, self.features), x)
        bias = self.declare("bias", self.bias_init, (self.features,), x)
        channels = P(None, None, None, self.axis)

        def tower(x, kernel, bias):  # one device: its tower's output channels
            return F.conv(x, kernel, bias, stride=self.stride, padding=self.padding)

        specs = (channels if self.grouped else P(), channels, P(self.axis))  # a dense layer gathers its input
        args = [jax.reshard(a, spec) for a, spec in zip((self.promote(x), kernel, bias), specs)]
        return jax.shard_map(tower, in_specs=specs, out_specs=channels)(*args)


class AlexNet(nn.Module):
    """AlexNet-family classifier: (N, H, W, C) -> (N, num_classes) logits. See the module docstring.

    Attributes:
      num_classes: output classes.
      config: a key of `CONFIGS`: 'alexnet', 'tv' or 'zfnet'.
      towers: groups of the layers marked `grouped` (2 = the paper's two GPUs, 1 = one dense network).
      lrn: False drops the local response normalisation layers (the paper's ablation).
      pool_window: 3 = overlapping 3x3/2 pooling; 2 = non-overlapping 2x2/2 (the paper's ablation).
      adaptive_pool: average-pool the last maps to this size (torchvision: 6) so any input size gives 6x6; None
        flattens the maps as they are.
      small_input: conv1 3x3/1 pad 1 and no strided convolutions, for 28x28 / 32x32 images.
      fc_features: width of fc1 and fc2.
      dropout_rate: dropout of the two hidden fc layers (0.5 in all three papers).
      weight_init: 'paper' or 'he' (see the module docstring).
      width: multiplier of every conv layer's feature maps (1.0 = the paper's).
      tower_axis: a mesh axis of size `towers` to place the towers on, one per device (the paper's two GPUs;
        `jax.set_mesh`): every convolution is computed tower by tower (`TowerConv`), the towers exchanging their
        maps at conv3's input, as the paper's GPUs did, and XLA gathers them for the fully connected layers. The
        numbers are those of one device (tested); None computes the towers as grouped convolutions on each device.
    """

    num_classes: Count = 1000
    config: str = "alexnet"
    towers: Count = 2
    lrn: bool = True
    pool_window: Count = 3
    adaptive_pool: Count | None = None
    small_input: bool = False
    fc_features: Count = 4096
    dropout_rate: Rate = 0.5
    weight_init: str = "paper"
    width: Positive = 1.0
    tower_axis: str | None = None

    def _inits(self, paper_bias: float):
        """(kernel_init, bias_init) for one layer."""
        if self.weight_init == "paper":
            return F.init.normal(0.01), F.init.constant(paper_bias)
        return F.init.he_normal(), F.init.zeros  # truncated normal, as jax.nn.initializers.he_normal

    @nn.compact
    @checked_input
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        if self.config not in CONFIGS:
            raise ValueError(f"config: expected one of {sorted(CONFIGS)}, got {self.config!r}")
        if self.weight_init not in WEIGHT_INITS:
            raise ValueError(f"weight_init: expected one of {list(WEIGHT_INITS)}, got {self.weight_init!r}")
        config = CONFIGS[self.config]
        for i, layer in enumerate(config.convs, start=1):
            kernel_size, stride, padding = layer.kernel_size, layer.stride, layer.padding
            if self.small_input:
                stride = 1
                if i == 1:
                    kernel_size, padding = 3, 1
            kernel_init, bias_init = self._inits(layer.paper_bias)
            features = scaled(layer.features, self.width, self.towers)
            if self.tower_axis is None:
                conv = cnn.Conv(
                    features,
                    kernel_size,
                    stride=stride,
                    padding=padding,
                    groups=self.towers if layer.grouped else 1,
                    kernel_init=kernel_init,
                    bias_init=bias_init,
                    name=f"conv{i}",
                )
            else:
                conv = TowerConv(
                    features,
                    kernel_size,
                    stride,
                    padding,
                    self.towers,
                    self.tower_axis,
                    layer.grouped,
                    kernel_init,
                    bias_init,
                    name=f"conv{i}",
                )
            x = conv(x)
            x = F.relu(x)
            lrn = cnn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0, name=f"lrn{i}")
            normalise = layer.lrn and self.lrn
            if normalise and not config.lrn_after_pool:
                x = lrn(x)
            if layer.pool:
                x = cnn.MaxPool(self.pool_window, 2, ceil_mode=config.pool_ceil_mode, name=f"pool{i}")(x)
            if normalise and config.lrn_after_pool:
                x = lrn(x)
        if self.tower_axis is not None:  # the fully connected layers see every tower's maps
            x = jax.reshard(x, P())
        if self.adaptive_pool is not None:
            x = cnn.AdaptiveAvgPool(self.adaptive_pool, name="avgpool")(x)
        kernel_init, hidden_bias_init = self._inits(config.paper_fc_bias)
        return classifier(
            x,
            num_classes=self.num_classes,
            features=self.fc_features,
            dropout_rate=self.dropout_rate,
            train=train,
            kernel_init=kernel_init,
            hidden_bias_init=hidden_bias_init,
            dropout_before_fc=config.dropout_before_fc,
        )


register(
    "alexnet",
    AlexNet,
    input_shape=(227, 227, 3),
    description="AlexNet 2012, two towers (groups=2 in conv2/4/5), LRN, paper init",
)
register(
    "alexnet_single",
    AlexNet,
    input_shape=(227, 227, 3),
    towers=1,
    description="AlexNet 2012 widths as one dense network",
)
register(
    "alexnet_tv",
    AlexNet,
    input_shape=(224, 224, 3),
    config="tv",
    adaptive_pool=6,
    weight_init="he",
    description="AlexNet, torchvision layout (64-192-384-256-256, adaptive 6x6 pool)",
)
register(
    "zfnet",
    AlexNet,
    input_shape=(224, 224, 3),
    config="zfnet",
    description="ZFNet 2013 (7x7/2 conv1, 5x5/2 conv2, dense conv3-5)",
)
