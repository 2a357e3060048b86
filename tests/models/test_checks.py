"""cnnjax.models.checks: an input too small for a model is an error naming the model, the layer and the smallest
input that works; one that leaves 1x1 maps long before the head is a warning; variables made for another input
size are an error naming both sizes. Everything is traced abstractly."""

import warnings

import jax
import jax.numpy as jnp
import pytest

from cnnjax import models


def _init(name, shape, **options):
    model = models.create(name, **options)
    return model, jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct((1, *shape), jnp.float32))


# (model, input, the words the error must contain)
TOO_SMALL = [
    ("alexnet", (32, 32, 3), ["x: alexnet (AlexNet) expected a larger input", "32x32x3", "layer pool2",
                              "smallest square input that works is 67x67x3"]),
    ("lenet5_classic", (28, 28, 1), ["lenet5_classic", "layer c5", "smallest square input that works is 32x32x1"]),
    ("vgg16", (16, 16, 3), ["vgg16", "layer pool5", "32x32x3"]),
    ("resnet20", (1, 1, 3), None),  # runs (3x3 convs pad 1 on 1x1 maps), with a warning
]


@pytest.mark.parametrize("name, shape, words", TOO_SMALL, ids=[c[0] for c in TOO_SMALL])
def test_an_input_too_small_names_model_layer_and_smallest_input(name, shape, words):
    if words is None:
        with pytest.warns(UserWarning, match="1x1 at the input of 19 of its 19 convolutions"):
            _init(name, shape)
        return
    with pytest.raises(ValueError) as info:
        _init(name, shape)
    for word in words:
        assert word in str(info.value)


def test_the_smallest_input_reported_works():
    _init("alexnet", (67, 67, 3))
    with pytest.raises(ValueError, match="67x67x3"):
        _init("alexnet", (66, 66, 3))


@pytest.mark.parametrize("shape, warns", [((8, 8, 3), True), ((1, 1, 3), True), ((32, 32, 3), False)])
def test_one_by_one_maps_long_before_the_head_warn(shape, warns):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _init("resnet50", shape)
    messages = [str(w.message) for w in caught]
    assert any("1x1 at the input of" in m and "resnet50" in m for m in messages) == warns, messages


def test_variables_of_another_input_size():
    model, variables = _init("lenet5", (28, 28, 1))
    with pytest.raises(ValueError) as info:
        jax.eval_shape(model.apply, variables, jax.ShapeDtypeStruct((1, 32, 32, 1), jnp.float32))
    message = str(info.value)
    assert "lenet5" in message and "a 28x28x1 input (the size its variables were initialised for), got 32x32x1" in message
    assert "fc1/kernel" in message


def test_cli_summary_errors_and_warns(capsys):
    from cnnjax.cli import main

    assert main(["summary", "alexnet", "--input-shape", "32", "32", "3"]) == 2
    assert "67x67x3" in capsys.readouterr().err
    assert main(["summary", "resnet50", "--input-shape", "8", "8", "3"]) == 0
    assert "cnnjax summary: warning: resnet50" in capsys.readouterr().err
