"""Every registered model: output shape, exact parameter count and unique summary rows at its native input (traced
abstractly: nothing is allocated), and jit forward and backward at a small input.

The small-input step `jax.jit(jax.value_and_grad(loss))` is traced for every model (`jax.eval_shape` through the
jit: forward and backward trace, gradients have the parameters' shapes and dtypes) and compiled and run, with
finite, non-zero gradients, for the models in RUN. XLA's compilation of a backward pass takes 10-80 s per deep
model on CPU (resnet152 at 32x32: 78 s), so the compiled runs of the other families live once each in the family
tests, which also train them: test_alexnet_vgg.py (alexnet, alexnet_tv, vgg11_bn), test_googlenet_resnet.py
(resnet18, resnet20, a bottleneck ResNet, both GoogLeNet layouts), test_autoencoder_unet.py (autoencoder, unet).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models
from cnnjax.summary import summary

from .helpers import numpy_variables

# Trainable parameters at the native input: the zoo table of docs/models.md, which names the published sources.
PARAMS = {
    "lenet5": 61_706,
    "lenet5_classic": 60_850,
    "alexnet": 60_965_224,
    "alexnet_single": 62_378_344,
    "alexnet_tv": 61_100_840,
    "zfnet": 62_357_608,
    "vgg11": 132_863_336,
    "vgg11_lrn": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16_c": 133_638_952,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840,
    "vgg13_bn": 133_053_736,
    "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248,
    "googlenet": 6_998_552,
    "googlenet_tv": 6_624_904,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
    "autoencoder": 241_441,
    "unet": 31_030_658,
    "mlp": 79_510,  # 784*100 + 100 + 100*10 + 10
    "convnet": 31_670,  # 3*3*8 + 8 + (14*14*8)*20 + 20 + 20*10 + 10
}

OUTPUTS = {"autoencoder": (1, 28, 28, 1), "unet": (1, 512, 512, 2)}  # the others: (1, num_classes)
CLASSES_10 = {"lenet5", "lenet5_classic", "mlp", "convnet", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"}
BATCH_NORM = {"googlenet_tv", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"} | {
    name for name in PARAMS if name.startswith("resnet")
}

# A small input per model (the smallest it accepts, or a reduced width where it has the option).
_ALEXNET_SMALL = ((32, 32, 3), dict(small_input=True, fc_features=32, num_classes=10))
_VGG_SMALL = ((32, 32, 3), dict(adaptive_pool=None, fc_features=32, num_classes=10))
_IMAGENET_RESNET_SMALL = ((32, 32, 3), dict(widths=(8, 16, 32, 64), num_classes=10))
SMALL = {
    "lenet5": ((28, 28, 1), {}),
    "lenet5_classic": ((32, 32, 1), {}),
    **dict.fromkeys(("alexnet", "alexnet_single", "alexnet_tv", "zfnet"), _ALEXNET_SMALL),
    **dict.fromkeys([name for name in PARAMS if name.startswith("vgg")], _VGG_SMALL),
    "googlenet": ((47, 47, 3), dict(num_classes=10)),  # the docstring's smallest inputs
    "googlenet_tv": ((31, 31, 3), dict(num_classes=10)),
    **dict.fromkeys(("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"), _IMAGENET_RESNET_SMALL),
    **dict.fromkeys(("resnet20", "resnet32", "resnet44", "resnet56", "resnet110"), ((8, 8, 3), {})),
    "autoencoder": ((28, 28, 1), dict(features=(4, 8), latent_dim=4)),
    "unet": ((16, 16, 1), dict(features=(4, 8, 16, 32, 64))),
    "mlp": ((28, 28, 1), {}),
    "convnet": ((28, 28, 1), dict(norm="batch", conv_dropout=0.1, dropout=0.5, pool="l2")),
}
RUN = {"lenet5", "lenet5_classic", "zfnet", "convnet"}


def test_the_tables_cover_the_registry():
    assert set(PARAMS) == set(SMALL) == set(models.list_models())
    assert set(PARAMS) >= RUN


@pytest.mark.parametrize("name", models.list_models())
def test_native_input_shape_parameters_and_unique_rows(name):
    s = summary(models.create(name), models.input_shape(name))
    assert s.params == PARAMS[name]
    expected = OUTPUTS.get(name, (1, 10 if name in CLASSES_10 else 1000))
    assert s.layers[-1].output_shape == expected
    assert (s.batch_stats > 0) == (name in BATCH_NORM)
    names = [layer.name for layer in s.layers]
    assert len(set(names)) == len(names), [n for n in names if names.count(n) > 1]
    assert all(layer.call == 0 and layer.name == layer.path for layer in s.layers)


def _step(model):
    """jit(value_and_grad) of a mean-square loss of the eval-mode output, over the parameters."""

    def loss(params, rest, x):
        return jnp.mean(jnp.square(model.apply({"params": params, **rest}, x, train=False) - 1.0))

    return jax.jit(jax.value_and_grad(loss))


def _split(variables):
    return variables["params"], {k: v for k, v in variables.items() if k != "params"}


@pytest.mark.parametrize("name", models.list_models())
def test_jit_forward_and_backward_at_a_small_input(name):
    shape, options = SMALL[name]
    model = models.create(name, **options)
    x = jax.ShapeDtypeStruct((2, *shape), jnp.float32)
    if name not in RUN:
        params, rest = _split(jax.eval_shape(model.init, jax.random.key(0), x))
        loss, grads = jax.eval_shape(_step(model), params, rest, x)
        assert loss.shape == () and loss.dtype == jnp.float32
        assert jax.tree.map(lambda g: (g.shape, g.dtype), grads) == jax.tree.map(lambda p: (p.shape, p.dtype), params)
        return
    inputs = jnp.asarray(np.random.default_rng(0).uniform(size=x.shape), jnp.float32)
    params, rest = _split(numpy_variables(model, inputs))
    loss, grads = _step(model)(params, rest, inputs)
    assert np.isfinite(float(loss))
    leaves = jax.tree.leaves(grads)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert any(float(jnp.max(jnp.abs(g))) > 0 for g in leaves)


@pytest.mark.parametrize("name", models.list_models())
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_every_model_computes_in_the_dtype_of_its_input_on_float32_variables(name, dtype):
    """Mixed precision (`config.precision`): a low-precision input runs every layer in its dtype, and the training
    pass keeps parameters and batch-norm statistics in float32."""
    shape, options = SMALL[name]
    model = models.create(name, **options)
    variables = jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct((2, *shape), jnp.float32))
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    x = jax.ShapeDtypeStruct((2, *shape), dtype)
    outputs, updates = jax.eval_shape(
        lambda v, x: model.apply(v, x, train=True, rngs={"dropout": jax.random.key(1)}, mutable=["batch_stats"]),
        variables,
        x,
    )
    assert {leaf.dtype for leaf in jax.tree.leaves(outputs)} == {jnp.dtype(dtype)}
    assert {leaf.dtype for leaf in jax.tree.leaves(updates)} <= {jnp.dtype(jnp.float32)}
