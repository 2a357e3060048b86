"""Greedy layer-wise autoencoder pretraining of the study network's convolutions (Bengio et al. 2007; with
convolutions and pooling as in Masci et al. 2011), without labels.

Layer k (conv k of config.CHANNELS) is trained as the encoder of a one-layer autoencoder: conv 3x3 SAME - ReLU -
max pool 2 (the block exactly as the classifier computes it), decoded by a nearest-neighbour 2x upsampling and a
linear conv 3x3 back to the block's input, loss the mean squared error. Its input is the output of the layers
below, frozen; layer 1 sees the images normalised as the trainer normalises them. Adam 1e-3, batch 128,
EPOCHS_PER_LAYER epochs over all 60,000 training images in an order drawn from the seed. The encoders' kernels and
biases are written with `cnnjax.train.save_params` under the classifier's names (conv1/kernel, ...), which
`config.init_from` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax import data as datalib
from cnnjax import functional as F
from cnnjax import nn as cnn
from cnnjax.train import load_dataset, save_params
from experiments.studies.pretraining import config as study_config

EPOCHS_PER_LAYER = 2
BATCH = 128
LR = 1e-3
MSE_IMAGES = 10_000  # the reconstruction error is reported on the first training images


def encode(params: dict[str, Any], x: jax.Array) -> jax.Array:
    """One block of the classifier: (N, H, W, C) -> (N, H / 2, W / 2, features)."""
    return F.max_pool(F.relu(F.conv(x, params["kernel"], params["bias"], padding="SAME")), 2)


class LayerAutoencoder(nn.Module):
    """conv(features) - ReLU - max pool 2, then upsample 2x - linear conv back to the input's channels:
    (N, H, W, C) -> (N, H, W, C) for even H, W."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        code = F.max_pool(F.relu(cnn.Conv(self.features, 3, padding="SAME", name="encoder")(x)), 2)
        up = jnp.repeat(jnp.repeat(code, 2, axis=1), 2, axis=2)
        return cnn.Conv(x.shape[-1], 3, padding="SAME", name="decoder")(up)


def _batched(fn, x: np.ndarray, size: int = 1000) -> np.ndarray:
    return np.concatenate([np.asarray(fn(x[i : i + size])) for i in range(0, len(x), size)])


def train_layer(features: int, inputs: np.ndarray, key: jax.Array, order: np.random.Generator) -> tuple[dict, dict]:
    """Fits one LayerAutoencoder to `inputs` (N, H, W, C): its encoder's params and the reconstruction error."""
    model = LayerAutoencoder(features)
    params = model.init(key, inputs[:1])["params"]
    tx = optax.adam(LR)
    opt_state = tx.init(params)

    def loss_fn(params, x):
        return jnp.mean(jnp.square(model.apply({"params": params}, x) - x))

    @jax.jit
    def step(params, opt_state, x):
        loss, grads = jax.value_and_grad(loss_fn)(params, x)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    mse = jax.jit(loss_fn)
    sample = inputs[:MSE_IMAGES]
    before = float(np.mean(_batched(lambda x: mse(params, x)[None], sample)))
    for _ in range(EPOCHS_PER_LAYER):
        permutation = order.permutation(len(inputs))
        for start in range(0, len(inputs) - BATCH + 1, BATCH):
            params, opt_state, _ = step(params, opt_state, inputs[permutation[start : start + BATCH]])
    after = float(np.mean(_batched(lambda x: mse(params, x)[None], sample)))
    return params["encoder"], {"mse_at_init": before, "mse_trained": after}


def pretrain(seed: int, path: Path) -> dict[str, Any]:
    """Pretrains the convolutions of config.CHANNELS for `seed`, writes them to `path` (.npz) and the reconstruction
    errors next to it (.json); when both exist, returns the recorded errors without training again."""
    record = path.with_suffix(".json")
    if path.is_file() and record.is_file():
        return json.loads(record.read_text())
    config = study_config.get_config("random_500")
    dataset = load_dataset(config)
    x = np.asarray(datalib.normalize(dataset.train.images, dataset.mean, dataset.std))
    order, keys = np.random.default_rng(seed), jax.random.split(jax.random.key(seed), len(study_config.CHANNELS))
    encoders, errors = {}, {}
    for k, (features, key) in enumerate(zip(study_config.CHANNELS, keys), start=1):
        encoders[f"conv{k}"], errors[f"conv{k}"] = train_layer(features, x, key, order)
        x = _batched(jax.jit(lambda batch, p=encoders[f"conv{k}"]: encode(p, batch)), x)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_params(path, encoders)
    record.write_text(json.dumps({**errors, "images": len(x)}, indent=1) + "\n")
    return {**errors, "images": len(x)}
