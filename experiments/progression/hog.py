"""HOG-like descriptors (Dalal & Triggs 2005) built from cnnjax's fixed filters and convolutions.

    feats = hog(images, HogSpec(cells=(4, 7), orientations=9))     # (N, H, W, 1) in [0, 1] -> (N, D)

Steps, each a pure function of arrays:
  1. `gradients`: the Sobel filters `fixed_filter('sobel_x' / 'sobel_y')` through `cnnjax.functional.conv`, on the
     image with its border replicated (so the image frame adds no edge).
  2. `orientation_channels`: the gradient magnitude split between the two nearest of `n` orientation bins (linear
     "soft" binning; unsigned orientations in [0, pi) by default, bin k centred on k*pi/n, so bin 0 holds horizontal
     gradients, i.e. vertical edges).
  3. `cell_histograms`: per-cell sums of those channels; with `spatial_interp` each pixel is shared bilinearly
     between its neighbouring cells (a tent of width 2c, as Dalal & Triggs' trilinear interpolation).
  4. `block_normalize`: 2x2-cell blocks (stride one cell), L2 or L2-Hys normalised.
  5. Optionally a square root of the descriptor (power normalisation), then the scales are concatenated.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import functional as F

NORMS = ("l2", "l2hys")


@dataclasses.dataclass(frozen=True)
class HogSpec:
    """The descriptor's settings.

    Attributes:
      cells: cell sizes in pixels; one descriptor per size, concatenated.
      orientations: number of orientation bins.
      signed: orientations in [0, 2 pi) (the gradient's direction) instead of [0, pi).
      block: cells per block side (blocks overlap by all but one cell).
      norm: block normalisation, 'l2' or 'l2hys' (L2, clip at `clip`, L2 again).
      clip: the L2-Hys clipping threshold.
      spatial_interp: share each pixel bilinearly between neighbouring cells (else hard cells).
      power: exponent applied to the normalised descriptor (0.5: square root; 1: none).
    """

    cells: tuple[int, ...] = (4,)
    orientations: int = 9
    signed: bool = False
    block: int = 2
    norm: str = "l2hys"
    clip: float = 0.2
    spatial_interp: bool = True
    power: float = 1.0

    def __post_init__(self):
        if not self.cells or not all(isinstance(c, int) and c >= 2 for c in self.cells):
            raise ValueError(f"cells: expected a non-empty tuple of ints >= 2, got {self.cells!r}")
        if not isinstance(self.orientations, int) or self.orientations < 2:
            raise ValueError(f"orientations: expected an int >= 2, got {self.orientations!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm: expected one of {NORMS}, got {self.norm!r}")
        if not 0 < self.power <= 1:
            raise ValueError(f"power: expected a value in (0, 1], got {self.power!r}")

    def dim(self, height: int, width: int) -> int:
        """The descriptor length for (height, width) images."""
        total = 0
        for c in self.cells:
            by, bx = height // c - self.block + 1, width // c - self.block + 1
            if by < 1 or bx < 1:
                raise ValueError(f"cells: cell size {c} leaves no {self.block}x{self.block} block in {height}x{width}")
            total += by * bx * self.block**2 * self.orientations
        return total


def gradients(images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Sobel gradients: (N, H, W, 1) -> gx, gy, each (N, H, W); gx > 0 where intensity grows to the right, gy > 0
    where it grows upwards (`fixed_filter('sobel_y')` has its positive row on top)."""
    kernel = jnp.asarray(
        np.concatenate([F.as_kernel(F.fixed_filter("sobel_x")), F.as_kernel(F.fixed_filter("sobel_y"))], axis=-1)
    )  # (3, 3, 1, 2)
    padded = jnp.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    g = F.conv(padded, kernel, padding="VALID")
    return g[..., 0], g[..., 1]


def orientation_channels(gx: jax.Array, gy: jax.Array, orientations: int, signed: bool = False) -> jax.Array:
    """The magnitude split linearly between the two nearest orientation bins: (N, H, W) x 2 -> (N, H, W, n).

    Bin k is centred on k * period / n (period pi, or 2 pi when `signed`); the bins wrap around.
    """
    magnitude = jnp.sqrt(gx**2 + gy**2)
    period = 2 * jnp.pi if signed else jnp.pi
    theta = jnp.mod(jnp.arctan2(gy, gx), period)
    position = theta * (orientations / period)
    lower = jnp.floor(position)
    upper_weight = position - lower
    lower = lower.astype(jnp.int32) % orientations
    upper = (lower + 1) % orientations
    bins = jax.nn.one_hot(lower, orientations) * (1 - upper_weight)[..., None]
    bins = bins + jax.nn.one_hot(upper, orientations) * upper_weight[..., None]
    return bins * magnitude[..., None]


def cell_weights(size: int, cell: int, spatial_interp: bool = True) -> np.ndarray:
    """The weight of each pixel along one axis in each cell's histogram: (size // cell, size).

    Hard cells: 1 inside cell k, [k c, (k + 1) c). Bilinear: the tent max(0, 1 - |x - centre_k| / c) around the cell's
    centre (k + 1/2) c - 1/2, so that the tents of neighbouring cells sum to 1 at every interior pixel.
    """
    x = np.arange(size)[None, :]
    k = np.arange(size // cell)[:, None]
    if not spatial_interp:
        return (x // cell == k).astype(np.float32)
    return np.maximum(0.0, 1 - np.abs(x - ((k + 0.5) * cell - 0.5)) / cell).astype(np.float32)


def cell_histograms(channels: jax.Array, cell: int, spatial_interp: bool = True) -> jax.Array:
    """Per-cell orientation histograms: (N, H, W, n) -> (N, H // cell, W // cell, n).

    A separable weighted sum over each cell's pixels (rows, then columns), as two small matrix products: on XLA:CPU
    this was ~5x faster than the equivalent depthwise strided `conv` (measured on 10,000 images).
    """
    rows = jnp.asarray(cell_weights(channels.shape[1], cell, spatial_interp))
    cols = jnp.asarray(cell_weights(channels.shape[2], cell, spatial_interp))
    return jnp.einsum("ph,nhwk,qw->npqk", rows, channels, cols)


def block_normalize(cells: jax.Array, block: int = 2, norm: str = "l2hys", clip: float = 0.2) -> jax.Array:
    """Overlapping blocks of block x block cells, each normalised: (N, Cy, Cx, n) -> (N, Cy-b+1, Cx-b+1, b*b*n)."""
    by, bx = cells.shape[1] - block + 1, cells.shape[2] - block + 1
    blocks = jnp.concatenate([cells[:, i : i + by, j : j + bx] for i in range(block) for j in range(block)], axis=-1)
    eps = 1e-3 * math.sqrt(blocks.shape[-1])  # keeps empty (background) blocks at zero instead of amplifying noise

    def l2(v):
        return v / jnp.sqrt(jnp.sum(v**2, axis=-1, keepdims=True) + eps**2)

    blocks = l2(blocks)
    if norm == "l2hys":
        blocks = l2(jnp.minimum(blocks, clip))
    return blocks


def hog(images: jax.Array, spec: HogSpec) -> jax.Array:
    """The descriptor of each image: (N, H, W, 1) floats -> (N, spec.dim(H, W)) float32."""
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(f"images: expected (N, H, W, 1), got shape {tuple(images.shape)}")
    channels = orientation_channels(*gradients(images.astype(jnp.float32)), spec.orientations, spec.signed)
    parts = []
    for cell in spec.cells:
        blocks = block_normalize(cell_histograms(channels, cell, spec.spatial_interp), spec.block, spec.norm, spec.clip)
        parts.append(blocks.reshape(blocks.shape[0], -1))
    features = jnp.concatenate(parts, axis=-1)
    return features**spec.power if spec.power != 1 else features


@functools.partial(jax.jit, static_argnames="spec")
def _hog_uint8(images: jax.Array, spec: HogSpec) -> jax.Array:
    return hog(images.astype(jnp.float32) / 255.0, spec)


def hog_features(images: np.ndarray, spec: HogSpec, batch_size: int = 5000) -> np.ndarray:
    """`hog` of uint8 (N, H, W, 1) images scaled to [0, 1], jitted and computed in batches -> float32 (N, D)."""
    out = [np.asarray(_hog_uint8(images[i : i + batch_size], spec)) for i in range(0, len(images), batch_size)]
    return np.concatenate(out, axis=0)
