"""uint8 batches -> model inputs, from `config.pad_to`, `config.augment` and the dataset's statistics.

Everything runs inside the jitted steps (the data pipeline hands over uint8 images). The augmented images (pixel
scale 0..255) are kept apart from their normalisation because a task may build its targets from them (the
reconstruction target is the augmented image; segmentation labels its pixels).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections

from cnnjax import data as datalib


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """train(key, uint8 (B, H, W, C)) -> augmented images (B, h, w, C), pixel scale 0..255;
    eval(uint8 images) -> the central evaluation view (B, h, w, C) (no randomness); eval_views(uint8 images) ->
    the evaluation views (V, B, h, w, C) of config.eval_crops and config.eval_scales (V = 1: eval's view);
    normalize(images) -> model inputs in the compute dtype (float32 unless config.precision says otherwise: every
    layer follows its input's dtype); input_shape: the model's input (h, w, C)."""

    train: Callable[[jax.Array, jax.Array], jax.Array]
    eval: Callable[[jax.Array], jax.Array]
    normalize: Callable[[jax.Array], jax.Array]
    input_shape: tuple[int, int, int]
    eval_views: Callable[[jax.Array], jax.Array] | None = None

    def views(self, images: jax.Array) -> jax.Array:
        """(V, B, h, w, C): eval_views(images), or eval's one view when there is no eval_views."""
        return self.eval(images)[None] if self.eval_views is None else self.eval_views(images)


def pad_to(images: jax.Array, size: int) -> jax.Array:
    """Zero-pads (B, H, W, C) images, centred, to (B, size, size, C); an odd margin's extra pixel goes last."""
    _, h, w, _ = images.shape
    top, left = (size - h) // 2, (size - w) // 2
    return jnp.pad(images, ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0)))


def make_preprocess(
    augment: ml_collections.ConfigDict,
    dataset: datalib.Dataset,
    *,
    pad: int = 0,
    eval_crops: str = "center",
    eval_scales: Sequence[int] = (),
    dtype: str = "float32",
    scaling: str = "standardize",
) -> Preprocess:
    """The preprocessing of a run; `normalize` returns `dtype` (config.precision), scaled by `scaling`
    (config.input_scaling: 'standardize' divides by 255 and standardises with the dataset's per-channel mean and
    std, 'raw_mean' subtracts 255 x the mean from the 0..255 pixels).

    Training, in order: zero padding to `pad` x `pad` (when pad > 0); when crop_size > 0, inception_crop
    (random-size crop resized to crop_size), or scale_jitter_crop (shorter side rescaled to S ~ U[scale_min,
    scale_max], a random crop_size window) when scale_max > 0, or alexnet_crop (a random crop_size window), the
    last two flipped half the time; random_crop with crop_padding; random_flip; color_jitter; pca_color_jitter.
    Evaluation: the padding; center_crop to crop_size (when > 0); eval_views: `datalib.eval_views` with
    `eval_crops` and `eval_scales` (shorter sides Q). Then `normalize` with the dataset's mean and std.
    """
    height, width, channels = dataset.image_shape
    if pad and pad < max(height, width):
        raise ValueError(f"config.pad_to: expected 0 (off) or a size >= the images' {height}x{width}, got {pad!r}")
    height, width = (pad, pad) if pad else (height, width)
    size = augment.crop_size
    if size > min(height, width):
        raise ValueError(
            f"config.augment.crop_size: expected 0 (off) or a size up to the images' {height}x{width}, got {size!r}"
        )
    side = size or min(height, width)
    if augment.crop_padding >= side:
        raise ValueError(
            f"config.augment.crop_padding: expected 0 (off) or a shift below the images' side {side} "
            f"(a larger one can leave no pixel of the image in the crop), got {augment.crop_padding!r}"
        )
    for key in ("pca_jitter", "color_jitter"):
        if augment[key] and channels != 3:
            raise ValueError(f"config.augment.{key}: expected RGB images, got {channels} channels")
    view_size = size or min(height, width)
    if not size and height != width and (eval_crops != "center" or eval_scales):
        raise ValueError(
            f"config.eval_crops / eval_scales: the views of {height}x{width} images are square; expected "
            f"config.augment.crop_size > 0 (their side), got 0"
        )
    if any(q < view_size for q in eval_scales):
        raise ValueError(
            f"config.eval_scales: expected shorter sides >= the model's input {view_size}, got {list(eval_scales)}"
        )
    scale_range = (augment.scale_min, augment.scale_max)

    def train_fn(key: jax.Array, images: jax.Array) -> jax.Array:
        keys = [jax.random.fold_in(key, i) for i in range(5)]
        x = pad_to(images, pad) if pad else images
        if augment.inception_crop:
            x = datalib.inception_crop(keys[0], x, size=size)
        elif size and scale_range[1]:
            x = datalib.random_flip(keys[2], datalib.scale_jitter_crop(keys[0], x, size=size, scale_range=scale_range))
        elif size:
            x = datalib.alexnet_crop(keys[0], x, size=size)
        if augment.crop_padding:
            x = datalib.random_crop(keys[1], x, padding=augment.crop_padding)
        if augment.flip and not (size and not augment.inception_crop):  # the crops above flip already
            x = datalib.random_flip(keys[2], x)
        if augment.color_jitter:
            x = datalib.color_jitter(keys[4], x, strength=augment.color_jitter)
        if augment.pca_jitter:
            x = datalib.pca_color_jitter(keys[3], x, std=augment.pca_jitter)
        return x

    def eval_fn(images: jax.Array) -> jax.Array:
        x = pad_to(images, pad) if pad else images
        return datalib.center_crop(x, size) if size else x

    def views_fn(images: jax.Array) -> jax.Array:
        x = pad_to(images, pad) if pad else images
        return datalib.eval_views(x, size=view_size, crops=eval_crops, scales=tuple(eval_scales))

    def normalize(images: jax.Array) -> jax.Array:
        if scaling == "raw_mean":
            mean = jnp.reshape(255.0 * jnp.asarray(dataset.mean, jnp.float32), (1,) * (images.ndim - 1) + (-1,))
            return (images.astype(jnp.float32) - mean).astype(dtype)
        return datalib.normalize(images, dataset.mean, dataset.std).astype(dtype)

    input_shape = (size, size, channels) if size else (height, width, channels)
    single = eval_crops == "center" and not eval_scales
    return Preprocess(train_fn, eval_fn, normalize, input_shape, None if single else views_fn)
