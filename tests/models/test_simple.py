"""The study networks: `mlp` without hidden layers is a linear classifier, `convnet`'s pooling choices keep the
map size they state, and their own checks name the option."""

from __future__ import annotations

import pytest

from cnnjax import models
from cnnjax.summary import summary


def test_an_mlp_without_hidden_layers_is_one_dense_layer():
    s = summary(models.create("mlp", hidden=()), (28, 28, 1))
    assert s.params == 28 * 28 * 10 + 10 and [layer.name for layer in s.layers][-1] == "fc1"


@pytest.mark.parametrize("pool, macs_factor", [("max", 1), ("avg", 1), ("l2", 1), ("stride", 4)])
def test_each_pooling_choice_halves_the_map_and_a_strided_conv_computes_a_quarter(pool, macs_factor):
    s = summary(models.create("convnet", channels=(4,), pool=pool, hidden=()), (28, 28, 1))
    conv = next(layer for layer in s.layers if layer.name == "conv1")
    head = next(layer for layer in s.layers if layer.name == "flatten")
    assert head.output_shape == (1, 14 * 14 * 4)
    assert conv.macs * macs_factor == 28 * 28 * 4 * 9


@pytest.mark.parametrize(
    "name, options, match",
    [
        (
            "convnet",
            {"pool": "median"},
            r"pool: expected one of \('max', 'avg', 'l2', 'stride', 'none'\), got 'median'",
        ),
        ("convnet", {"hidden": (0,)}, r"hidden: expected widths >= 1 \(an empty tuple for none\), got \(0,\)"),
        ("mlp", {"hidden": (8, -1)}, r"hidden: expected widths >= 1"),
    ],
)
def test_invalid_options_name_the_option(name, options, match):
    with pytest.raises(ValueError, match=match):
        summary(models.create(name, **options), (28, 28, 1))
