"""uint8 batches -> model inputs, from `config.pad_to`, `config.augment` and the dataset's statistics.

Everything runs inside the jitted steps (the data pipeline hands over uint8 images). The augmented images (pixel
scale 0..255) are kept apart from their normalisation because a task may build its targets from them (the
reconstruction target is the augmented image; segmentation labels its pixels).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections

from cnnjax import data as datalib


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """train(key, uint8 (B, H, W, C)) -> augmented images (B, h, w, C), pixel scale 0..255;
    eval(uint8 images) -> the evaluation images (no randomness); normalize(images) -> float32 model inputs;
    input_shape: the model's input (h, w, C)."""

    train: Callable[[jax.Array, jax.Array], jax.Array]
    eval: Callable[[jax.Array], jax.Array]
    normalize: Callable[[jax.Array], jax.Array]
    input_shape: tuple[int, int, int]


def pad_to(images: jax.Array, size: int) -> jax.Array:
    """Zero-pads (B, H, W, C) images, centred, to (B, size, size, C); an odd margin's extra pixel goes last."""
    _, h, w, _ = images.shape
    top, left = (size - h) // 2, (size - w) // 2
    return jnp.pad(images, ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0)))


def make_preprocess(
    augment: ml_collections.ConfigDict, dataset: datalib.Dataset, *, pad: int = 0
) -> Preprocess:
    """The preprocessing of a run.

    Training, in order: zero padding to `pad` x `pad` (when pad > 0); inception_crop (random-size crop resized to
    crop_size) or alexnet_crop (random crop_size window, flipped half the time) when crop_size > 0; random_crop
    with crop_padding; random_flip; pca_color_jitter. Evaluation: the padding; center_crop to crop_size (when
    > 0). Then `normalize` with the dataset's mean and std.
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
    if augment.pca_jitter and channels != 3:
        raise ValueError(f"config.augment.pca_jitter: expected RGB images, got {channels} channels")

    def train_fn(key: jax.Array, images: jax.Array) -> jax.Array:
        keys = [jax.random.fold_in(key, i) for i in range(4)]
        x = pad_to(images, pad) if pad else images
        if augment.inception_crop:
            x = datalib.inception_crop(keys[0], x, size=size)
        elif size:
            x = datalib.alexnet_crop(keys[0], x, size=size)
        if augment.crop_padding:
            x = datalib.random_crop(keys[1], x, padding=augment.crop_padding)
        if augment.flip and not (size and not augment.inception_crop):  # alexnet_crop flips already
            x = datalib.random_flip(keys[2], x)
        if augment.pca_jitter:
            x = datalib.pca_color_jitter(keys[3], x, std=augment.pca_jitter)
        return x

    def eval_fn(images: jax.Array) -> jax.Array:
        x = pad_to(images, pad) if pad else images
        return datalib.center_crop(x, size) if size else x

    def normalize(images: jax.Array) -> jax.Array:
        return datalib.normalize(images, dataset.mean, dataset.std)

    input_shape = (size, size, channels) if size else (height, width, channels)
    return Preprocess(train_fn, eval_fn, normalize, input_shape)
