"""Shared pieces of the training tests: a tiny model, a small learnable dataset, a fast config, subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from cnnjax import data
from cnnjax.train import config as configlib
from cnnjax.train import recipe

REPO = Path(__file__).resolve().parents[2]


class TinyNet(nn.Module):
    """conv 3x3/2 (width) [-> BatchNorm] -> ReLU [-> Dropout] -> Dense: (N, H, W, C) -> (N, num_classes)."""

    num_classes: int = 4
    width: int = 4
    batch_norm: bool = False
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        # no bias before BatchNorm: its gradient is rounding noise, which Adam would turn into lr-sized steps
        x = nn.Conv(self.width, (3, 3), strides=2, use_bias=not self.batch_norm, name="conv")(x)
        if self.batch_norm:
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name="bn")(x)
        x = nn.relu(x)
        if self.dropout:
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="head")(x.reshape(x.shape[0], -1))


def tiny_arrays(n: int, *, size: int = 8, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, size, size, 1) noise in [0, 128) with quadrant `label % 4` brightened by 127: learnable in a few
    steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n).astype(np.int32)
    images = rng.integers(0, 128, (n, size, size, 1), dtype=np.uint8)
    half = size // 2
    for quadrant in range(4):
        top, left = divmod(quadrant, 2)
        rows = labels % 4 == quadrant
        images[rows, top * half : (top + 1) * half, left * half : (left + 1) * half] += 127
    return images, labels


def tiny_dataset(n_train: int = 256, n_test: int = 100) -> data.Dataset:
    images, labels = tiny_arrays(n_train)
    test_images, test_labels = tiny_arrays(n_test, seed=1)
    return data.from_arrays(images, labels, test_images=test_images, test_labels=test_labels, num_classes=4)


def tiny_config(**overrides) -> ml_collections.ConfigDict:
    """The classifier recipe shrunk: batch 32, 2 epochs of 8 steps, one step per call, AdamW lr 0.02 with a 4-step
    warm-up, 1-pixel shifts."""
    config = recipe("lenet5")
    config.batch_size = 32
    config.eval_batch_size = 50
    config.num_epochs = 2
    config.log_every_steps = 4
    config.schedule.warmup_fraction = 0.25
    config.optimizer.lr = 0.02
    config.augment.crop_padding = 1
    # One step per compiled call: a quarter of the compile time of the unrolled calls that "auto" chooses for so
    # small a model; test_loop's unrolling test and the command-line tests run the unrolled calls.
    config.steps_per_call = 1
    for key, value in overrides.items():
        configlib.set_value(config, key, value)
    return config


def write_fake_fashion_mnist(directory: Path, n_train: int, n_test: int) -> Path:
    """The four Fashion-MNIST IDX files, filled with random 28x28 images (for command-line runs)."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = tiny_arrays(n, size=28, classes=10, seed=seed)
        data.write_idx(directory / f"{split}-images-idx3-ubyte", images[..., 0])
        data.write_idx(directory / f"{split}-labels-idx1-ubyte", labels.astype(np.uint8))
    return directory


# Set by conftest.py: JAX_COMPILATION_CACHE_DIR and friends, shared with subprocesses.
COMPILATION_CACHE_ENV: dict[str, str] = {}


def cli_env(devices: int = 1) -> dict[str, str]:
    """The environment of a subprocess (a `cnnjax` command or `python -c`) on `devices` CPU devices."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    env.update(COMPILATION_CACHE_ENV, JAX_PLATFORMS="cpu")
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def run_python(code: str, *, devices: int = 1, timeout: int = 120) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter (so XLA_FLAGS applies before jax is imported)."""
    return subprocess.run(
        [sys.executable, "-c", code], env=cli_env(devices), cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
