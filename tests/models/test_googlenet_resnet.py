"""GoogLeNet and the ResNets: exact parameter counts, shapes, names, options, and a real training step."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import functional as F
from cnnjax import models
from cnnjax.models.googlenet import INCEPTION, Inception, InceptionAux
from cnnjax.models.resnet import ResNet, pad_shortcut

from .helpers import numpy_variables


def _abstract_init(model, shape):
    """(output, variables) as ShapeDtypeStructs, for a batch of 2 inputs of `shape`; nothing is computed."""
    return jax.eval_shape(model.init_with_output, jax.random.key(0), jnp.zeros((2, *shape)))


def _count(tree) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


CIFAR_RESNETS = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")

# Counts of option variants, trainable parameters only (the registered presets' counts are in test_zoo.py):
# torchvision's models (googlenet_tv, the ResNets), the GoogLeNet paper's layout from Szegedy et al. 2015, Table 1,
# and ResNet-20 with projection shortcuts (He et al. 2016, option B) computed layer by layer.
COUNTS = [
    ("googlenet", {"aux_logits": True}, 13_378_280),
    ("googlenet_tv", {"aux_logits": True}, 13_004_888),
    ("resnet50", {"version": "v1"}, 25_557_032),
    ("resnet101", {"version": "v1"}, 44_549_160),
    ("resnet20", {"shortcut": "B"}, 272_474),
]


@pytest.mark.parametrize("name, options, expected", COUNTS, ids=[f"{n}-{o}" for n, o, _ in COUNTS])
def test_parameter_count_and_output_shape_at_native_input(name, options, expected):
    model = models.create(name, **options)
    out, variables = _abstract_init(model, models.input_shape(name))
    assert _count(variables["params"]) == expected
    assert out.shape == (2, 10 if name in CIFAR_RESNETS else 1000)


def test_small_input_options_change_only_the_first_kernel():
    # resnet18 with the CIFAR stem: conv1 7x7x3x64 -> 3x3x3x64; resnet20 on one channel: conv1 3x3x3x16 -> 3x3x1x16.
    _, variables = _abstract_init(models.create("resnet18", stem="cifar"), (32, 32, 3))
    assert _count(variables["params"]) == 11_689_512 - (7 * 7 - 3 * 3) * 3 * 64
    out, variables = _abstract_init(models.create("resnet20"), (28, 28, 1))
    assert _count(variables["params"]) == 269_722 - 3 * 3 * 2 * 16
    assert out.shape == (2, 10)


def test_num_classes_reaches_every_head():
    out, _ = _abstract_init(models.create("resnet20", num_classes=100), (32, 32, 3))
    assert out.shape == (2, 100)
    model = models.create("googlenet_tv", num_classes=7, aux_logits=True)
    _, variables = _abstract_init(model, (224, 224, 3))
    assert {variables["params"][head]["fc2"]["bias"].shape for head in ("aux1", "aux2")} == {(7,)}
    assert variables["params"]["fc"]["bias"].shape == (7,)


def test_resnet_names_mirror_torchvision():
    _, variables = _abstract_init(models.create("resnet50"), (224, 224, 3))
    params = variables["params"]
    blocks = [f"layer{i}_{j}" for i, n in enumerate((3, 4, 6, 3), start=1) for j in range(n)]
    assert set(params) == {"conv1", "bn1", "fc", *blocks}
    assert set(params["layer2_0"]) == {f"{k}{i}" for k in ("conv", "bn") for i in (1, 2, 3)} | {
        "downsample_conv",
        "downsample_bn",
    }
    assert "downsample_conv" not in params["layer2_1"]
    assert params["layer2_0"]["downsample_conv"]["kernel"].shape == (1, 1, 256, 512)
    assert set(variables["batch_stats"]["layer1_0"]["bn3"]) == {"mean", "var"}
    # Option A has no parameters on the shortcut; option B projects where the shape changes.
    _, cifar = _abstract_init(models.create("resnet20"), (32, 32, 3))
    assert all("downsample_conv" not in block for block in cifar["params"].values())
    _, cifar_b = _abstract_init(models.create("resnet20", shortcut="B"), (32, 32, 3))
    assert [k for k, block in cifar_b["params"].items() if "downsample_conv" in block] == ["layer2_0", "layer3_0"]


@pytest.mark.parametrize("layout_name, kernel", [("googlenet", 5), ("googlenet_tv", 3)])
def test_googlenet_names_mirror_torchvision(layout_name, kernel):
    _, variables = _abstract_init(models.create(layout_name, aux_logits=True), (224, 224, 3))
    params = variables["params"]
    stages = [f"inception{s}" for s in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")]
    assert set(params) == {"conv1", "conv2", "conv3", "aux1", "aux2", "fc", *stages}
    branches = {"branch1", "branch2_0", "branch2_1", "branch3_0", "branch3_1", "branch4_1"}
    assert set(params["inception3a"]) == branches
    assert params["inception3a"]["branch3_1"]["conv"]["kernel"].shape == (kernel, kernel, 16, 32)
    assert set(params["aux1"]) == {"conv", "fc1", "fc2"}
    assert params["aux2"]["fc1"]["kernel"].shape == (4 * 4 * 128, 1024)
    # The paper's convs carry biases and no BN; torchvision's are conv (no bias) + BN.
    unit = params["conv1"]
    assert set(unit) == ({"conv", "bn"} if layout_name == "googlenet_tv" else {"conv"})
    assert ("bias" in unit["conv"]) == (layout_name == "googlenet")


def _abstract_apply(model, variables, x, *, train):
    def apply(v):
        return model.apply(v, x, train=train, rngs={"dropout": jax.random.key(1)}, mutable=["batch_stats"])[0]

    return jax.eval_shape(apply, variables)


@pytest.mark.parametrize("name", ["googlenet", "googlenet_tv"])
def test_aux_outputs_only_in_training(name):
    x = jnp.zeros((2, 224, 224, 3))
    model = models.create(name, aux_logits=True)
    _, variables = _abstract_init(model, (224, 224, 3))
    assert [o.shape for o in _abstract_apply(model, variables, x, train=True)] == [(2, 1000)] * 3
    assert _abstract_apply(model, variables, x, train=False).shape == (2, 1000)
    plain = models.create(name)
    _, variables = _abstract_init(plain, (224, 224, 3))
    assert _abstract_apply(plain, variables, x, train=True).shape == (2, 1000)


@pytest.mark.parametrize("version, conv1_size, conv2_size", [("v1", 28, 28), ("v1.5", 56, 28)])
def test_bottleneck_stride_position(version, conv1_size, conv2_size):
    # One block per stage keeps the trace small; the stride of layer2's first block is on conv1 (v1) or conv2 (v1.5).
    model = ResNet(stage_sizes=(1, 1, 1, 1), bottleneck=True, version=version)
    x = jnp.zeros((1, 224, 224, 3))
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    _, state = jax.eval_shape(
        lambda v: model.apply(v, x, capture_intermediates=True, mutable=["intermediates"]), variables
    )
    block = state["intermediates"]["layer2_0"]
    assert block["conv1"]["__call__"][0].shape == (1, conv1_size, conv1_size, 128)
    assert block["conv2"]["__call__"][0].shape == (1, conv2_size, conv2_size, 128)


def test_pad_shortcut_subsamples_and_zero_pads():
    x = jnp.arange(2 * 5 * 5 * 4, dtype=jnp.float32).reshape(2, 5, 5, 4) + 1.0
    y = pad_shortcut(x, 8, 2)
    assert y.shape == (2, 3, 3, 8)
    np.testing.assert_array_equal(y[..., 2:6], x[:, ::2, ::2, :])
    assert not jnp.any(y[..., :2]) and not jnp.any(y[..., 6:])


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("resnet50", {"version": "v2"}, r"version: expected one of \('v1', 'v1.5'\), got 'v2'"),
        ("resnet20", {"shortcut": "C"}, r"shortcut: expected one of \('A', 'B'\), got 'C'"),
        ("resnet18", {"stem": "tiny"}, r"stem: expected one of \('imagenet', 'cifar'\), got 'tiny'"),
        ("resnet18", {"widths": (64, 128)}, r"widths: expected one width per stage \(4\)"),
        ("googlenet", {"layout": "caffe"}, r"layout: expected one of \('paper', 'torchvision'\), got 'caffe'"),
    ],
)
def test_invalid_options_raise_at_create(name, options, match):
    with pytest.raises(ValueError, match=match):
        models.create(name, **options)


class InceptionWithAux(nn.Module):
    """Inception 3a feeding an auxiliary head: GoogLeNet's code paths at a compile cost a unit test can afford
    (a whole GoogLeNet's forward and backward takes ~40 s of CPU to compile; its shapes are checked above)."""

    layout: str

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        x = Inception(*INCEPTION["3a"], layout=self.layout)(x, train=train)
        return InceptionAux(10, layout=self.layout)(x, train=train)


TINY_BOTTLENECK_V1 = ResNet(stage_sizes=(1, 1), bottleneck=True, widths=(8, 16), stem="cifar", version="v1")
TRAIN_CASES = [  # id, model, input (H, W, C), classes, has BatchNorm
    ("resnet20 fashion-mnist", models.create("resnet20"), (28, 28, 1), 10, True),
    ("resnet18 cifar stem", models.create("resnet18", stem="cifar", num_classes=10), (32, 32, 3), 10, True),
    ("bottleneck v1", TINY_BOTTLENECK_V1, (16, 16, 3), 1000, True),
    ("inception paper", InceptionWithAux("paper"), (14, 14, 32), 10, False),
    ("inception torchvision", InceptionWithAux("torchvision"), (14, 14, 32), 10, True),
]


@pytest.mark.parametrize(
    "model, shape, classes, batch_norm", [c[1:] for c in TRAIN_CASES], ids=[c[0] for c in TRAIN_CASES]
)
def test_training_step_and_batch_stats(model, shape, classes, batch_norm):
    x = np.random.default_rng(1).normal(size=(4, *shape)).astype(np.float32)
    labels = np.arange(4) % classes
    variables = numpy_variables(model, x)
    params, stats = variables["params"], variables.get("batch_stats", {})

    @jax.jit
    def step(params, stats, key):
        def loss_fn(params):
            logits, state = model.apply(
                {"params": params, "batch_stats": stats}, x, train=True, rngs={"dropout": key}, mutable=["batch_stats"]
            )
            return F.softmax_cross_entropy(logits, labels).mean(), state.get("batch_stats", {})

        grads, new_stats = jax.grad(loss_fn, has_aux=True)(params)
        logits, eval_state = model.apply(
            {"params": params, "batch_stats": new_stats}, x, train=False, mutable=["batch_stats"]
        )
        return grads, new_stats, logits, eval_state.get("batch_stats", {})

    grads, new_stats, logits, eval_stats = step(params, stats, jax.random.key(2))
    assert logits.shape == (4, classes) and bool(jnp.all(jnp.isfinite(logits)))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    assert float(optax.tree.norm(grads)) > 0
    # Training moves every running statistic; evaluation leaves them as they are.
    assert bool(stats) == batch_norm
    for old, new in zip(jax.tree.leaves(stats), jax.tree.leaves(new_stats), strict=True):
        assert not np.allclose(old, new)
    for new, after in zip(jax.tree.leaves(new_stats), jax.tree.leaves(eval_stats), strict=True):
        np.testing.assert_array_equal(new, after)
