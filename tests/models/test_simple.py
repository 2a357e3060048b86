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
        ("convnet", {"norm": "layer"}, r"norm: expected one of \('none', 'batch', 'lrn'\), got 'layer'"),
        ("convnet", {"fixed_first_layer": True}, r"channels: with fixed_first_layer the first width is the bank's 11"),
    ],
)
def test_invalid_options_name_the_option(name, options, match):
    with pytest.raises(ValueError, match=match):
        summary(models.create(name, **options), (28, 28, 1))


def test_a_fixed_first_layer_is_the_filter_bank_and_only_its_bias_is_learned():
    import jax
    import jax.numpy as jnp
    import numpy as np

    from cnnjax import functional as F

    model = models.create("convnet", channels=(11,), fixed_first_layer=True, hidden=())
    x = jax.random.normal(jax.random.key(0), (2, 28, 28, 1))
    params = model.init(jax.random.key(1), x)["params"]
    assert list(params["conv1"]) == ["bias"]
    features = model.apply({"params": params}, x, capture_intermediates=True, mutable=["intermediates"])[1]
    conv1 = features["intermediates"]["conv1"]["__call__"][0]
    np.testing.assert_allclose(conv1, F.conv(x, jnp.asarray(F.filter_bank(1)), padding="SAME"), atol=1e-6)


@pytest.mark.parametrize("norm, after, layers", [("batch", False, ["conv1", "bn1"]), ("lrn", True, ["conv1", "lrn1"])])
def test_normalisation_goes_before_or_after_the_activation(norm, after, layers):
    s = summary(models.create("convnet", channels=(4,), norm=norm, norm_after_activation=after, hidden=()), (28, 28, 1))
    assert [layer.name for layer in s.layers][:2] == layers
    assert s.params == 28 * 28 // 4 * 4 * 10 + 10 + (36 + 8 if norm == "batch" else 36 + 4)  # BN replaces the bias


def test_the_plain_resnet_has_the_same_layers_without_shortcuts():
    residual = summary(models.create("resnet20", shortcut="B"), (28, 28, 1))
    plain = summary(models.create("resnet20", shortcut="B", residual=False), (28, 28, 1))
    assert any("downsample" in layer.name for layer in residual.layers)
    assert not any("downsample" in layer.name for layer in plain.layers)
    projections = sum(layer.params for layer in residual.layers if "downsample" in layer.name)
    assert plain.params == residual.params - projections
