"""Flax Linen modules: they declare parameters and state and call `cnnjax.functional`; no op is implemented twice.

Modules with variables derive from `cnnjax.nn.Module` (fields `dtype`, `param_dtype`, float32 by default).
"""

from cnnjax.nn.base import MacsRule, Module
from cnnjax.nn.conv import Conv, ConvTranspose, Dense, LocallyConnected
from cnnjax.nn.layers import (
    AdaptiveAvgPool,
    AvgPool,
    BatchNorm,
    ChannelMaxPool,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Lambda,
    LocalResponseNorm,
    LpPool,
    MaxPool,
    Sequential,
)

__all__ = [
    "AdaptiveAvgPool",
    "AvgPool",
    "BatchNorm",
    "ChannelMaxPool",
    "Conv",
    "ConvTranspose",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool",
    "Lambda",
    "LocalResponseNorm",
    "LocallyConnected",
    "LpPool",
    "MacsRule",
    "MaxPool",
    "Module",
    "Sequential",
]
