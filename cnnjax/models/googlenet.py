"""GoogLeNet / Inception v1 (Szegedy et al. 2014), in the paper's layout and in torchvision's.

  ============  ==========  ============  ======  =====================================================
  name          parameters  with aux      MACs    layout
  ============  ==========  ============  ======  =====================================================
  googlenet     6,998,552   13,378,280    1.583G  the paper's Table 1 (as Caffe's bvlc_googlenet)
  googlenet_tv  6,624,904   13,004,888    1.498G  torchvision.models.googlenet
  ============  ==========  ============  ======  =====================================================

Both take 224x224x3 and return (N, num_classes) logits. With `aux_logits=True` the two auxiliary classifiers (on
the outputs of inception 4a and 4d) are built, and in training (`train=True`) the model returns the tuple
(logits, aux1, aux2); in evaluation it returns the logits alone and skips the auxiliary heads. The paper weights
each auxiliary loss by 0.3.

layout='paper' (`googlenet`): convs with bias and ReLU, no BN; conv1 7x7/2 64, max pool 3x3/2, LRN, conv2 1x1 64,
  conv3 3x3 192, LRN, max pool 3x3/2, inception 3a 3b, max pool 3x3/2, 4a-4e, max pool 3x3/2, 5a 5b, average pool,
  dropout 0.4, fc. The "5x5" branch uses real 5x5 convs. LRN is Caffe's (size 5, alpha 1e-4 averaged over the
  window, beta 0.75, k 1). Max pools use ceil mode like Caffe (112 -> 56 -> 28 -> 14 -> 7, the paper's sizes). The
  7x7 average pool is a global average pool (the same at 224; it lets smaller inputs run). Aux heads: average pool
  5x5/3, 1x1 conv 128, fc 1024, ReLU, dropout 0.7, fc. Init as Caffe: kernels "xavier" (= LeCun uniform), conv
  biases 0.2, fc biases 0. Inputs from 47 pixels (79 with the aux heads, for their 5x5 pool at 4a).
layout='torchvision' (`googlenet_tv`): every conv is torchvision's BasicConv2d, conv (no bias) + BN (eps 1e-3) +
  ReLU; no LRN; the "5x5" branch is a 3x3 conv (a known deviation of torchvision); max pools 3x3/2 with ceil mode,
  the one before 5a 2x2/2; global average pool, dropout 0.2, fc. Aux heads: adaptive average pool to 4x4, 1x1
  BasicConv2d 128, fc 2048 -> 1024, ReLU, dropout 0.7, fc. Init: kernels N(0, 0.01) as torchvision. Inputs from 31
  pixels. torchvision's `transform_input` (on only for its pretrained weights) is not part of the model: with
  those weights, feed (x - 0.5) / 0.5 per channel (x in [0, 1]) instead of ImageNet-normalised inputs.

Variable names mirror torchvision's state dict ('.' becomes '/', 'branch2.0' becomes 'branch2_0'):

  torchvision                                 here
  conv1.conv.weight, conv1.bn.*               conv1/conv/kernel (OIHW -> HWIO), conv1/bn/{scale,bias}, batch_stats
  conv2, conv3                                conv2/..., conv3/...
  inception3a.branch1.conv.weight             inception3a/branch1/conv/kernel
  inception3a.branch2.0 / branch2.1           inception3a/branch2_0 / branch2_1   (1x1 reduce, 3x3)
  inception3a.branch3.0 / branch3.1           inception3a/branch3_0 / branch3_1   (1x1 reduce, "5x5")
  inception3a.branch4.1                       inception3a/branch4_1               (pool projection; 4.0 is the pool)
  aux1.conv.conv.weight, aux1.conv.bn.*       aux1/conv/conv/kernel, aux1/conv/bn/...
  aux1.fc1, aux1.fc2                          aux1/fc1, aux1/fc2 (kernels transposed)
  fc                                          fc

The paper layout has the same names with a 'bias' in every 'conv' and no 'bn'. Note for weight conversion:
aux*/fc1's input is the 4x4x128 map flattened here in (h, w, c) order, in torchvision in (c, h, w) order.

Small inputs: `small_input=True` makes conv1 3x3/1 pad 1 (as AlexNet's `small_input`), the rest as published, so a
28x28 image reaches inception 3a at 7x7 (224 reaches it at 28x28), 4a at 4x4 and 5a at 2x2 (the aux heads need
larger inputs). `width` multiplies the feature maps of conv1-conv3 and of every inception branch (not the aux
heads), e.g. 0.25 for 1/16 of the MACs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import functional as F
from cnnjax import nn as cnn
from cnnjax.models.checks import checked_input
from cnnjax.models.options import Count, Positive
from cnnjax.models.outputs import OutputSpec
from cnnjax.models.registry import register
from cnnjax.models.width import scaled

AUX_LOSS_WEIGHT = 0.3  # Szegedy et al. 2014: each auxiliary classifier's loss is weighted by 0.3 in training.


@dataclasses.dataclass(frozen=True)
class Layout:
    """What differs between the paper's GoogLeNet and torchvision's."""

    batch_norm: bool  # conv (no bias) + BN(eps 1e-3) + ReLU, else conv with bias + ReLU
    lrn: bool  # LRN after the first max pool and after conv3
    branch3_kernel: int  # the "5x5" branch's kernel
    pool4_window: int  # the max pool before inception 5a
    aux_adaptive_pool: bool  # aux heads pool adaptively to 4x4, else 5x5/3
    dropout: float  # before the classifier
    kernel_init: Callable
    conv_bias: float


LAYOUTS = {
    "paper": Layout(False, True, 5, 3, False, 0.4, F.init.lecun_uniform(), 0.2),
    "torchvision": Layout(True, False, 3, 2, True, 0.2, F.init.normal(0.01), 0.0),
}

# Filters per branch, Table 1 of the paper: 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj (inputs follow from the
# previous module).
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


class ConvUnit(nn.Module):
    """torchvision's BasicConv2d: conv + (BN) + ReLU, per `LAYOUTS[layout]`. (N, H, W, C) -> (N, H', W', features)."""

    features: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    layout: str = "paper"

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        spec = LAYOUTS[self.layout]
        x = cnn.Conv(
            self.features,
            self.kernel_size,
            self.stride,
            padding=self.padding,
            use_bias=not spec.batch_norm,
            kernel_init=spec.kernel_init,
            bias_init=F.init.constant(spec.conv_bias),
            name="conv",
        )(x)
        if spec.batch_norm:
            x = cnn.BatchNorm(epsilon=1e-3, name="bn")(x, train=train)
        return F.relu(x)


class Inception(nn.Module):
    """Four parallel branches concatenated on channels: 1x1; 1x1 -> 3x3; 1x1 -> "5x5"; max pool 3x3/1 -> 1x1.

    (N, H, W, C) -> (N, H, W, ch1x1 + ch3x3 + ch5x5 + pool_proj).
    """

    ch1x1: int
    ch3x3red: int
    ch3x3: int
    ch5x5red: int
    ch5x5: int
    pool_proj: int
    layout: str = "paper"

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        unit = partial(ConvUnit, layout=self.layout)
        k = LAYOUTS[self.layout].branch3_kernel
        b1 = unit(self.ch1x1, 1, name="branch1")(x, train=train)
        b2 = unit(self.ch3x3red, 1, name="branch2_0")(x, train=train)
        b2 = unit(self.ch3x3, 3, padding=1, name="branch2_1")(b2, train=train)
        b3 = unit(self.ch5x5red, 1, name="branch3_0")(x, train=train)
        b3 = unit(self.ch5x5, k, padding=k // 2, name="branch3_1")(b3, train=train)
        b4 = cnn.MaxPool(3, 1, padding=1, ceil_mode=True, name="branch4_0")(x)
        b4 = unit(self.pool_proj, 1, name="branch4_1")(b4, train=train)
        return jnp.concatenate([b1, b2, b3, b4], axis=-1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: pool to 4x4 (at 224 input), 1x1 conv 128, fc 1024, ReLU, dropout 0.7, fc.

    (N, 14, 14, C) -> (N, num_classes).
    """

    num_classes: int
    layout: str = "paper"

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        spec = LAYOUTS[self.layout]
        x = cnn.AdaptiveAvgPool(4, name="pool")(x) if spec.aux_adaptive_pool else cnn.AvgPool(5, 3, name="pool")(x)
        x = ConvUnit(128, 1, layout=self.layout, name="conv")(x, train=train)
        x = F.relu(cnn.Dense(1024, kernel_init=spec.kernel_init, name="fc1")(cnn.Flatten(name="flatten")(x)))
        x = cnn.Dropout(0.7)(x, train=train)
        return cnn.Dense(self.num_classes, kernel_init=spec.kernel_init, name="fc2")(x)


class GoogLeNet(nn.Module):
    """GoogLeNet; (N, H, W, C) -> (N, num_classes), or (logits, aux1, aux2) when `aux_logits` and `train`.

    See the module docstring for the two layouts and the variable names.
    """

    num_classes: Count = 1000
    layout: str = "paper"
    aux_logits: bool = False
    small_input: bool = False
    width: Positive = 1.0

    @property
    def outputs(self) -> OutputSpec:
        """A classifier; with `aux_logits`, two auxiliary classifiers whose losses the paper weights by 0.3."""
        aux = (("aux1", AUX_LOSS_WEIGHT), ("aux2", AUX_LOSS_WEIGHT)) if self.aux_logits else ()
        return OutputSpec("classification", aux)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout: expected one of {tuple(LAYOUTS)}, got {self.layout!r}")
        super().__post_init__()

    @nn.compact
    @checked_input
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array | tuple[jax.Array, jax.Array, jax.Array]:
        spec = LAYOUTS[self.layout]
        unit = partial(ConvUnit, layout=self.layout)
        pool = partial(cnn.MaxPool, stride=2, ceil_mode=True)

        def lrn(y: jax.Array, name: str) -> jax.Array:
            return cnn.LocalResponseNorm(5, 1e-4, 0.75, k=1.0, average=True, name=name)(y) if spec.lrn else y

        w = partial(scaled, width=self.width)
        kernel, stride = (3, 1) if self.small_input else (7, 2)
        x = unit(w(64), kernel, stride, padding=kernel // 2, name="conv1")(x, train=train)
        x = lrn(pool(3, name="maxpool1")(x), "lrn1")
        x = unit(w(64), 1, name="conv2")(x, train=train)
        x = unit(w(192), 3, padding=1, name="conv3")(x, train=train)
        x = pool(3, name="maxpool2")(lrn(x, "lrn2"))
        build_aux = self.aux_logits and (train or self.is_initializing())
        aux = []
        for stage, widths in INCEPTION.items():
            x = Inception(*map(w, widths), layout=self.layout, name=f"inception{stage}")(x, train=train)
            if build_aux and stage in ("4a", "4d"):
                aux.append(InceptionAux(self.num_classes, self.layout, name=f"aux{len(aux) + 1}")(x, train=train))
            if stage == "3b":
                x = pool(3, name="maxpool3")(x)
            elif stage == "4e":
                x = pool(spec.pool4_window, name="maxpool4")(x)
        x = cnn.GlobalAvgPool(name="avgpool")(x)
        x = cnn.Dropout(spec.dropout)(x, train=train)
        logits = cnn.Dense(self.num_classes, kernel_init=spec.kernel_init, name="fc")(x)
        return (logits, *aux) if self.aux_logits and train else logits


register(
    "googlenet",
    GoogLeNet,
    input_shape=(224, 224, 3),
    description="GoogLeNet, the paper's layout (Szegedy et al. 2014): biases, LRN, 5x5 branches",
    layout="paper",
)
register(
    "googlenet_tv",
    GoogLeNet,
    input_shape=(224, 224, 3),
    description="GoogLeNet, torchvision's layout: BN, 3x3 in the '5x5' branch, no LRN",
    layout="torchvision",
)
