"""VGG (Simonyan & Zisserman 2014): one module driven by the paper's Table 1 configurations, with optional BN.

| name        | config  | weight layers | parameters  | with `batch_norm=True` (`*_bn`) |
|-------------|---------|---------------|-------------|---------------------------------|
| `vgg11`     | 'A'     | 11            | 132,863,336 | `vgg11_bn` 132,868,840          |
| `vgg11_lrn` | 'A-LRN' | 11            | 132,863,336 |                                 |
| `vgg13`     | 'B'     | 13            | 133,047,848 | `vgg13_bn` 133,053,736          |
| `vgg16_c`   | 'C'     | 16            | 133,638,952 |                                 |
| `vgg16`     | 'D'     | 16            | 138,357,544 | `vgg16_bn` 138,365,992          |
| `vgg19`     | 'E'     | 19            | 143,667,240 | `vgg19_bn` 143,678,248          |

(N, 224, 224, 3) -> (N, num_classes). Five blocks of stride-1 convolutions (3x3 pad 1, or 1x1 pad 0 in config C's
last layer of blocks 3-5), each conv followed by [BatchNorm (eps 1e-5)] and ReLU, each block by a 2x2/2 max-pool
(224 -> 7); A-LRN adds a local response normalisation (AlexNet's constants) after conv1_1. Then, in torchvision's
layout, an adaptive average pool to 7x7 and fc1 4096 - ReLU - dropout - fc2 4096 - ReLU - dropout - fc3.

Submodule names: conv{block}_{i} and bn{block}_{i} (i counts from 1 inside the block, as in the paper), lrn1_1
(A-LRN), pool{block}, fc1, fc2, fc3; `cnnjax.convert` maps them onto torchvision's (configs A, B, D, E), e.g. for
vgg16 conv1_1 = features.0, conv5_3 = features.28, fc1 = classifier.0. fc1's input rows are in NHWC flatten order
(h, w, c); torchvision flattens (c, h, w).

Small inputs: at 32x32 the features end in 1x1x512 maps, which the default adaptive pool replicates to 7x7 (fc1
stays 25088 x 4096). `adaptive_pool=None, fc_features=512` gives the usual CIFAR head, 512 - 512 - 512 - classes.
`width` multiplies the feature maps of every conv layer (e.g. 0.25: 16-32-64-128-128, 1/16 of the conv MACs).

Initialisation (`weight_init`): 'torchvision' (the default): convs He-normal with fan_out, Dense N(0, 0.01^2), biases 0,
BN scale 1; 'glorot': every kernel Glorot-uniform, biases 0 -- the paper's footnote 1 ("it is possible to initialise
the weights without pre-training by using the random initialisation procedure of Glorot & Bengio"). With narrow
layers (a small `width`, no adaptive pool) the fc layers' fan-in shrinks (128 for width 0.25 at 32x32), and
N(0, 0.01^2) then scales the signal by ~0.1 per fc layer: the logits start at ~1e-3 and training stays at ln(classes).
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax

from cnnjax import functional as F
from cnnjax import nn as cnn
from cnnjax.models.checks import checked_input
from cnnjax.models.heads import classifier
from cnnjax.models.options import Count, Positive, Rate
from cnnjax.models.registry import register
from cnnjax.models.width import scaled


class VGGConv(NamedTuple):
    """One conv layer of Table 1: `features` maps, `kernel_size` x `kernel_size`, optionally followed by LRN."""

    features: int
    kernel_size: int = 3
    lrn: bool = False


_64, _128, _256, _512 = VGGConv(64), VGGConv(128), VGGConv(256), VGGConv(512)

# Simonyan & Zisserman, Table 1: the conv layers of each of the five blocks (a max-pool follows every block).
CONFIGS: dict[str, tuple[tuple[VGGConv, ...], ...]] = {
    "A": ((_64,), (_128,), (_256, _256), (_512, _512), (_512, _512)),
    "A-LRN": ((VGGConv(64, lrn=True),), (_128,), (_256, _256), (_512, _512), (_512, _512)),
    "B": ((_64, _64), (_128, _128), (_256, _256), (_512, _512), (_512, _512)),
    "C": (
        (_64, _64),
        (_128, _128),
        (_256, _256, VGGConv(256, 1)),
        (_512, _512, VGGConv(512, 1)),
        (_512, _512, VGGConv(512, 1)),
    ),
    "D": ((_64, _64), (_128, _128), (_256, _256, _256), (_512, _512, _512), (_512, _512, _512)),
    "E": ((_64, _64), (_128, _128), (_256,) * 4, (_512,) * 4, (_512,) * 4),
}


def blocks(config: str) -> tuple[tuple[VGGConv, ...], ...]:
    """The conv layers of each block of a configuration."""
    if config not in CONFIGS:
        raise ValueError(f"config: expected one of {sorted(CONFIGS)}, got {config!r}")
    return CONFIGS[config]


# weight_init -> (conv kernel initialiser, fc kernel initialiser)
WEIGHT_INITS = {
    "torchvision": (F.init.he_normal("fan_out", "normal"), F.init.normal(0.01)),
    "glorot": (F.init.glorot_uniform(), F.init.glorot_uniform()),
}


class VGG(nn.Module):
    """VGG classifier: (N, H, W, C) -> (N, num_classes) logits, H, W >= 32. See the module docstring.

    Attributes:
      num_classes: output classes.
      config: a key of `CONFIGS`: 'A', 'A-LRN', 'B', 'C', 'D', 'E'.
      batch_norm: BatchNorm after every conv (torchvision's vgg*_bn; the conv keeps its bias).
      adaptive_pool: average-pool the last maps to this size (torchvision: 7); None flattens them as they are.
      fc_features: width of fc1 and fc2.
      dropout_rate: dropout after fc1 and fc2.
      width: multiplier of every conv layer's feature maps (1.0 = Table 1's).
      weight_init: 'torchvision' or 'glorot' (see the module docstring).
    """

    num_classes: Count = 1000
    config: str = "D"
    batch_norm: bool = False
    adaptive_pool: Count | None = 7
    fc_features: Count = 4096
    dropout_rate: Rate = 0.5
    width: Positive = 1.0
    weight_init: str = "torchvision"

    @nn.compact
    @checked_input
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        if self.weight_init not in WEIGHT_INITS:
            raise ValueError(f"weight_init: expected one of {list(WEIGHT_INITS)}, got {self.weight_init!r}")
        conv_init, fc_init = WEIGHT_INITS[self.weight_init]
        for b, block in enumerate(blocks(self.config), start=1):
            for i, layer in enumerate(block, start=1):
                x = cnn.Conv(
                    scaled(layer.features, self.width),
                    layer.kernel_size,
                    padding=layer.kernel_size // 2,
                    kernel_init=conv_init,
                    name=f"conv{b}_{i}",
                )(x)
                if self.batch_norm:
                    x = cnn.BatchNorm(name=f"bn{b}_{i}")(x, train=train)
                x = F.relu(x)
                if layer.lrn:
                    x = cnn.LocalResponseNorm(name=f"lrn{b}_{i}")(x)
            x = cnn.MaxPool(2, name=f"pool{b}")(x)
        if self.adaptive_pool is not None:
            x = cnn.AdaptiveAvgPool(self.adaptive_pool, name="avgpool")(x)
        return classifier(
            x,
            num_classes=self.num_classes,
            features=self.fc_features,
            dropout_rate=self.dropout_rate,
            train=train,
            kernel_init=fc_init,
        )


_VGG = dict(input_shape=(224, 224, 3))
register("vgg11", VGG, **_VGG, config="A", description="VGG configuration A")
register("vgg11_lrn", VGG, **_VGG, config="A-LRN", description="VGG configuration A-LRN")
register("vgg13", VGG, **_VGG, config="B", description="VGG configuration B")
register("vgg16_c", VGG, **_VGG, config="C", description="VGG configuration C (1x1 convs closing blocks 3-5)")
register("vgg16", VGG, **_VGG, config="D", description="VGG configuration D")
register("vgg19", VGG, **_VGG, config="E", description="VGG configuration E")
register("vgg11_bn", VGG, **_VGG, config="A", batch_norm=True, description="VGG A with batch normalisation")
register("vgg13_bn", VGG, **_VGG, config="B", batch_norm=True, description="VGG B with batch normalisation")
register("vgg16_bn", VGG, **_VGG, config="D", batch_norm=True, description="VGG D with batch normalisation")
register("vgg19_bn", VGG, **_VGG, config="E", batch_norm=True, description="VGG E with batch normalisation")
