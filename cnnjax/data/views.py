"""Evaluation views: the crops (and scales) a test image is classified from, as the papers evaluated.

Pure functions of a batch of NHWC images (static shapes, jit-compatible). Every function returns the views
stacked on a new leading axis, [V, N, h, w, C]; the classification task averages the V softmax outputs
(`cnnjax.train.tasks.Classification.combine_views`).

  crops         views per scale
  'center'      1: the central window
  'center_flip' 2: the central window and its horizontal reflection
  'ten'         10: the four corner windows and the central one (top-left, top-right, bottom-left,
                bottom-right, centre), then their reflections in the same order (AlexNet, section 4.1;
                ResNet's "10-crop testing"; torchvision's TenCrop order)

Scales (VGG's multi-scale evaluation, section 3.2): the image's shorter side is rescaled to each Q before the
crops are taken; the views of all scales are concatenated (scale-major).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from cnnjax.data.augment import _check_images, center_crop, resample_boxes

EVAL_CROPS: dict[str, int] = {"center": 1, "center_flip": 2, "ten": 10}  # name -> views per scale


def crop_offsets(height: int, width: int, size: int) -> tuple[tuple[int, int], ...]:
    """The (top, left) of the five windows of `ten_crops` in an image of height x width: top-left, top-right,
    bottom-left, bottom-right, centre."""
    if size > min(height, width):
        raise ValueError(f"crop_offsets: size {size} exceeds the image {(height, width)}")
    bottom, right = height - size, width - size
    return (0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)


def flip(images: jax.Array) -> jax.Array:
    """Horizontal reflection of [..., H, W, C] images."""
    return images[..., :, ::-1, :]


def five_crops(images: jax.Array, size: int) -> jax.Array:
    """The four corner windows and the central one. [N, H, W, C] -> [5, N, size, size, C] (exact slices)."""
    _, h, w, _ = _check_images("five_crops", images)
    return jnp.stack([images[:, top : top + size, left : left + size, :] for top, left in crop_offsets(h, w, size)])


def ten_crops(images: jax.Array, size: int) -> jax.Array:
    """`five_crops` and their horizontal reflections. [N, H, W, C] -> [10, N, size, size, C]."""
    five = five_crops(images, size)
    return jnp.concatenate([five, flip(five)])


def crop_views(images: jax.Array, size: int, crops: str) -> jax.Array:
    """The views named by `crops` (a key of EVAL_CROPS) of one scale. [N, H, W, C] -> [V, N, size, size, C]."""
    if crops not in EVAL_CROPS:
        raise ValueError(f"crop_views: crops: expected one of {list(EVAL_CROPS)}, got {crops!r}")
    if crops == "ten":
        return ten_crops(images, size)
    center = center_crop(images, size)[None]
    return jnp.concatenate([center, flip(center)]) if crops == "center_flip" else center


def rescale(images: jax.Array, shorter_side: int) -> jax.Array:
    """Resizes images so that their shorter side is `shorter_side` (antialiased bilinear, aspect ratio kept;
    the longer side rounded). [N, H, W, C] -> float32 [N, H', W', C]; at the current size, the images as float32."""
    _, h, w, _ = _check_images("rescale", images)
    factor = shorter_side / min(h, w)
    out = (round(h * factor), round(w * factor))
    return resample_boxes(images, 0.0, 0.0, float(h), float(w), out)


def eval_views(images: jax.Array, *, size: int, crops: str = "center", scales: Sequence[int] = ()) -> jax.Array:
    """The evaluation views of a batch: for each scale Q of `scales` (none: the images as they are), the images
    rescaled to shorter side Q, then `crop_views(..., size, crops)`.

    Args:
      images: [N, H, W, C].
      size: the crop side (the model's input); at most min(H, W) and every Q.
      crops: a key of EVAL_CROPS.
      scales: shorter sides Q to evaluate at (VGG: (256, 384, 512)); () = the images' own scale.

    Returns:
      [len(scales) * EVAL_CROPS[crops], N, size, size, C] (len(scales) counted as 1 when empty); the input's dtype
      without scales, float32 with.
    """
    for q in scales:
        if q < size:
            raise ValueError(f"eval_views: every scale must be >= the crop size {size}, got {list(scales)}")
    if not scales:
        return crop_views(images, size, crops)
    return jnp.concatenate([crop_views(rescale(images, q), size, crops) for q in scales])
