"""Flax Linen modules: they declare parameters and state and call `cnnjax.functional`; no op is implemented twice."""

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
    "AdaptiveAvgPool", "AvgPool", "BatchNorm", "ChannelMaxPool", "Conv", "ConvTranspose", "Dense", "Dropout",
    "Flatten", "GlobalAvgPool", "Lambda", "LocalResponseNorm", "LocallyConnected", "LpPool", "MaxPool", "Sequential",
]
