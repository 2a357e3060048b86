"""Smoke tests of the ImageNet recipes (experiments/imagenet/), on mock data, within seconds on 2 CPU cores.

Each recipe runs as it is written (its optimiser, schedule, augmentation at 256 x 256 -> 224/227 crops, scale
jittering, colour noise and evaluation views at their real sizes), for 2 steps of batch 2, with one thing replaced:
the network, by a stand-in (a strided conv, global average pooling, a dense layer; GoogLeNet's with its two
auxiliary heads), because compiling the real ones takes minutes here. Each real model is traced once at the
recipe's input size (`jax.eval_shape` of its forward pass: shapes and parameter count, no compilation). One test
reads `imagenet2012` through tfds's mock data (no TensorFlow, no files).
"""

from __future__ import annotations

import json
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import data
from cnnjax.models.outputs import OutputSpec
from cnnjax.train import build, train_and_evaluate
from cnnjax.train import config as configlib

REPO = Path(__file__).resolve().parents[2]

IMAGENET = REPO / "experiments" / "imagenet"
TOOLS = ("__init__", "imagenet_common", "throughput", "eval_memory", "loader_speed")  # the folder's other modules
CONFIGS = sorted(p.stem for p in IMAGENET.glob("*.py") if p.stem not in TOOLS)
CLASSES = 10


class StandIn(nn.Module):
    """conv 3x3/4 (8) -> ReLU -> global average pool -> Dense: (N, H, W, 3) -> (N, num_classes)."""

    num_classes: int = CLASSES

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False):
        features = nn.relu(nn.Conv(8, (3, 3), strides=4)(x)).mean(axis=(1, 2))
        return nn.Dense(self.num_classes, name="head")(features)


class StandInAux(nn.Module):
    """StandIn with GoogLeNet's two auxiliary classifiers (loss weight 0.3 each) in training."""

    num_classes: int = CLASSES
    outputs = OutputSpec("classification", (("aux1", 0.3), ("aux2", 0.3)))

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False):
        features = nn.relu(nn.Conv(8, (3, 3), strides=4)(x)).mean(axis=(1, 2))
        logits = nn.Dense(self.num_classes, name="head")(features)
        aux = [nn.Dense(self.num_classes, name=f"aux{i}")(features) for i in (1, 2)]
        return (logits, *aux) if train else logits


def mock_imagenet(n: int = 4) -> data.Dataset:
    """Random 256 x 256 RGB images (the stored size of imagenet2012), 10 classes."""
    images = np.random.default_rng(0).integers(0, 256, (n, 256, 256, 3), dtype=np.uint8)
    labels = np.arange(n) % CLASSES
    return data.from_arrays(
        images,
        labels,
        test_images=images[:3],
        test_labels=labels[:3],
        num_classes=CLASSES,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        name="imagenet2012_mock",
    )


def two_steps(config):
    """The recipe at 2 steps of batch 2, evaluated on 3 images (padded batches of 2), without its learning-rate
    decay points (they lie past a 2-step run); a recipe that watches a held-out split holds out 2 images."""
    config.batch_size, config.eval_batch_size = 2, 2
    config.num_epochs, config.num_steps = 0, 2
    config.schedule.decay_epochs, config.schedule.decay_steps = (), ()
    config.limit_train, config.limit_test = None, None
    config.checkpoint_every_steps = 0
    if config.validation_examples:  # a plateau on held-out images: 2 of the 4 mock training images
        config.validation_examples = 2
    return config


def test_the_folder_has_the_papers_architectures():
    assert CONFIGS == ["alexnet", "googlenet", "resnet", "resnet_torchvision", "vgg", "zfnet"]


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_recipe_trains_and_evaluates_two_steps_with_its_pipeline(name, tmp_path):
    config = two_steps(configlib.load_config(f"{IMAGENET / name}.py:runlocal"))
    stand_in = StandInAux() if config.model_options.get("aux_logits") else StandIn()
    result = train_and_evaluate(config, tmp_path / name, dataset=mock_imagenet(), model=stand_in)
    assert result["step"] == 2 and np.isfinite(result["train_loss"]) and np.isfinite(result["test_loss"])
    assert 0.0 <= result["test_accuracy"] <= result["test_top5_accuracy"] <= 1.0


@pytest.mark.parametrize("name", CONFIGS)
def test_recipe_builds_its_real_model_for_its_input(name):
    config = configlib.validate(two_steps(configlib.load_config(f"{IMAGENET / name}.py")))
    setup = build(config, mock_imagenet())
    crop = config.augment.crop_size
    assert setup.preprocess.input_shape == (crop, crop, 3)
    views = jax.eval_shape(setup.preprocess.views, jax.ShapeDtypeStruct((2, 256, 256, 3), jnp.uint8))
    count = data.EVAL_CROPS[config.eval_crops] * max(1, len(config.eval_scales))
    assert views.shape == (count, 2, crop, crop, 3)
    state = jax.eval_shape(setup.init)
    assert sum(x.size for x in jax.tree.leaves(state.params)) > 1_000_000
    x = jax.ShapeDtypeStruct((2, crop, crop, 3), jnp.float32)
    out = jax.eval_shape(lambda v, x: setup.model.apply(v, x), state.variables(), x)
    assert out.shape == (2, CLASSES)


@pytest.mark.slow
def test_alexnet_recipe_reads_imagenet2012_through_tfds_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    config = two_steps(configlib.load_config(f"{IMAGENET / 'alexnet'}.py:runlocal"))
    config.limit_train, config.limit_test = 2, 3
    with tfds.testing.mock_data(num_examples=4):
        result = train_and_evaluate(config, tmp_path / "alexnet", model=StandIn(num_classes=1000))
    assert result["step"] == 2 and 0.0 <= result["test_accuracy"] <= result["test_top5_accuracy"] <= 1.0


def test_loader_speed_reads_decodes_and_resizes_synthetic_jpegs(capsys, tmp_path):
    from experiments.imagenet import loader_speed

    source = loader_speed.JpegSource(count=2, length=5)
    assert len(source) == 5 and source[0]["image"].shape == (375, 500, 3) and source[3]["image"].shape == (500, 375, 3)
    out = tmp_path / "rows.json"
    args = ["--images", "2", "--epoch", "24", "--batch", "8", "--sizes", "64", "--workers", "0", "--json", str(out)]
    loader_speed.main(args)
    assert "| 64 | 0 |" in capsys.readouterr().out
    (row,) = json.loads(out.read_text())["rows"]
    assert row["image_size"] == 64 and row["images_per_sec"] > 0
