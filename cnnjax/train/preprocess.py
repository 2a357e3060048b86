"""uint8 batches -> normalised float model inputs, from `config.augment` and the dataset's statistics.

Both functions run inside the jitted steps (the data pipeline hands over uint8 images).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import ml_collections

from cnnjax import data as datalib

TrainPreprocess = Callable[[jax.Array, jax.Array], jax.Array]
EvalPreprocess = Callable[[jax.Array], jax.Array]


def make_preprocess(
    augment: ml_collections.ConfigDict, dataset: datalib.Dataset
) -> tuple[TrainPreprocess, EvalPreprocess, tuple[int, int, int]]:
    """Returns (train_fn(key, uint8 (B, H, W, C)) -> float32 (B, h, w, C), eval_fn(uint8 images) -> float32,
    the model's input shape (h, w, C)).

    Training, in order: inception_crop (random-size crop resized to crop_size) or alexnet_crop (random
    crop_size window, flipped half the time) when crop_size > 0; random_crop with crop_padding; random_flip;
    pca_color_jitter; normalize. Evaluation: center_crop to crop_size (when > 0); normalize.
    """
    height, width, channels = dataset.image_shape
    size = augment.crop_size
    if size < 0 or size > min(height, width):
        raise ValueError(
            f"config.augment.crop_size: expected 0 (off) or a size up to the images' {height}x{width}, got {size!r}"
        )
    if augment.inception_crop and not size:
        raise ValueError(
            "config.augment.inception_crop: expected config.augment.crop_size > 0 (the output size), got 0"
        )
    if augment.pca_jitter and channels != 3:
        raise ValueError(f"config.augment.pca_jitter: expected RGB images, got {channels} channels")
    mean, std = dataset.mean, dataset.std

    def train_fn(key: jax.Array, images: jax.Array) -> jax.Array:
        keys = [jax.random.fold_in(key, i) for i in range(4)]
        x = images
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
        return datalib.normalize(x, mean, std)

    def eval_fn(images: jax.Array) -> jax.Array:
        return datalib.normalize(datalib.center_crop(images, size) if size else images, mean, std)

    input_shape = (size, size, channels) if size else (height, width, channels)
    return train_fn, eval_fn, input_shape
