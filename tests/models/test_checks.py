"""cnnjax.models.checks: an input too small for a model is an error naming the model, the layer and the smallest
input that works; one that leaves 1x1 maps long before the head is a warning; variables made for another input
size are an error naming both sizes. Everything is traced abstractly.

cnnjax.models.options: an option of another type than the model declares (a str for a bool), or out of its bounds
(latent_dim=0), is an error naming it; `parse_option` reads command-line text by the declared type."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models


def _init(name, shape, **options):
    model = models.create(name, **options)
    return model, jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct((1, *shape), jnp.float32))


# (model, input, the words the error must contain)
TOO_SMALL = [
    (
        "alexnet",
        (32, 32, 3),
        [
            "x: alexnet (AlexNet) expected a larger input",
            "32x32x3",
            "layer pool2",
            "smallest square input that works is 67x67x3",
        ],
    ),
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
    assert "lenet5" in message
    assert "a 28x28x1 input (the size its variables were initialised for), got 32x32x1" in message
    assert "fc1/kernel" in message


def test_cli_summary_errors_and_warns(capsys):
    from cnnjax.cli import main

    assert main(["summary", "alexnet", "--input-shape", "32", "32", "3"]) == 2
    assert "67x67x3" in capsys.readouterr().err
    assert main(["summary", "resnet50", "--input-shape", "8", "8", "3"]) == 0
    assert "cnnjax summary: warning: resnet50" in capsys.readouterr().err


# Options are checked against the types the models declare (cnnjax.models.options): (model, options, error, message)
OPTION_ERRORS = [
    (
        "vgg11",
        {"batch_norm": "yes"},
        TypeError,
        r"batch_norm: expected a bool \(an option of 'vgg11'\), got str 'yes'; to read command-line text, use "
        r"cnnjax.models.parse_option\('vgg11', 'batch_norm', 'yes'\)",
    ),
    ("vgg11", {"batch_norm": "false"}, TypeError, r"batch_norm: expected a bool .* got str 'false'"),
    ("googlenet", {"aux_logits": "False"}, TypeError, r"aux_logits: expected a bool .* got str 'False'"),
    ("alexnet", {"lrn": "no"}, TypeError, r"lrn: expected a bool .* got str 'no'"),
    ("alexnet", {"towers": "2"}, TypeError, r"towers: expected an int >= 1 \(an option of 'alexnet'\), got str '2'"),
    (
        "vgg11",
        {"num_classes": True},
        TypeError,
        r"num_classes: expected an int >= 1 \(an option of 'vgg11'\), got bool True",
    ),
    ("lenet5", {"num_classes": 2.0}, TypeError, r"num_classes: expected an int >= 1 .* got float 2.0"),
    ("lenet5", {"num_classes": 0}, ValueError, r"num_classes: expected an int >= 1 \(an option of 'lenet5'\), got 0"),
    (
        "autoencoder",
        {"latent_dim": 0},
        ValueError,
        r"latent_dim: expected an int >= 1 \(an option of 'autoencoder'\), got 0",
    ),
    (
        "autoencoder",
        {"features": ()},
        ValueError,
        r"features: expected a non-empty tuple of ints >= 1 \(an option of 'autoencoder'\), got \(\)",
    ),
    ("autoencoder", {"input_size": (28,)}, ValueError, r"input_size: expected a tuple of 2 ints >= 1 .* got \(28,\)"),
    ("unet", {"features": (16, 0)}, ValueError, r"features: expected a non-empty tuple of ints >= 1 .* got \(16, 0\)"),
    ("resnet20", {"widths": "16,32,64"}, TypeError, r"widths: expected a non-empty tuple of ints >= 1 .* got str"),
    ("resnet20", {"bn_momentum": 1.5}, ValueError, r"bn_momentum: expected a float in \[0, 1\] .* got 1.5"),
    ("resnet20", {"bn_epsilon": 0.0}, ValueError, r"bn_epsilon: expected a float > 0 .* got 0.0"),
    ("vgg11", {"dropout_rate": 1.0}, ValueError, r"dropout_rate: expected a float in \[0, 1\) .* got 1.0"),
    ("vgg11", {"width": 0}, ValueError, r"width: expected a float > 0 .* got 0"),
    ("vgg11", {"adaptive_pool": 0}, ValueError, r"adaptive_pool: expected an int >= 1 or None .* got 0"),
    ("vgg11", {"adaptive_pool": "7"}, TypeError, r"adaptive_pool: expected an int >= 1 or None .* got str '7'"),
    ("lenet5_classic", {"pad_input": -1}, ValueError, r"pad_input: expected an int >= 0 .* got -1"),
    ("lenet5", {"padding": 2.5}, TypeError, r"padding: expected an int or a str .* got float 2.5"),
]


@pytest.mark.parametrize(
    "name, options, error, pattern", OPTION_ERRORS, ids=[f"{c[0]}-{next(iter(c[1]))}" for c in OPTION_ERRORS]
)
def test_options_of_another_type_or_out_of_bounds_are_refused_by_name(name, options, error, pattern):
    with pytest.raises(error, match=pattern):
        models.create(name, **options)


@pytest.mark.parametrize(
    "name, shape, train, pattern",
    [
        ("lenet5", (1, 28, 28, 1), "no", r"train: expected a bool \(True or False\), got str 'no'"),
        ("vgg11_bn", (1, 32, 32, 3), 1, r"train: expected a bool \(True or False\), got int 1"),
        (
            "resnet20",
            (1, 32, 32, 3),
            True,
            r"train: resnet20 \(ResNet\) updates its batch statistics in training; expected model.apply\(variables, x, "
            r"train=True, mutable=\['batch_stats'\]\)",
        ),
    ],
)
def test_calls_in_training_mode_that_would_do_otherwise_are_refused(name, shape, train, pattern):
    model = models.create(name, **({"width": 0.125, "adaptive_pool": 1} if name.startswith("vgg") else {}))
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    with pytest.raises(ValueError if train is True else TypeError, match=pattern):
        jax.eval_shape(lambda v, x: model.apply(v, x, train=train, rngs={"dropout": jax.random.key(1)}), variables, x)


def test_list_models_refuses_a_pattern_that_is_not_a_str():
    assert models.list_models("resnet2*") == ["resnet20"]
    with pytest.raises(
        TypeError,
        match=r"pattern: expected a shell-style str such as 'resnet\*', or None for all, "
        r"got int 3",
    ):
        models.list_models(3)


def test_num_classes_argument_is_checked_as_the_option():
    with pytest.raises(TypeError, match=r"num_classes: expected an int >= 1 \(an option of 'vgg11'\), got bool True"):
        models.create("vgg11", num_classes=True)


@pytest.mark.parametrize("name", models.list_models())
def test_every_preset_has_its_declared_types(name):
    """The registered variants are built from values of the declared types (the annotations are right)."""
    model = models.create(name)
    for key in models.options(name):
        value = getattr(model, key)
        assert models.create(name, **{key: value}) == model, key


def test_sequences_are_taken_as_tuples():
    assert models.create("unet", features=[16, 32]).features == (16, 32)
    assert models.create("vgg11", width=np.float32(0.5), num_classes=np.int64(10)).num_classes == 10


# (model, option, command-line text, value)
PARSED = [
    ("vgg11", "batch_norm", "false", False),
    ("vgg11", "batch_norm", "False", False),
    ("vgg11", "batch_norm", "NO", False),
    ("vgg11", "batch_norm", "0", False),
    ("vgg11", "batch_norm", "true", True),
    ("vgg11", "batch_norm", "Yes", True),
    ("vgg11", "batch_norm", "1", True),
    ("googlenet", "aux_logits", "False", False),
    ("alexnet", "lrn", "no", False),
    ("vgg11", "adaptive_pool", "none", None),
    ("vgg11", "adaptive_pool", "None", None),
    ("vgg11", "adaptive_pool", "7", 7),
    ("vgg11", "width", "0.5", 0.5),
    ("vgg11", "config", "A", "A"),
    ("resnet20", "widths", "16,32,64", (16, 32, 64)),
    ("resnet20", "widths", "(16, 32, 64)", (16, 32, 64)),
    ("resnet20", "widths", "[16, 32, 64]", (16, 32, 64)),
    ("resnet20", "version", "v1", "v1"),
    ("lenet5", "padding", "2", 2),
    ("lenet5", "padding", "SAME", "SAME"),
    ("lenet5", "num_classes", "7", 7),
    ("autoencoder", "input_size", "32,32", (32, 32)),
    ("unet", "features", "(16,)", (16,)),
]


@pytest.mark.parametrize("name, key, text, value", PARSED, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in PARSED])
def test_parse_option_reads_text_by_the_declared_type(name, key, text, value):
    parsed = models.parse_option(name, key, text)
    assert parsed == value and type(parsed) is type(value)
    assert getattr(models.create(name, **{key: parsed}), key) == value


PARSE_ERRORS = [
    (
        "vgg11",
        "batch_norm",
        "maybe",
        r"batch_norm: expected a bool \(true/false, yes/no or 1/0\) \(an option of 'vgg11'\), got 'maybe'",
    ),
    ("lenet5", "num_classes", "ten", r"num_classes: expected an int >= 1 \(an option of 'lenet5'\), got 'ten'"),
    ("lenet5", "num_classes", "0", r"num_classes: expected an int >= 1 \(an option of 'lenet5'\), got 0"),
    ("lenet5", "num_classes", "1.5", r"num_classes: expected an int >= 1 .* got '1.5'"),
    ("resnet20", "widths", "16", r"widths: expected a non-empty tuple of ints >= 1 .* got '16'"),
    ("resnet20", "widths", "16,x", r"widths: expected a non-empty tuple of ints >= 1 .* got '16,x'"),
    ("resnet20", "widths", "('a', 'b')", r"widths: expected a non-empty tuple of ints >= 1 .* got \"\('a', 'b'\)\""),
    ("autoencoder", "latent_dim", "-1", r"latent_dim: expected an int >= 1 .* got -1"),
    ("vgg11", "adaptive_pool", "seven", r"adaptive_pool: expected an int >= 1 or None .* got 'seven'"),
    ("vgg11", "depth", "11", r"options: 'vgg11' accepts \[.*'batch_norm'.*\], got unknown \['depth'\]"),
]


@pytest.mark.parametrize("name, key, text, pattern", PARSE_ERRORS, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in PARSE_ERRORS])
def test_parse_option_refuses_text_of_another_type_by_name(name, key, text, pattern):
    with pytest.raises(ValueError, match=pattern):
        models.parse_option(name, key, text)
