"""U-Net (Ronneberger, Fischer, Brox 2015) for segmentation: per-pixel logits, no classifier head.

Contracting path: enc1..enc5, each two 3x3 convs + ReLU with widths 64, 128, 256, 512, 1024, a 2x2/2 max-pool
between them. Expanding path, for level l = 4..1: upconv{l} (a 2x2 stride-2 transposed conv halving the channels),
concatenation with enc{l}'s output (the skip; upconv output first, then the skip), dec{l} (two 3x3 convs + ReLU).
Then `final`, a 1x1 conv to `out_channels` (2 classes like the paper). Every submodule keeps its name whatever the
padding: enc{l}/conv1, enc{l}/conv2, upconv{l}, dec{l}/conv1, dec{l}/conv2, final.

`padding='SAME'` (default): 3x3 convs pad 1, the output has the input's size, H and W divisible by 16. The
registered native input is 512x512x1, the size of the paper's ISBI 2012 EM images -> (N, 512, 512, 2).
`padding='VALID'`: unpadded convs, and each skip is center-cropped to the upsampled map, exactly as the paper's
Fig. 1: (N, 572, 572, 1) -> (N, 388, 388, 2). Every max-pool must see an even size (the paper's rule for the tile
size): inputs 188 + 16 k work.

31,030,658 parameters with one input channel and out_channels 2 (either padding): for level widths c_1..c_5,
enc{l}: 9 c_{l-1} c_l + c_l + 9 c_l^2 + c_l (c_0 = input channels); upconv{l}: 4 c_{l+1} c_l + c_l;
dec{l}: 9 (2 c_l) c_l + c_l + 9 c_l^2 + c_l; final: c_1 out_channels + out_channels.
Initialisation as the paper's: weights N(0, 2 / fan_in), biases 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax import functional as F
from cnnjax import nn as cnn
from cnnjax.models.checks import checked_input
from cnnjax.models.options import Count, Counts
from cnnjax.models.outputs import OutputSpec
from cnnjax.models.registry import register

PADDINGS = ("SAME", "VALID")
_he = F.init.he_normal("fan_in", "normal")  # the paper's N(0, 2 / fan_in)


def center_crop(x: jax.Array, size: Sequence[int]) -> jax.Array:
    """Crops (N, H, W, C) to its central (N, *size, C); the extra row/column of an odd margin is cut at the end."""
    (h, w), (th, tw) = x.shape[1:3], tuple(size)
    if th > h or tw > w:
        raise ValueError(f"size: expected a crop no larger than the map {(h, w)}, got {(th, tw)}")
    top, left = (h - th) // 2, (w - tw) // 2
    return x[:, top : top + th, left : left + tw, :]


def valid_output_size(n: int, levels: int = 5) -> int | None:
    """Output size of a 'VALID' U-Net for input size n, or None when some max-pool would see an odd size or a
    map would vanish. 572 -> 388."""
    for _ in range(levels - 1):  # each double conv takes 4 pixels, each pool halves an even size
        n -= 4
        if n < 2 or n % 2:
            return None
        n //= 2
    n -= 4
    for _ in range(levels - 1):  # each upconv doubles, each double conv takes 4
        n = 2 * n - 4
    return n if n >= 1 else None


class DoubleConv(nn.Module):
    """Two 3x3 convs, each + ReLU: (N, H, W, C) -> (N, H', W', features), H' = H ('SAME') or H - 4 ('VALID')."""

    features: int
    padding: str = "SAME"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        padding = 1 if self.padding == "SAME" else 0
        x = F.relu(cnn.Conv(self.features, 3, padding=padding, kernel_init=_he, name="conv1")(x))
        return F.relu(cnn.Conv(self.features, 3, padding=padding, kernel_init=_he, name="conv2")(x))


class UNet(nn.Module):
    """U-Net: (N, H, W, C) -> (N, H_out, W_out, out_channels) logits. See the module docstring.

    Attributes:
      out_channels: output maps (segmentation classes).
      features: widths of the contracting path, one per level (the paper's 64, 128, 256, 512, 1024).
      padding: 'SAME' (output size = input size) or 'VALID' (the paper's unpadded convs with cropped skips).
    """

    outputs: ClassVar[OutputSpec] = OutputSpec("segmentation")

    out_channels: Count = 2
    features: Counts = (64, 128, 256, 512, 1024)
    padding: str = "SAME"

    def _check_input(self, shape: Sequence[int]) -> None:
        levels = len(self.features)
        if self.padding == "SAME":
            scale = 2 ** (levels - 1)
            if any(n % scale for n in shape):
                raise ValueError(f"x: expected H and W divisible by {scale} with padding='SAME', got {tuple(shape)}")
        elif any(valid_output_size(n, levels) is None for n in shape):
            raise ValueError(
                f"x: with padding='VALID' every max-pool needs an even size and the output must not vanish "
                f"(for 5 levels: 188 + 16 k, e.g. 572), got spatial size {tuple(shape)}"
            )

    @nn.compact
    @checked_input
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        if self.padding not in PADDINGS:
            raise ValueError(f"padding: expected one of {list(PADDINGS)}, got {self.padding!r}")
        self._check_input(x.shape[1:3])
        skips = []
        for level, width in enumerate(self.features, start=1):
            if level > 1:
                x = cnn.MaxPool(2, name=f"pool{level}")(x)
            x = DoubleConv(width, self.padding, name=f"enc{level}")(x)
            skips.append(x)
        for level in range(len(self.features) - 1, 0, -1):
            width = self.features[level - 1]
            x = cnn.ConvTranspose(width, 2, stride=2, padding="VALID", kernel_init=_he, name=f"upconv{level}")(x)
            x = jnp.concatenate([x, center_crop(skips[level - 1], x.shape[1:3])], axis=-1)
            x = DoubleConv(width, self.padding, name=f"dec{level}")(x)
        return cnn.Conv(self.out_channels, 1, padding=0, kernel_init=_he, name="final")(x)


register(
    "unet",
    UNet,
    input_shape=(512, 512, 1),
    description="U-Net 2015, 64-1024 widths, 2 output classes, SAME padding (VALID: 572 -> 388)",
)
