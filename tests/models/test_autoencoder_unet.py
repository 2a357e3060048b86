"""Convolutional autoencoder and U-Net: parameter counts from the layer sizes, shapes, a little training."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import models
from cnnjax.models import unet

from .helpers import numpy_variables


def conv(k: int, c_in: int, c_out: int) -> int:
    """Parameters of a k x k (transposed) convolution with bias."""
    return k * k * c_in * c_out + c_out


def dense(d_in: int, d_out: int) -> int:
    return d_in * d_out + d_out


def unet_params(c_in: int, widths: tuple[int, ...], out: int) -> int:
    """Ronneberger et al.: double 3x3 convs down, 2x2 up-convs halving the channels, double 3x3 convs on the
    concatenation (2 c -> c), a final 1x1 conv."""
    down = sum(conv(3, a, b) + conv(3, b, b) for a, b in zip((c_in, *widths[:-1]), widths))
    up = sum(conv(2, b, a) for a, b in itertools.pairwise(widths))
    merge = sum(conv(3, 2 * c, c) + conv(3, c, c) for c in widths[:-1])
    return down + up + merge + conv(1, widths[0], out)


def count(tree) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def abstract(model, shape, **kwargs):
    x = jax.ShapeDtypeStruct((2, *shape), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    return variables, jax.eval_shape(lambda v, x: model.apply(v, x, **kwargs), variables, x)


# --- autoencoder -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, shape, expected",
    [
        # 28 -> 14 -> 7 (two stride-2 convs 32, 64), code 32, then back up 64 -> 32 -> 1.
        (
            {},
            (28, 28, 1),
            conv(3, 1, 32)
            + conv(3, 32, 64)
            + dense(7 * 7 * 64, 32)
            + dense(32, 7 * 7 * 64)
            + conv(3, 64, 32)
            + conv(3, 32, 1),
        ),
        (
            dict(input_size=(32, 32), out_channels=3, latent_dim=64),
            (32, 32, 3),
            conv(3, 3, 32)
            + conv(3, 32, 64)
            + dense(8 * 8 * 64, 64)
            + dense(64, 8 * 8 * 64)
            + conv(3, 64, 32)
            + conv(3, 32, 3),
        ),
    ],
)
def test_autoencoder_parameters_and_shapes(options, shape, expected):
    model = models.create("autoencoder", **options)
    variables, out = abstract(model, shape)
    assert count(variables["params"]) == expected
    assert out.shape == (2, *shape)
    code = abstract(model, shape, method="encode")[1]
    assert code.shape == (2, model.latent_dim)
    decoded = jax.eval_shape(
        lambda v, z: model.apply(v, z, method="decode"), variables, jax.ShapeDtypeStruct(code.shape, jnp.float32)
    )
    assert decoded.shape == (2, *shape)


def test_autoencoder_native_input_and_default_count():
    assert models.input_shape("autoencoder") == (28, 28, 1)
    assert count(abstract(models.create("autoencoder"), (28, 28, 1))[0]) == 241_441  # the docstring's figure


def test_autoencoder_trains():
    model = models.create("autoencoder", latent_dim=8)
    as_logits = models.create("autoencoder", latent_dim=8, logits=True)
    images = jnp.asarray(np.random.default_rng(1).uniform(size=(16, 28, 28, 1)), jnp.float32)
    variables = numpy_variables(model, images)

    @jax.jit
    def outputs(variables):
        codes = model.apply(variables, images, method="encode")
        return (
            model.apply(variables, images),
            codes,
            model.apply(variables, codes, method="decode"),
            as_logits.apply(variables, images),
        )

    recon, codes, decoded, logits = outputs(variables)
    assert recon.shape == images.shape and codes.shape == (16, 8)
    assert bool(jnp.all((recon >= 0) & (recon <= 1)))
    np.testing.assert_allclose(decoded, recon, rtol=1e-6)
    np.testing.assert_allclose(jax.nn.sigmoid(logits), recon, rtol=1e-5, atol=1e-6)

    optimizer = optax.adam(1e-2)

    @jax.jit
    def step(params, opt_state):
        def loss_fn(p):
            return optax.sigmoid_binary_cross_entropy(as_logits.apply({"params": p}, images), images).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    params, opt_state = variables["params"], optimizer.init(variables["params"])
    losses = []
    for _ in range(15):
        params, opt_state, loss = step(params, opt_state)
        losses.append(float(loss))
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.parametrize(
    "options, shape, match",
    [
        (dict(input_size=(30, 30)), (30, 30, 1), "input_size"),  # two halvings need multiples of 4
        ({}, (32, 32, 1), "x"),  # the decoder rebuilds input_size, so the input must have it
        (dict(latent=8), (28, 28, 1), "latent_dim"),  # unknown option: the message lists the valid ones
    ],
)
def test_autoencoder_errors(options, shape, match):
    with pytest.raises(ValueError, match=match):
        abstract(models.create("autoencoder", **options), shape)


# --- U-Net -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("padding, shape, out_size", [("SAME", (512, 512, 1), 512), ("VALID", (572, 572, 1), 388)])
def test_unet_parameters_and_paper_shapes(padding, shape, out_size):
    variables, out = abstract(models.create("unet", padding=padding), shape)
    expected = unet_params(1, (64, 128, 256, 512, 1024), 2)
    assert expected == 31_030_658  # the docstring's figure
    assert count(variables["params"]) == expected
    assert out.shape == (2, out_size, out_size, 2)  # Ronneberger et al. Fig. 1: 572x572x1 -> 388x388x2


def test_unet_native_input_and_options():
    assert models.input_shape("unet") == (512, 512, 1)
    variables, out = abstract(models.create("unet", out_channels=5, features=(8, 16, 32)), (64, 48, 3))
    assert count(variables["params"]) == unet_params(3, (8, 16, 32), 5)
    assert out.shape == (2, 64, 48, 5)
    assert variables["params"]["upconv1"]["kernel"].shape == (2, 2, 16, 8)  # 2x2 up-conv halving the channels
    assert variables["params"]["dec1"]["conv1"]["kernel"].shape == (3, 3, 16, 8)  # on the concatenation


def test_center_crop():
    x = jnp.arange(36.0).reshape(1, 6, 6, 1)
    np.testing.assert_array_equal(unet.center_crop(x, (2, 2))[0, :, :, 0], [[14, 15], [20, 21]])
    np.testing.assert_array_equal(unet.center_crop(x[:, :5, :5], (2, 2))[0, :, :, 0], [[7, 8], [13, 14]])
    with pytest.raises(ValueError, match="size"):
        unet.center_crop(x, (7, 6))


@pytest.mark.parametrize("n", [188, 204, 572])
def test_valid_output_size_matches_the_model(n):
    out = abstract(models.create("unet", padding="VALID", features=(2, 2, 2, 2, 2)), (n, n, 1))[1]
    assert out.shape[1:3] == (unet.valid_output_size(n),) * 2


def test_valid_output_size():
    assert unet.valid_output_size(572) == 388 and unet.valid_output_size(188) == 4
    assert unet.valid_output_size(190) is None  # 186 / 2 = 93, then 89: an odd map before a pool
    assert unet.valid_output_size(172) is None  # the expanding path would vanish


@pytest.mark.parametrize("padding, size, out_size", [("SAME", 16, 16), ("VALID", 44, 4)])
def test_unet_forward_backward(padding, size, out_size):
    # Three levels keep the compilation short; the level loop is the same code as for five.
    model = models.create("unet", out_channels=3, features=(4, 8, 16), padding=padding)
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(2, size, size, 1)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 3, size=(2, out_size, out_size)))
    variables = numpy_variables(model, x)

    @jax.jit
    def loss_and_grads(params):
        def loss_fn(p):
            logits = model.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), logits

        return jax.value_and_grad(loss_fn, has_aux=True)(params)

    (loss, logits), grads = loss_and_grads(variables["params"])
    assert logits.shape == (2, out_size, out_size, 3)
    assert np.isfinite(loss)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    assert float(jnp.abs(grads["enc1"]["conv1"]["kernel"]).sum()) > 0  # the gradient reaches the first layer


@pytest.mark.parametrize(
    "options, shape, match",
    [
        ({}, (500, 500, 1), "divisible by 16"),
        (dict(padding="VALID"), (190, 190, 1), "VALID"),
        (dict(padding="FULL"), (512, 512, 1), "padding"),
    ],
)
def test_unet_errors(options, shape, match):
    with pytest.raises(ValueError, match=match):
        abstract(models.create("unet", **options), shape)


@pytest.mark.parametrize("name", ["unet", "autoencoder"])
def test_no_num_classes(name):
    with pytest.raises(ValueError, match="num_classes"):
        models.create(name, num_classes=10)
