"""Data augmentation as pure JAX functions of an explicit PRNG key.

All functions take a batch of NHWC images (uint8 or float, pixel scale 0..255),
use static shapes (jit-compatible, meant to run inside the jitted train step) and
are deterministic for a fixed key. Randomness is per image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

# Principal components of ImageNet RGB pixel values scaled to [0, 1] (AlexNet's
# "PCA lighting"; values as used by fb.resnet.torch): eigenvalues and the matching
# eigenvectors as the *columns* of IMAGENET_PCA_EIGVECS.
IMAGENET_PCA_EIGVALS = (0.2175, 0.0188, 0.0045)
IMAGENET_PCA_EIGVECS = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)


def _check_images(name: str, images: jax.Array) -> tuple[int, int, int, int]:
    if images.ndim != 4:
        raise ValueError(f"{name}: images must be NHWC [N, H, W, C], got shape {images.shape}")
    return images.shape


def _pair(name: str, size: int | Sequence[int]) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or any(not isinstance(s, int) or s < 1 for s in pair):
        raise ValueError(f"{name}: size must be a positive int or (height, width), got {size!r}")
    return pair


def random_crop(
    key: jax.Array,
    images: jax.Array,
    *,
    padding: int,
    size: int | Sequence[int] | None = None,
    pad_mode: str = "constant",
) -> jax.Array:
    """Pads each side by `padding`, then crops a random window per image.

    Args:
      key: PRNG key.
      images: [N, H, W, C].
      padding: pixels added on each side of H and W (0: crop without padding).
      size: crop (h, w) or int; default (H, W), i.e. translate by up to `padding`.
      pad_mode: `jnp.pad` mode ('constant' pads with zeros, 'reflect', 'edge', ...).

    Returns:
      [N, h, w, C], same dtype.
    """
    n, h, w, c = _check_images("random_crop", images)
    if padding < 0:
        raise ValueError(f"random_crop: padding must be >= 0, got {padding}")
    crop_h, crop_w = (h, w) if size is None else _pair("random_crop", size)
    padded_h, padded_w = h + 2 * padding, w + 2 * padding
    if crop_h > padded_h or crop_w > padded_w:
        raise ValueError(f"random_crop: size {(crop_h, crop_w)} exceeds the padded image {(padded_h, padded_w)}")
    if padding:
        images = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)), mode=pad_mode)
    key_top, key_left = jax.random.split(key)
    tops = jax.random.randint(key_top, (n,), 0, padded_h - crop_h + 1)
    lefts = jax.random.randint(key_left, (n,), 0, padded_w - crop_w + 1)

    def crop(image, top, left):
        return jax.lax.dynamic_slice(image, (top, left, 0), (crop_h, crop_w, c))

    return jax.vmap(crop)(images, tops, lefts)


def random_flip(key: jax.Array, images: jax.Array) -> jax.Array:
    """Flips each image horizontally with probability 1/2. [N, H, W, C] -> same."""
    n = _check_images("random_flip", images)[0]
    flip = jax.random.bernoulli(key, 0.5, (n,))
    return jnp.where(flip[:, None, None, None], images[:, :, ::-1, :], images)


def center_crop(images: jax.Array, size: int | Sequence[int]) -> jax.Array:
    """Crops the central `size` window. [N, H, W, C] -> [N, h, w, C]."""
    _, h, w, _ = _check_images("center_crop", images)
    crop_h, crop_w = _pair("center_crop", size)
    if crop_h > h or crop_w > w:
        raise ValueError(f"center_crop: size {(crop_h, crop_w)} exceeds the image {(h, w)}")
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return images[:, top : top + crop_h, left : left + crop_w, :]


def alexnet_crop(key: jax.Array, images: jax.Array, size: int = 224) -> jax.Array:
    """AlexNet's training crop: a random `size` x `size` window of each (256 x 256)
    image, flipped horizontally with probability 1/2. [N, H, W, C] -> [N, size, size, C]."""
    key_crop, key_flip = jax.random.split(key)
    return random_flip(key_flip, random_crop(key_crop, images, padding=0, size=size))


def pca_color_jitter(
    key: jax.Array,
    images: jax.Array,
    *,
    eigvals: Sequence[float] = IMAGENET_PCA_EIGVALS,
    eigvecs: Sequence[Sequence[float]] = IMAGENET_PCA_EIGVECS,
    std: float = 0.1,
) -> jax.Array:
    """AlexNet's PCA lighting noise: adds ``eigvecs @ (alpha * eigvals)`` to every
    pixel of an image, alpha ~ N(0, std^2) per image and component.

    Args:
      key: PRNG key.
      images: [N, H, W, 3], pixel scale 0..255.
      eigvals: (3,) eigenvalues of the [0, 1]-scaled RGB covariance.
      eigvecs: (3, 3) matching eigenvectors as columns.
      std: standard deviation of alpha.

    Returns:
      float32 [N, H, W, 3], pixel scale 0..255 (not clipped).
    """
    n, _, _, c = _check_images("pca_color_jitter", images)
    eigvals, eigvecs = jnp.asarray(eigvals, jnp.float32), jnp.asarray(eigvecs, jnp.float32)
    if eigvals.shape != (c,) or eigvecs.shape != (c, c):
        raise ValueError(
            f"pca_color_jitter: eigvals must be ({c},) and eigvecs ({c}, {c}) for {c}-channel images, "
            f"got {eigvals.shape} and {eigvecs.shape}"
        )
    alpha = std * jax.random.normal(key, (n, c), jnp.float32)
    shift = 255.0 * (alpha * eigvals[None, :]) @ eigvecs.T  # [N, C]: sum_j eigvecs[i, j] alpha_j eigvals_j.
    return images.astype(jnp.float32) + shift[:, None, None, :]


def inception_crop(
    key: jax.Array,
    images: jax.Array,
    *,
    size: int | Sequence[int],
    area_range: tuple[float, float] = (0.08, 1.0),
    aspect_range: tuple[float, float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> jax.Array:
    """Random-resized crop (Inception / torchvision ``RandomResizedCrop``).

    Per image, draws up to `attempts` boxes with area fraction ~ U(area_range) and
    log aspect ratio (w / h) ~ U(log aspect_range), takes the first that fits (else
    the central box of the whole image with the aspect ratio clamped to
    `aspect_range`), and resizes it to `size` with antialiased bilinear
    interpolation (the weights of `jax.image.scale_and_translate`, as two
    batched matrix products).

    Args:
      key: PRNG key.
      images: [N, H, W, C].
      size: output (h, w) or int.
      area_range: range of the box area as a fraction of H * W.
      aspect_range: range of the box aspect ratio width / height.
      attempts: boxes drawn per image before falling back.

    Returns:
      float32 [N, h, w, C] in the input's pixel scale.
    """
    n, h, w, _ = _check_images("inception_crop", images)
    out_h, out_w = _pair("inception_crop", size)
    if not 0 < area_range[0] <= area_range[1] <= 1:
        raise ValueError(f"inception_crop: area_range must satisfy 0 < low <= high <= 1, got {area_range}")
    if not 0 < aspect_range[0] <= aspect_range[1]:
        raise ValueError(f"inception_crop: aspect_range must satisfy 0 < low <= high, got {aspect_range}")
    key_area, key_ratio, key_top, key_left = jax.random.split(key, 4)
    area = h * w * jax.random.uniform(key_area, (n, attempts), minval=area_range[0], maxval=area_range[1])
    log_ratio = jax.random.uniform(
        key_ratio, (n, attempts), minval=math.log(aspect_range[0]), maxval=math.log(aspect_range[1])
    )
    box_w, box_h = jnp.sqrt(area * jnp.exp(log_ratio)), jnp.sqrt(area * jnp.exp(-log_ratio))
    fits = (box_w <= w) & (box_h <= h)
    first = jnp.argmax(fits, axis=1)[:, None]
    found = fits.any(axis=1)
    # Fallback: the whole image, cut to the nearest allowed aspect ratio, centred.
    ratio = min(max(w / h, aspect_range[0]), aspect_range[1])
    fallback_w, fallback_h = min(w, h * ratio), min(h, w / ratio)
    box_w = jnp.where(found, jnp.take_along_axis(box_w, first, axis=1)[:, 0], fallback_w)
    box_h = jnp.where(found, jnp.take_along_axis(box_h, first, axis=1)[:, 0], fallback_h)
    top = jnp.where(found, jax.random.uniform(key_top, (n,)), 0.5) * (h - box_h)
    left = jnp.where(found, jax.random.uniform(key_left, (n,)), 0.5) * (w - box_w)

    return resample_boxes(images, top, left, box_h, box_w, (out_h, out_w))


def scale_jitter_crop(
    key: jax.Array, images: jax.Array, *, size: int, scale_range: tuple[int, int], stored_scale: int | None = None
) -> jax.Array:
    """VGG's / ResNet's scale augmentation: each image's shorter side is rescaled to S ~ U[scale_range] (one S per
    image, drawn from the integers low..high), then a random `size` x `size` window of it is taken.

    Computed without materialising the rescaled image: the window is the box of side ``size * stored_scale / S``
    of the input at a random position, resampled to `size` (antialiased bilinear, the weights of
    `inception_crop`). The input stands for the image rescaled to `stored_scale` (default: its shorter side),
    e.g. ImageNet's stored 256 x 256 centre squares (so S > 256 upsamples them: the parts of the image outside the
    stored square are not seen).

    Args:
      key: PRNG key.
      images: [N, H, W, C].
      size: the crop side (VGG, ResNet: 224).
      scale_range: (low, high), size <= low <= high (VGG: (256, 512); ResNet: (256, 480)).
      stored_scale: the shorter side the input images were resized to (default min(H, W)).

    Returns:
      float32 [N, size, size, C] in the input's pixel scale.
    """
    n, h, w, _ = _check_images("scale_jitter_crop", images)
    low, high = scale_range
    if not size <= low <= high:
        raise ValueError(f"scale_jitter_crop: expected size={size} <= low <= high for scale_range, got {scale_range}")
    stored = min(h, w) if stored_scale is None else stored_scale
    key_scale, key_top, key_left = jax.random.split(key, 3)
    scale = jax.random.randint(key_scale, (n,), low, high + 1).astype(jnp.float32)
    side = jnp.minimum(size * stored / scale, min(h, w))  # [N]: the window in input pixels
    top = jax.random.uniform(key_top, (n,)) * (h - side)
    left = jax.random.uniform(key_left, (n,)) * (w - side)
    return resample_boxes(images, top, left, side, side, size)


def resample_boxes(
    images: jax.Array,
    top: jax.Array,
    left: jax.Array,
    box_h: jax.Array,
    box_w: jax.Array,
    size: int | Sequence[int],
) -> jax.Array:
    """Each image's box [top, top + box_h) x [left, left + box_w) (input pixels, floats, [N] each or scalars)
    resampled to `size` with antialiased bilinear weights. [N, H, W, C] -> float32 [N, h, w, C].

    A box of integer position and of the output's size is an exact crop (the weights are one-hot)."""
    n, h, w, _ = _check_images("resample_boxes", images)
    out_h, out_w = _pair("resample_boxes", size)
    top, left, box_h, box_w = (jnp.broadcast_to(jnp.asarray(v, jnp.float32), (n,)) for v in (top, left, box_h, box_w))
    weights_y = _resize_weights(top, box_h, h, out_h)
    weights_x = _resize_weights(left, box_w, w, out_w)
    return jnp.einsum(
        "nih,nhwc,njw->nijc", weights_y, images.astype(jnp.float32), weights_x, precision=jax.lax.Precision.HIGHEST
    )


def color_jitter(key: jax.Array, images: jax.Array, *, strength: float) -> jax.Array:
    """Photometric distortions in the manner of Howard (2013), which GoogLeNet used: per image, brightness, then
    contrast, then saturation, each scaled by a factor ~ U[1 - strength, 1 + strength]; values clipped to
    0..255.

    brightness: x * b; contrast: mean + c (x - mean), mean over the image's grey values; saturation:
    grey + s (x - grey), grey the pixel's luma (0.299 R + 0.587 G + 0.114 B).

    Args:
      key: PRNG key.
      images: [N, H, W, 3], pixel scale 0..255.
      strength: in [0, 1).

    Returns:
      float32 [N, H, W, 3].
    """
    n, _, _, c = _check_images("color_jitter", images)
    if c != 3:
        raise ValueError(f"color_jitter: expected RGB images (3 channels), got {c}")
    if not 0 <= strength < 1:
        raise ValueError(f"color_jitter: expected strength in [0, 1), got {strength!r}")
    b, k, s = jax.random.uniform(key, (3, n, 1, 1, 1), minval=1 - strength, maxval=1 + strength)
    luma = jnp.asarray((0.299, 0.587, 0.114), jnp.float32)
    x = images.astype(jnp.float32) * b
    mean = jnp.mean(x @ luma, axis=(1, 2))[:, None, None, None]
    x = mean + k * (x - mean)
    grey = (x @ luma)[..., None]
    x = grey + s * (x - grey)
    return jnp.clip(x, 0.0, 255.0)


def _resize_weights(start: jax.Array, length: jax.Array, in_size: int, out_size: int) -> jax.Array:
    """Antialiased linear interpolation weights [N, out_size, in_size] that resample
    the interval [start, start + length) of each input row (pixel i covers [i, i+1))
    onto `out_size` pixels; the same weights as ``jax.image.scale_and_translate``."""
    step = length / out_size  # [N]: input pixels per output pixel.
    centers = start[:, None] + (jnp.arange(out_size)[None, :] + 0.5) * step[:, None]  # [N, out]
    radius = jnp.maximum(step, 1.0)[:, None, None]  # Widen the triangle when downsampling.
    distance = jnp.abs(jnp.arange(in_size)[None, None, :] + 0.5 - centers[:, :, None])  # [N, out, in]
    weights = jnp.maximum(0.0, 1.0 - distance / radius)
    return weights / jnp.maximum(weights.sum(axis=-1, keepdims=True), 1e-12)


def normalize(images: jax.Array, mean: Sequence[float], std: Sequence[float]) -> jax.Array:
    """Returns float32 ``(images / 255 - mean) / std`` with per-channel `mean`, `std`
    (statistics of [0, 1]-scaled pixels, e.g. `Dataset.mean`). [..., C] -> same shape."""
    mean, std = jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32)
    if mean.shape not in ((), (images.shape[-1],)) or mean.shape != std.shape:
        raise ValueError(
            f"normalize: mean and std must have one value per channel ({images.shape[-1]}), "
            f"got shapes {mean.shape} and {std.shape}"
        )
    per_channel = (1,) * (images.ndim - 1) + mean.shape if mean.ndim else ()  # explicit broadcast (rank promotion)
    return (jnp.asarray(images, jnp.float32) / 255.0 - mean.reshape(per_channel)) / std.reshape(per_channel)
