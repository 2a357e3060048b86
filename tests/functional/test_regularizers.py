"""Weight regularisers over a real parameter pytree: masks, penalties, weight decay and max-norm projection."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F


@pytest.fixture(scope="module")
def params():
    """The tree cnnjax.nn gives a conv -> batch norm -> dense net, with non-zero biases and norm parameters so that
    leaving them out is visible in the penalties."""
    rng = np.random.default_rng(0)
    shapes = {
        "conv": {"kernel": (3, 3, 2, 4), "bias": (4,)},
        "bn": {"scale": (4,), "bias": (4,)},
        "fc": {"kernel": (100, 3), "bias": (3,)},
    }
    return jax.tree.map(
        lambda s: jnp.asarray(rng.normal(size=s) * 0.3 + 0.5, jnp.float32),
        shapes,
        is_leaf=lambda s: isinstance(s, tuple),
    )


def test_weight_mask_keeps_kernels_and_leaves_out_biases_and_norm_parameters(params):
    mask = F.weight_mask(params)
    assert mask == {
        "conv": {"kernel": True, "bias": False},
        "bn": {"scale": False, "bias": False},
        "fc": {"kernel": True, "bias": False},
    }


def test_l2_penalty_is_half_the_sum_of_squared_kernels(params):
    expected = 0.5 * (np.sum(params["conv"]["kernel"] ** 2) + np.sum(params["fc"]["kernel"] ** 2))
    np.testing.assert_allclose(F.l2_penalty(params), expected, rtol=1e-5)


def test_l1_and_elastic_net(params):
    l1 = np.sum(np.abs(params["conv"]["kernel"])) + np.sum(np.abs(params["fc"]["kernel"]))
    sq = np.sum(params["conv"]["kernel"] ** 2) + np.sum(params["fc"]["kernel"] ** 2)
    np.testing.assert_allclose(F.l1_penalty(params), l1, rtol=1e-5)
    np.testing.assert_allclose(F.elastic_net_penalty(params, 0.3, 0.2), 0.3 * l1 + 0.2 * sq, rtol=1e-5)


def test_custom_mask_selects_leaves(params):
    mask = jax.tree.map(lambda _: False, params)
    mask["bn"]["scale"] = True
    np.testing.assert_allclose(F.l2_penalty(params, mask), 0.5 * np.sum(params["bn"]["scale"] ** 2), rtol=1e-6)
    np.testing.assert_allclose(F.l1_penalty(params, mask), np.sum(np.abs(params["bn"]["scale"])), rtol=1e-6)


def test_l2_gradient_is_weight_decay(params):
    """d/dW (lambda/2 ||W||^2) = lambda W on kernels, 0 on biases: W <- W - alpha lambda W - dL_data/dW."""
    lam = 0.01
    grads = jax.grad(lambda p: lam * F.l2_penalty(p))(params)
    chex.assert_trees_all_close(grads["conv"]["kernel"], lam * params["conv"]["kernel"], rtol=1e-6)
    chex.assert_trees_all_close(grads["fc"]["kernel"], lam * params["fc"]["kernel"], rtol=1e-6)
    for leaf in (grads["conv"]["bias"], grads["fc"]["bias"], grads["bn"]["scale"], grads["bn"]["bias"]):
        np.testing.assert_array_equal(leaf, 0.0)


def test_max_norm_project_bounds_each_output_unit(params):
    params = jax.tree.map(lambda p: p * 3.0, params)
    projected = F.max_norm_project(params, max_norm=1.0)
    for name in ("conv", "fc"):
        kernel, new = np.asarray(params[name]["kernel"]), np.asarray(projected[name]["kernel"])
        axes = tuple(range(kernel.ndim - 1))
        norms, new_norms = np.sqrt((kernel**2).sum(axis=axes)), np.sqrt((new**2).sum(axis=axes))
        assert np.all(norms > 1.0)  # so the bound is active
        np.testing.assert_allclose(new_norms, 1.0, rtol=1e-5)
        np.testing.assert_allclose(new * norms, kernel * new_norms, rtol=1e-4, atol=1e-5)  # direction kept
        np.testing.assert_array_equal(projected[name]["bias"], params[name]["bias"])
    chex.assert_trees_all_equal(projected["bn"], params["bn"])


def test_max_norm_project_leaves_small_units_untouched():
    w = np.array([[0.3, 3.0], [0.4, 4.0]], np.float32)  # unit norms 0.5 and 5
    projected = F.max_norm_project({"kernel": w}, max_norm=2.0)["kernel"]
    np.testing.assert_allclose(projected[:, 0], w[:, 0])
    np.testing.assert_allclose(projected[:, 1], w[:, 1] * 0.4, rtol=1e-6)


class JitTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_penalties(self):
        tree = {"kernel": jnp.full((2, 3), -2.0), "bias": jnp.ones(3)}
        np.testing.assert_allclose(self.variant(F.l2_penalty)(tree), 12.0)
        np.testing.assert_allclose(self.variant(F.l1_penalty)(tree), 12.0)
        np.testing.assert_allclose(self.variant(lambda p: F.elastic_net_penalty(p, 1.0, 0.5))(tree), 24.0)
        projected = self.variant(lambda p: F.max_norm_project(p, 2.0))(tree)
        np.testing.assert_allclose(projected["kernel"], np.full((2, 3), -np.sqrt(2.0)), rtol=1e-6)
