"""cnnjax.convert.from_torchvision: key mapping, layouts, round trips and errors without torch; logit parity with
torchvision through the reference environment (.venv-torch) when it exists."""

from __future__ import annotations

import importlib.util
import subprocess
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax import models
from cnnjax.convert import TORCHVISION_MODELS, from_torchvision, to_torchvision
from cnnjax.convert.torchvision import ALEXNET_NAMES, vgg_names

ROOT = Path(__file__).resolve().parents[2]
TORCH_PYTHON = ROOT / ".venv-torch" / "bin" / "python"


def _resnet18_shapes(num_classes: int = 1000) -> dict[str, tuple[int, ...]]:
    """torchvision's resnet18 state dict, written out independently of the converter: key -> shape."""
    shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}

    def bn(prefix: str, c: int) -> None:
        shapes.update({f"{prefix}.{k}": (c,) for k in ("weight", "bias", "running_mean", "running_var")})
        shapes[f"{prefix}.num_batches_tracked"] = ()

    bn("bn1", 64)
    c_in = 64
    for stage, c in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            p = f"layer{stage}.{block}"
            shapes[f"{p}.conv1.weight"] = (c, c_in, 3, 3)
            bn(f"{p}.bn1", c)
            shapes[f"{p}.conv2.weight"] = (c, c, 3, 3)
            bn(f"{p}.bn2", c)
            if block == 0 and stage > 1:
                shapes[f"{p}.downsample.0.weight"] = (c, c_in, 1, 1)
                bn(f"{p}.downsample.1", c)
            c_in = c
    shapes.update({"fc.weight": (num_classes, 512), "fc.bias": (num_classes,)})
    return shapes


def _random_state_dict(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    state_dict = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state_dict[key] = np.array(7, np.int64)
        elif key.endswith("running_var"):
            state_dict[key] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        else:
            state_dict[key] = rng.normal(0.0, 0.1, shape).astype(np.float32)
    return state_dict


def _random_variables(name: str, size: int = 64, seed: int = 0, **options) -> dict:
    """Random variables for `models.create(name, **options)`, shaped by an abstract init (nothing is compiled)."""
    model = models.create(name, **options)
    abstract = jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32))
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda leaf: rng.standard_normal(leaf.shape, dtype=np.float32), abstract)


@pytest.fixture(scope="module")
def resnet18_state_dict() -> dict[str, np.ndarray]:
    return _random_state_dict(_resnet18_shapes(num_classes=10))


def test_supported_names():
    assert set(TORCHVISION_MODELS) == {
        "alexnet",
        "googlenet",
        *(f"vgg{d}{s}" for d in (11, 13, 16, 19) for s in ("", "_bn")),
        *(f"resnet{d}" for d in (18, 34, 50, 101, 152)),
    }


def test_resnet18_places_every_array(resnet18_state_dict):
    sd = resnet18_state_dict
    model, variables = from_torchvision("resnet18", sd)
    assert model.num_classes == 10
    params, stats = variables["params"], variables["batch_stats"]
    np.testing.assert_array_equal(params["conv1"]["kernel"], sd["conv1.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(
        params["layer3_0"]["downsample_conv"]["kernel"], sd["layer3.0.downsample.0.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(params["layer3_0"]["downsample_bn"]["scale"], sd["layer3.0.downsample.1.weight"])
    np.testing.assert_array_equal(params["layer4_1"]["bn2"]["bias"], sd["layer4.1.bn2.bias"])
    np.testing.assert_array_equal(stats["layer2_1"]["bn1"]["mean"], sd["layer2.1.bn1.running_mean"])
    np.testing.assert_array_equal(stats["bn1"]["var"], sd["bn1.running_var"])
    np.testing.assert_array_equal(params["fc"]["kernel"], sd["fc.weight"].T)
    np.testing.assert_array_equal(params["fc"]["bias"], sd["fc.bias"])
    n_arrays = sum(1 for k in sd if not k.endswith("num_batches_tracked"))
    assert len(jax.tree.leaves(variables)) == n_arrays


def test_resnet18_round_trip(resnet18_state_dict):
    _, variables = from_torchvision("resnet18", resnet18_state_dict)
    back = to_torchvision("resnet18", variables)
    assert set(back) == set(resnet18_state_dict)
    for key, value in resnet18_state_dict.items():
        if not key.endswith("num_batches_tracked"):
            np.testing.assert_array_equal(back[key], value, err_msg=key)
            assert back[key].flags.c_contiguous


def test_conv_layout_matches_nchw_oihw_convolution(resnet18_state_dict):
    """A converted conv kernel computes torch's convolution (NCHW input, OIHW kernel) on the transposed input."""
    _, converted = from_torchvision("resnet18", resnet18_state_dict)
    x = jax.random.normal(jax.random.key(1), (2, 3, 20, 20))
    conv = partial(lax.conv_general_dilated, window_strides=(2, 2), padding=((3, 3), (3, 3)), precision="highest")
    reference = conv(x, jnp.asarray(resnet18_state_dict["conv1.weight"]), dimension_numbers=("NCHW", "OIHW", "NCHW"))
    ours = conv(
        x.transpose(0, 2, 3, 1), converted["params"]["conv1"]["kernel"], dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(ours, reference.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)


def test_first_fc_takes_nchw_flatten_order():
    """torch: fc1(feature_map_chw.flatten()); cnnjax: fc1(feature_map_hwc.reshape(-1)) must agree (AlexNet's 6x6x256
    map; VGG's 7x7 and GoogLeNet's aux 4x4 are covered by the parity run)."""
    sd = to_torchvision("alexnet", _random_variables("alexnet_tv"))
    _, converted = from_torchvision("alexnet", sd)
    features = np.random.default_rng(1).normal(size=(6, 6, 256)).astype(np.float32)
    torch_out = sd["classifier.1.weight"] @ features.transpose(2, 0, 1).reshape(-1)
    ours = features.reshape(-1) @ np.asarray(converted["params"]["fc1"]["kernel"])
    np.testing.assert_allclose(ours, torch_out, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("aux", [False, True])
def test_googlenet_aux_heads_follow_the_keys(aux):
    variables = _random_variables("googlenet_tv", num_classes=7, aux_logits=aux)
    sd = to_torchvision("googlenet", variables)
    assert ("aux1.fc1.weight" in sd) == aux and ("aux2.conv.bn.num_batches_tracked" in sd) == aux
    assert sd["inception4a.branch3.1.conv.weight"].shape == (48, 16, 3, 3)  # torchvision's 3x3 "5x5" branch
    converted_model, converted = from_torchvision("googlenet", sd)
    assert converted_model.aux_logits == aux and converted_model.num_classes == 7
    jax.tree.map(np.testing.assert_array_equal, converted, variables)


def test_missing_and_unexpected_keys_are_named(resnet18_state_dict):
    sd = dict(resnet18_state_dict)
    del sd["layer2.1.bn1.running_var"]
    sd["layer5.0.conv1.weight"] = np.zeros((1, 1, 1, 1), np.float32)
    with pytest.raises(
        ValueError,
        match=r"missing keys \['layer2.1.bn1.running_var'\], unexpected keys "
        r"\['layer5.0.conv1.weight'\]",
    ):
        from_torchvision("resnet18", sd)


def test_shape_mismatch_names_key_and_shapes(resnet18_state_dict):
    sd = dict(resnet18_state_dict)
    sd["layer1.0.conv2.weight"] = np.zeros((64, 64, 5, 5), np.float32)
    with pytest.raises(
        ValueError,
        match=r"'layer1.0.conv2.weight' has shape \(64, 64, 5, 5\), expected "
        r"\(64, 64, 3, 3\) \(cnnjax params/layer1_0/conv2/kernel \(3, 3, 64, 64\)\)",
    ):
        from_torchvision("resnet18", sd)


def test_wrong_name_and_missing_classifier(resnet18_state_dict):
    with pytest.raises(ValueError, match=r"name: expected a torchvision model name.*got 'resnet20'"):
        from_torchvision("resnet20", resnet18_state_dict)
    sd = {k: v for k, v in resnet18_state_dict.items() if k != "fc.weight"}
    with pytest.raises(ValueError, match=r"classifier weight 'fc.weight'"):
        from_torchvision("resnet18", sd)
    with pytest.raises(ValueError, match=r"missing keys \['layer1.2.bn1.bias'"):
        from_torchvision("resnet34", resnet18_state_dict)


@pytest.mark.torch
@pytest.mark.skipif(
    not TORCH_PYTHON.exists(),
    reason=f"no PyTorch reference environment at {TORCH_PYTHON} (create it as in experiments/torchvision_parity.py)",
)
def test_logits_match_torchvision(tmp_path):
    spec = importlib.util.spec_from_file_location("torchvision_parity", ROOT / "experiments" / "torchvision_parity.py")
    parity = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parity)
    cases = ["resnet18", "googlenet_aux", "alexnet_64"]
    subprocess.run(
        [str(TORCH_PYTHON), spec.origin, "export", "--out", str(tmp_path), "--cases", *cases],
        check=True,
        capture_output=True,
    )
    for case in cases:
        errors = parity.check(tmp_path / f"{case}.npz")
        # float64: the conversion alone; float32: as used (these small models are well-conditioned enough).
        assert errors.float64 <= 1e-4 and errors.float32 <= 1e-4, f"{case}: {errors}"


def test_alexnet_torchvision_names_cover_its_parameters():
    x = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
    params = jax.eval_shape(models.create("alexnet_tv").init, jax.random.key(0), x)["params"]
    assert set(ALEXNET_NAMES) == set(params)


def test_vgg_torchvision_names():
    names = vgg_names("D")
    assert names["conv1_1"] == "features.0" and names["conv5_3"] == "features.28"
    assert (names["fc1"], names["fc2"], names["fc3"]) == ("classifier.0", "classifier.3", "classifier.6")
    bn = vgg_names("D", batch_norm=True)
    assert (bn["conv5_3"], bn["bn5_3"]) == ("features.40", "features.41")
    assert vgg_names("E", batch_norm=True)["conv5_4"] == "features.49"
    assert vgg_names("A")["conv5_2"] == "features.18"
    x = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
    params = jax.eval_shape(models.create("vgg16_bn").init, jax.random.key(0), x)["params"]
    assert set(bn) == set(params)  # every named submodule has a counterpart
    with pytest.raises(ValueError, match="config"):
        vgg_names("C")
