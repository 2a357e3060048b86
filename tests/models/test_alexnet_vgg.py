"""AlexNet / ZFNet / VGG: exact parameter counts and shapes (by eval_shape), small real training steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F
from cnnjax import models

from .helpers import intermediates, numpy_variables


def abstract(model, shape, batch=2, **kwargs):
    """(variables, output) as ShapeDtypeStructs: nothing is allocated."""
    x = jax.ShapeDtypeStruct((batch, *shape), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    return variables, jax.eval_shape(lambda v, x: model.apply(v, x, **kwargs), variables, x)


def test_alexnet_native_inputs():
    assert models.input_shape("alexnet") == (227, 227, 3)
    for name in ("alexnet_tv", "zfnet", "vgg16"):
        assert models.input_shape(name) == (224, 224, 3)


def test_alexnet_towers_are_grouped_convs():
    params = abstract(models.create("alexnet"), (227, 227, 3))[0]["params"]
    assert params["conv1"]["kernel"].shape == (11, 11, 3, 96)
    assert params["conv2"]["kernel"].shape == (5, 5, 48, 256)
    assert params["conv3"]["kernel"].shape == (3, 3, 256, 384)  # the towers communicate
    assert params["conv4"]["kernel"].shape == (3, 3, 192, 384)
    assert params["conv5"]["kernel"].shape == (3, 3, 192, 256)
    assert params["fc1"]["kernel"].shape == (6 * 6 * 256, 4096)
    single = abstract(models.create("alexnet_single"), (227, 227, 3))[0]["params"]
    assert single["conv2"]["kernel"].shape == (5, 5, 96, 256)


def _map_sizes(name, **options):
    """Spatial size after each conv and each max-pool, from the captured intermediates."""
    inter = intermediates(name, **options)
    convs = [inter[f"conv{i}"]["__call__"][0].shape[1] for i in range(1, 6)]
    pools = [y.shape[1] for k in sorted(inter) if k.startswith("pool") for y in inter[k]["__call__"]]
    return convs, pools


@pytest.mark.parametrize(
    "name, convs, pools",
    [
        ("alexnet", [55, 27, 13, 13, 13], [27, 13, 6]),
        ("alexnet_tv", [55, 27, 13, 13, 13], [27, 13, 6]),
        ("zfnet", [110, 26, 13, 13, 13], [55, 13, 6]),  # Zeiler & Fergus, Fig. 3
    ],
)
def test_feature_map_sizes(name, convs, pools):
    assert _map_sizes(name) == (convs, pools)


def test_non_overlapping_pooling_ablation_keeps_sizes():
    assert _map_sizes("alexnet", pool_window=2) == ([55, 27, 13, 13, 13], [27, 13, 6])


@pytest.mark.parametrize("name", ["alexnet", "alexnet_single", "alexnet_tv", "zfnet"])
@pytest.mark.parametrize("shape, side", [((32, 32, 3), 3), ((28, 28, 1), 2)])
def test_alexnet_family_small_input_option(name, shape, side):
    variables, out = abstract(models.create(name, num_classes=10, small_input=True), shape, train=False)
    assert out.shape == (2, 10)
    assert variables["params"]["conv1"]["kernel"].shape[:2] == (3, 3)
    maps = 6 if name == "alexnet_tv" else side  # the torchvision layout adapts its maps to 6x6
    assert variables["params"]["fc1"]["kernel"].shape == (maps * maps * 256, 4096)


def test_alexnet_tv_other_sizes_through_adaptive_pool():
    variables, out = abstract(models.create("alexnet_tv", num_classes=10), (96, 128, 3))
    assert out.shape == (2, 10) and variables["params"]["fc1"]["kernel"].shape == (9216, 4096)


def test_vgg_small_input_and_cifar_head():
    variables, out = abstract(models.create("vgg16", num_classes=10), (32, 32, 3))
    assert out.shape == (2, 10) and variables["params"]["fc1"]["kernel"].shape == (25088, 4096)
    cifar = models.create("vgg16_bn", num_classes=10, adaptive_pool=None, fc_features=512)
    variables, out = abstract(cifar, (32, 32, 3))
    assert out.shape == (2, 10) and variables["params"]["fc1"]["kernel"].shape == (512, 512)


def test_vgg_config_c_uses_1x1_convs():
    params = abstract(models.create("vgg16_c"), (224, 224, 3))[0]["params"]
    for name, c in (("conv3_3", 256), ("conv4_3", 512), ("conv5_3", 512)):
        assert params[name]["kernel"].shape == (1, 1, c, c)
    assert params["conv3_2"]["kernel"].shape == (3, 3, 256, 256)


def _train_and_eval(model, x, labels):
    """A jitted f(variables, dropout_key) -> (((loss, new batch_stats), grads), eval logits)."""

    def loss_fn(params, variables, key):
        mutable = ["batch_stats"] if "batch_stats" in variables else []
        logits, updates = model.apply(
            {**variables, "params": params}, x, train=True, rngs={"dropout": key}, mutable=mutable
        )
        return F.softmax_cross_entropy(logits, labels).mean(), updates.get("batch_stats")

    def step(variables, key):
        train = jax.value_and_grad(loss_fn, has_aux=True)(variables["params"], variables, key)
        return train, model.apply(variables, x)

    return jax.jit(step)


@pytest.mark.parametrize(
    "name, shape, options",
    [
        ("alexnet", (32, 32, 3), dict(small_input=True, fc_features=64)),
        ("alexnet_tv", (64, 64, 3), dict(fc_features=64)),
        ("vgg11_bn", (32, 32, 3), dict(adaptive_pool=None, fc_features=32)),
    ],
)
def test_forward_backward(name, shape, options):
    model = models.create(name, num_classes=10, **options)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(4, *shape)), jnp.float32)
    variables = numpy_variables(model, x)
    step = _train_and_eval(model, x, jnp.arange(4))
    ((loss, stats), grads), logits = step(variables, jax.random.key(2, impl="rbg"))
    assert np.isfinite(loss) and loss > 0
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    first_conv = "conv1_1" if name.startswith("vgg") else "conv1"
    assert float(jnp.abs(grads[first_conv]["kernel"]).sum()) > 0
    assert float(jnp.abs(grads["fc3"]["bias"]).sum()) > 0
    if name.endswith("_bn"):
        moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), stats, variables["batch_stats"])
        assert all(jax.tree.leaves(moved))
    else:
        assert stats is None
    ((other_loss, _), _), other_logits = step(variables, jax.random.key(3, impl="rbg"))
    assert other_loss != loss  # dropout draws from the 'dropout' stream in training...
    np.testing.assert_array_equal(other_logits, logits)  # ...and is off in evaluation
    assert logits.shape == (4, 10) and bool(jnp.all(jnp.isfinite(logits)))


def test_alexnet_paper_initialisation():
    x = jnp.zeros((1, 28, 28, 1))
    key = jax.random.key(0, impl="rbg")
    model = models.create("alexnet", num_classes=10, small_input=True, fc_features=16)
    params = jax.jit(model.init)(key, x)["params"]
    for layer in ("conv2", "conv4", "conv5", "fc1", "fc2"):
        np.testing.assert_array_equal(params[layer]["bias"], 1.0)
    for layer in ("conv1", "conv3", "fc3"):
        np.testing.assert_array_equal(params[layer]["bias"], 0.0)
    assert abs(float(jnp.std(params["conv3"]["kernel"])) - 0.01) < 5e-4


def test_vgg_glorot_initialisation():
    x = jnp.zeros((1, 32, 32, 1))
    key = jax.random.key(0, impl="rbg")
    options = dict(num_classes=10, width=0.25, adaptive_pool=None, fc_features=256)
    glorot = jax.jit(models.create("vgg11", weight_init="glorot", **options).init)(key, x)["params"]
    default = jax.jit(models.create("vgg11", **options).init)(key, x)["params"]
    for layer, fan_in, fan_out in (("conv3_1", 9 * 32, 9 * 64), ("fc1", 128, 256), ("fc3", 256, 10)):
        expected = np.sqrt(2.0 / (fan_in + fan_out))  # Glorot & Bengio: variance 2 / (fan_in + fan_out)
        assert abs(float(jnp.std(glorot[layer]["kernel"])) / expected - 1.0) < 0.1
        np.testing.assert_array_equal(glorot[layer]["bias"], 0.0)
    assert abs(float(jnp.std(default["fc1"]["kernel"])) - 0.01) < 1e-3  # torchvision's N(0, 0.01^2)


def _lrn_layers(name, **options):
    """How many times a LocalResponseNorm is applied, from the captured intermediates (shapes only)."""
    inter = intermediates(name, **options)
    return sum(len(inter[k]["__call__"]) for k in inter if k.startswith("lrn"))


def test_lrn_layers():
    assert _lrn_layers("alexnet") == _lrn_layers("zfnet") == 2
    assert _lrn_layers("alexnet", lrn=False) == _lrn_layers("alexnet_tv") == 0
    assert _lrn_layers("vgg11_lrn") == 1 and _lrn_layers("vgg11") == 0


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("alexnet", dict(stem=7), "towers"),  # unknown option: the message lists the valid ones
        ("vgg16", dict(depth=16), "batch_norm"),
        ("alexnet", dict(config="lenet"), "config"),
        ("alexnet", dict(weight_init="xavier"), "weight_init"),
        ("vgg16", dict(config="F"), "config"),
        ("vgg11", dict(weight_init="he"), "weight_init"),
    ],
)
def test_invalid_options_raise(name, options, match):
    with pytest.raises(ValueError, match=match):
        abstract(models.create(name, **options), models.input_shape(name))
