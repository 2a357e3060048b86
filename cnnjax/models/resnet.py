"""Residual networks (He, Zhang, Ren, Sun 2015): the ImageNet ResNets in torchvision's layout and the CIFAR ResNets
of the paper's section 4.2, both from one residual block and one network module.

Registered variants (trainable parameters; BatchNorm running statistics are not counted):

  =========  ===========  ==============================  ====================  ==========
  name       parameters   blocks per stage                block, widths         input
  =========  ===========  ==============================  ====================  ==========
  resnet18   11,689,512   2, 2, 2, 2                      basic, 64-512         224x224x3
  resnet34   21,797,672   3, 4, 6, 3                      basic, 64-512         224x224x3
  resnet50   25,557,032   3, 4, 6, 3                      bottleneck, 64-512    224x224x3
  resnet101  44,549,160   3, 4, 23, 3                     bottleneck, 64-512    224x224x3
  resnet152  60,192,808   3, 8, 36, 3                     bottleneck, 64-512    224x224x3
  resnet20   269,722      3, 3, 3      (n = 3)            basic, 16-32-64       32x32x3
  resnet32   464,154      5, 5, 5      (n = 5)            basic, 16-32-64       32x32x3
  resnet44   658,586      7, 7, 7      (n = 7)            basic, 16-32-64       32x32x3
  resnet56   853,018      9, 9, 9      (n = 9)            basic, 16-32-64       32x32x3
  resnet110  1,727,962    18, 18, 18   (n = 18)           basic, 16-32-64       32x32x3
  =========  ===========  ==============================  ====================  ==========

Options (every variant takes all of them):
  version: 'v1.5' (default, torchvision) puts the stride of a downsampling bottleneck on its 3x3 conv; 'v1' (the
    paper, Caffe) on its first 1x1 conv. Same parameters; ResNet-50 costs 4.089 G MACs as v1.5, 3.86 G as v1.
    Basic blocks have a single place for the stride, so `version` changes nothing there.
  shortcut: 'B' (ImageNet default) projects with a 1x1 conv + BN where the shape changes; 'A' (CIFAR default) is
    parameter-free: subsample by the stride (x[:, ::s, ::s]) and zero-pad the new channels, half before and half
    after the old ones (as the widely used akamaster/pytorch_resnet_cifar10). resnet20 with 'B': 272,474 params.
  residual: False drops every shortcut (and its projection), the paper's "plain" network of the same depth
    (section 4.2: the degradation problem); as many parameters as shortcut 'A', which has none of its own.
  stem: 'imagenet' (default for the ImageNet models) is conv 7x7/2 pad 3 + BN + ReLU + max pool 3x3/2 pad 1, a 4x
    reduction; 'cifar' is conv 3x3/1 pad 1 + BN + ReLU, no pooling, for 32x32 or 28x28 inputs. The CIFAR models use
    'cifar'; `create('resnet18', stem='cifar', num_classes=10)` is the usual ResNet-18 for CIFAR-10 (11,681,832
    params with 1000 classes: the stem kernel shrinks from 7x7x3x64 to 3x3x3x64).
  stem_stride: the stride of the stem's conv, None = the stem's own (2 'imagenet', 1 'cifar'); `stem='cifar',
    stem_stride=2` halves the resolution before the first stage (28x28 inputs: stages at 14, 7, 4; 1/4 of the MACs).
Input channels are inferred, so the same models run on 28x28x1 Fashion-MNIST (a CIFAR model's stages then work at
28, 14 and 7 pixels). The head is a global average pool, so any input size that survives the strides works.

Initialisation: conv kernels He normal with fan_out (torchvision's kaiming_normal_(mode='fan_out')), BN scale 1 and
offset 0, the classifier PyTorch's default U(+-1/sqrt(fan_in)) kernel with a zero bias.

Variable names mirror torchvision's state dict ('.' becomes '/', a block's 'layerI.J' becomes 'layerI_J', and
`downsample.0` / `downsample.1` become `downsample_conv` / `downsample_bn`):

  torchvision                          here (params; BN running_mean/var -> batch_stats mean/var)
  conv1.weight                         conv1/kernel (OIHW -> HWIO)
  bn1.weight, bn1.bias                 bn1/scale, bn1/bias
  layer1.0.conv1.weight ... conv3      layer1_0/conv1/kernel ... layer1_0/conv3/kernel
  layer1.0.bn1.weight ... bn3          layer1_0/bn1/scale ... layer1_0/bn3/scale (and bias)
  layer2.0.downsample.0.weight         layer2_0/downsample_conv/kernel
  layer2.0.downsample.1.weight, .bias  layer2_0/downsample_bn/scale, layer2_0/downsample_bn/bias
  fc.weight, fc.bias                   fc/kernel (transposed), fc/bias

PyTorch's BN momentum 0.1 is `bn_momentum=0.9` here (Flax's convention). `ghost_batch_size=32` normalises each
group of 32 training images by its own statistics, as the paper's 8 GPUs did with 32 images each (the batch of
256 must be a multiple of it); None (default) normalises over the whole batch, across devices. The CIFAR models use
the same names (three stages: layer1 to layer3).
"""

from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import functional as F
from cnnjax import nn as cnn
from cnnjax.models.checks import checked_input
from cnnjax.models.options import Count, Counts, Fraction, Positive
from cnnjax.models.registry import register

VERSIONS = ("v1", "v1.5")
SHORTCUTS = ("A", "B")
STEMS = ("imagenet", "cifar")

conv_init = F.init.he_normal("fan_out", "normal")


def pad_shortcut(x: jax.Array, features: int, stride: int) -> jax.Array:
    """Option A shortcut: (N, H, W, C) -> (N, ceil(H / s), ceil(W / s), features), subsampled and zero-padded.

    The output size matches a 3x3 conv with padding 1 and stride s; the extra features - C channels are zeros, split
    evenly before and after the C input channels.
    """
    x = x[:, ::stride, ::stride, :]
    extra = features - x.shape[-1]
    return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))


class ResidualBlock(nn.Module):
    """A basic block (3x3, 3x3; output `features`) or a bottleneck (1x1, 3x3, 1x1; output 4 * `features`), each
    conv without bias and followed by BN, ReLU after the addition. (N, H, W, C) -> (N, H / s, W / s, out)."""

    features: int
    stride: int = 1
    bottleneck: bool = False
    version: str = "v1.5"
    shortcut: str = "B"
    residual: bool = True
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    ghost_batch_size: int | None = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        conv = partial(cnn.Conv, use_bias=False, kernel_init=conv_init)
        bn = partial(
            cnn.BatchNorm, momentum=self.bn_momentum, epsilon=self.bn_epsilon, ghost_batch_size=self.ghost_batch_size
        )
        if self.bottleneck:
            s1, s2 = (self.stride, 1) if self.version == "v1" else (1, self.stride)
            y = F.relu(bn(name="bn1")(conv(self.features, 1, s1, padding=0, name="conv1")(x), train=train))
            y = F.relu(bn(name="bn2")(conv(self.features, 3, s2, padding=1, name="conv2")(y), train=train))
            y = bn(name="bn3")(conv(4 * self.features, 1, padding=0, name="conv3")(y), train=train)
        else:
            y = F.relu(bn(name="bn1")(conv(self.features, 3, self.stride, padding=1, name="conv1")(x), train=train))
            y = bn(name="bn2")(conv(self.features, 3, padding=1, name="conv2")(y), train=train)
        if not self.residual:  # the paper's "plain" network: the same layers, no shortcut
            return F.relu(y)
        out = y.shape[-1]
        if self.stride != 1 or x.shape[-1] != out:
            if self.shortcut == "A":
                x = pad_shortcut(x, out, self.stride)
            else:
                x = conv(out, 1, self.stride, padding=0, name="downsample_conv")(x)
                x = bn(name="downsample_bn")(x, train=train)
        return F.relu(y + x)


class ResNet(nn.Module):
    """A residual network: stem, one stage per entry of `stage_sizes` (the first at stride 1, the others halving the
    resolution), global average pool, fc. (N, H, W, C) -> (N, num_classes). See the module docstring for options."""

    stage_sizes: Counts
    bottleneck: bool = False
    widths: Counts = (64, 128, 256, 512)
    num_classes: Count = 1000
    stem: str = "imagenet"
    stem_stride: Count | None = None
    version: str = "v1.5"
    shortcut: str = "B"
    residual: bool = True
    bn_momentum: Fraction = 0.9
    bn_epsilon: Positive = 1e-5
    ghost_batch_size: Count | None = None

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("version", self.version, VERSIONS),
            ("shortcut", self.shortcut, SHORTCUTS),
            ("stem", self.stem, STEMS),
        ):
            if value not in choices:
                raise ValueError(f"{name}: expected one of {choices}, got {value!r}")
        if self.stem_stride is not None and not (isinstance(self.stem_stride, int) and self.stem_stride >= 1):
            raise ValueError(f"stem_stride: expected None or a positive integer, got {self.stem_stride!r}")
        if len(self.widths) != len(self.stage_sizes):
            raise ValueError(
                f"widths: expected one width per stage ({len(self.stage_sizes)}), got {tuple(self.widths)}"
            )
        super().__post_init__()

    @nn.compact
    @checked_input
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        kernel, stride = (7, 2) if self.stem == "imagenet" else (3, 1)
        stride = stride if self.stem_stride is None else self.stem_stride
        x = cnn.Conv(
            self.widths[0], kernel, stride, padding=kernel // 2, use_bias=False, kernel_init=conv_init, name="conv1"
        )(x)
        stem_bn = cnn.BatchNorm(self.bn_momentum, self.bn_epsilon, ghost_batch_size=self.ghost_batch_size, name="bn1")
        x = F.relu(stem_bn(x, train=train))
        if self.stem == "imagenet":
            x = cnn.MaxPool(3, 2, padding=1, name="maxpool")(x)
        block = partial(
            ResidualBlock,
            bottleneck=self.bottleneck,
            version=self.version,
            shortcut=self.shortcut,
            residual=self.residual,
            ghost_batch_size=self.ghost_batch_size,
            bn_momentum=self.bn_momentum,
            bn_epsilon=self.bn_epsilon,
        )
        for i, (size, width) in enumerate(zip(self.stage_sizes, self.widths)):
            for j in range(size):
                stride = 2 if i > 0 and j == 0 else 1
                x = block(width, stride, name=f"layer{i + 1}_{j}")(x, train=train)
        x = cnn.GlobalAvgPool(name="avgpool")(x)
        return cnn.Dense(self.num_classes, kernel_init=F.init.torch_default(), name="fc")(x)


_IMAGENET = dict(input_shape=(224, 224, 3))
_CIFAR = dict(input_shape=(32, 32, 3), widths=(16, 32, 64), num_classes=10, stem="cifar", shortcut="A")
register("resnet18", ResNet, **_IMAGENET, stage_sizes=(2, 2, 2, 2), description="ResNet-18, torchvision layout")
register("resnet34", ResNet, **_IMAGENET, stage_sizes=(3, 4, 6, 3), description="ResNet-34, torchvision layout")
register(
    "resnet50",
    ResNet,
    **_IMAGENET,
    stage_sizes=(3, 4, 6, 3),
    bottleneck=True,
    description="ResNet-50, torchvision layout (He et al. 2015)",
)
register(
    "resnet101",
    ResNet,
    **_IMAGENET,
    stage_sizes=(3, 4, 23, 3),
    bottleneck=True,
    description="ResNet-101, torchvision layout",
)
register(
    "resnet152",
    ResNet,
    **_IMAGENET,
    stage_sizes=(3, 8, 36, 3),
    bottleneck=True,
    description="ResNet-152, torchvision layout",
)
register("resnet20", ResNet, **_CIFAR, stage_sizes=(3, 3, 3), description="CIFAR ResNet-20 (section 4.2, n = 3)")
register("resnet32", ResNet, **_CIFAR, stage_sizes=(5, 5, 5), description="CIFAR ResNet-32 (n = 5)")
register("resnet44", ResNet, **_CIFAR, stage_sizes=(7, 7, 7), description="CIFAR ResNet-44 (n = 7)")
register("resnet56", ResNet, **_CIFAR, stage_sizes=(9, 9, 9), description="CIFAR ResNet-56 (n = 9)")
register("resnet110", ResNet, **_CIFAR, stage_sizes=(18, 18, 18), description="CIFAR ResNet-110 (n = 18)")
