"""Initialisers (jax.nn.initializers, which treat HWIO kernels correctly: fan_in = kh * kw * C_in)."""

from __future__ import annotations

from jax.nn import initializers


def he_normal(mode: str = "fan_in", distribution: str = "truncated_normal"):
    """He et al. 2015: variance 2 / fan. The defaults are `jax.nn.initializers.he_normal`'s; torchvision's
    `kaiming_normal_(mode='fan_out')` (VGG, ResNet) is `he_normal("fan_out", "normal")`, U-Net's N(0, 2 / fan_in)
    `he_normal("fan_in", "normal")`."""
    return initializers.variance_scaling(2.0, mode, distribution)


he_uniform = initializers.he_uniform
glorot_normal = initializers.glorot_normal
glorot_uniform = initializers.glorot_uniform
lecun_normal = initializers.lecun_normal
lecun_uniform = initializers.lecun_uniform
zeros = initializers.zeros
ones = initializers.ones
constant = initializers.constant


def normal(sigma: float = 0.01):
    """N(0, sigma^2), e.g. AlexNet's N(0, 0.01^2)."""
    return initializers.normal(stddev=sigma)


def torch_default(fan_axis: str = "fan_in"):
    """PyTorch's default for Conv/Linear weights: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform, a=sqrt(5))."""
    return initializers.variance_scaling(1.0 / 3.0, fan_axis, "uniform")
