"""The small-input options the progression study uses: `width` (AlexNet/ZFNet, VGG, GoogLeNet), GoogLeNet's
`small_input` and ResNet's `stem_stride`: layer widths, map sizes and errors, computed abstractly."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from cnnjax import models
from cnnjax.models.width import scaled


def _variables(model, shape):
    return jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((2, *shape)))["params"]


def test_scaled_rounds_to_the_groups_and_refuses_nonpositive_widths():
    assert scaled(96, 0.25) == 24 and scaled(384, 0.3, multiple=2) == 116 and scaled(64, 1.0) == 64
    assert scaled(16, 0.01) == 1 and scaled(16, 0.01, multiple=2) == 2
    with pytest.raises(ValueError, match=r"width: expected a positive multiplier, got 0"):
        scaled(16, 0)


@pytest.mark.parametrize("name", ["alexnet", "zfnet"])
def test_alexnet_family_width(name):
    params = _variables(models.create(name, num_classes=10, small_input=True, width=0.25), (28, 28, 1))
    assert [params[f"conv{i}"]["kernel"].shape[-1] for i in range(1, 6)] == [24, 64, 96, 96, 64]
    if name == "alexnet":  # two towers: conv2's kernel sees half of conv1's 24 maps
        assert params["conv2"]["kernel"].shape == (5, 5, 12, 64)


def test_vgg_width():
    model = models.create("vgg11", num_classes=10, width=0.25, adaptive_pool=None, fc_features=64)
    params = _variables(model, (32, 32, 1))
    assert [params[k]["kernel"].shape[-1] for k in ("conv1_1", "conv2_1", "conv3_1", "conv4_2", "conv5_2")] == [
        16,
        32,
        64,
        128,
        128,
    ]
    assert params["fc1"]["kernel"].shape == (128, 64)  # 1x1x128 maps at 32x32


def test_googlenet_small_input_and_width():
    model = models.create("googlenet", num_classes=10, small_input=True, width=0.25)
    params = _variables(model, (28, 28, 1))
    assert params["conv1"]["conv"]["kernel"].shape == (3, 3, 1, 16)
    assert params["inception3a"]["branch1"]["conv"]["kernel"].shape == (1, 1, 48, 16)  # conv3: 192 / 4
    out, _ = jax.eval_shape(model.init_with_output, jax.random.key(0), jnp.zeros((2, 28, 28, 1)))
    assert out.shape == (2, 10)
    with pytest.raises(ValueError):  # the paper's 7x7/2 stem does not fit 28x28 inputs
        _variables(models.create("googlenet", num_classes=10), (28, 28, 1))


def test_resnet_stem_stride():
    model = models.create("resnet20", num_classes=10, stem_stride=2)
    _, state = jax.eval_shape(
        lambda x: model.init_with_output(jax.random.key(0), x, capture_intermediates=True), jnp.zeros((2, 28, 28, 1))
    )
    inter = state["intermediates"]
    assert inter["conv1"]["__call__"][0].shape == (2, 14, 14, 16)
    assert inter["layer3_2"]["__call__"][0].shape == (2, 4, 4, 64)
    assert models.create("resnet20", num_classes=10).stem_stride is None
    with pytest.raises(
        ValueError,
        match=r"stem_stride: expected an int >= 1 or None \(an option of 'resnet20'\), "
        r"got 0",
    ):
        models.create("resnet20", num_classes=10, stem_stride=0)
