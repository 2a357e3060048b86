"""batch_norm (train vs eval, running statistics) and local_response_norm against NumPy formulas."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F


def _batch(shape=(8, 4, 4, 3), seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=shape) * np.array([1.0, 3.0, 0.5]) + np.array([2.0, -1.0, 0.0])).astype(np.float32)
    params = {"scale": rng.uniform(0.5, 2.0, 3).astype(np.float32), "bias": rng.normal(size=3).astype(np.float32)}
    state = {"mean": rng.normal(size=3).astype(np.float32), "var": rng.uniform(0.5, 2.0, 3).astype(np.float32)}
    return x, params, state


def test_batch_norm_train_uses_batch_statistics_and_updates_running_ones():
    x, params, state = _batch()
    y, new_state = F.batch_norm(x, params, state, train=True, momentum=0.8, eps=1e-5)
    axes = (0, 1, 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)  # biased variance, as in the docstring
    expected = (x - mean) / np.sqrt(var + 1e-5) * params["scale"] + params["bias"]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(new_state["mean"], 0.8 * state["mean"] + 0.2 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_state["var"], 0.8 * state["var"] + 0.2 * var, rtol=1e-5, atol=1e-6)


def test_batch_norm_train_output_is_standardised_without_params():
    x, _, state = _batch(shape=(64, 3))
    y, _ = F.batch_norm(x, {}, state, train=True)
    np.testing.assert_allclose(np.mean(y, axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.std(y, axis=0), 1.0, atol=1e-3)


def test_batch_norm_eval_uses_running_statistics_and_keeps_state():
    x, params, state = _batch()
    y, new_state = F.batch_norm(x, params, state, train=False, eps=1e-3)
    expected = (x - state["mean"]) / np.sqrt(state["var"] + 1e-3) * params["scale"] + params["bias"]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    chex.assert_trees_all_equal(new_state, state)


def test_batch_norm_running_statistics_converge_to_the_data_statistics():
    x, _, _ = _batch(shape=(256, 3), seed=1)
    state = {"mean": jnp.zeros(3), "var": jnp.ones(3)}
    for _ in range(60):
        _, state = F.batch_norm(x, {}, state, train=True, momentum=0.9)
    np.testing.assert_allclose(state["mean"], x.mean(axis=0), rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(state["var"], x.var(axis=0), rtol=1e-2, atol=1e-2)


def test_batch_norm_axis_name_averages_statistics_across_a_mapped_axis():
    x, params, state = _batch(shape=(8, 3))
    full, full_state = F.batch_norm(x, params, state, train=True)
    sharded = jax.vmap(lambda xs: F.batch_norm(xs, params, state, train=True, axis_name="batch"), axis_name="batch")(
        x.reshape(2, 4, 3)
    )
    np.testing.assert_allclose(sharded[0].reshape(8, 3), full, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sharded[1]["mean"][0], full_state["mean"], rtol=1e-5, atol=1e-6)


def lrn_reference(x, size, alpha, beta, k, average=False):
    """b_c = a_c / (k + alpha' sum_{c'=c-size//2}^{c+(size-1)//2} a_c'^2)^beta, alpha' = alpha (/ size if average)."""
    channels = x.shape[-1]
    out = np.empty_like(x, dtype=np.float64)
    scale = alpha / size if average else alpha
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels, c + (size - 1) // 2 + 1)
        out[..., c] = x[..., c] / (k + scale * np.sum(x[..., lo:hi] ** 2, axis=-1)) ** beta
    return out


@pytest.mark.parametrize("size", [5, 3, 4, 1])
def test_local_response_norm_alexnet_constants(size):
    """AlexNet: k=2, n=5, alpha=1e-4, beta=0.75; activations large enough (std 40) that the sum matters."""
    x = (np.random.default_rng(size).normal(size=(2, 3, 3, 8)) * 40).astype(np.float32)
    y = F.local_response_norm(x, size=size)
    np.testing.assert_allclose(y, lrn_reference(x, size, 1e-4, 0.75, 2.0), rtol=1e-5)
    assert np.abs(np.asarray(y) - x / 2.0**0.75).max() > 1e-2  # the neighbourhood sum does change the output


def test_local_response_norm_average_divides_alpha_by_size():
    x = (np.random.default_rng(1).normal(size=(2, 5, 7)) * 5).astype(np.float32)
    y = F.local_response_norm(x, size=3, alpha=0.3, beta=0.5, k=1.0, average=True)
    np.testing.assert_allclose(y, lrn_reference(x, 3, 0.3, 0.5, 1.0, average=True), rtol=1e-5)
    np.testing.assert_allclose(y, F.local_response_norm(x, size=3, alpha=0.1, beta=0.5, k=1.0), rtol=1e-6)


class JitTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_batch_norm(self):
        x, params, state = _batch()
        train = self.variant(lambda x, p, s: F.batch_norm(x, p, s, train=True))
        evaluate = self.variant(lambda x, p, s: F.batch_norm(x, p, s, train=False))
        (y, new_state), (y_eval, same_state) = train(x, params, state), evaluate(x, params, state)
        np.testing.assert_allclose(new_state["mean"], 0.9 * state["mean"] + 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-5)
        np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), params["bias"], atol=1e-4)
        chex.assert_trees_all_close(same_state, state)
        expected = (x - state["mean"]) / np.sqrt(state["var"] + 1e-5) * params["scale"] + params["bias"]
        np.testing.assert_allclose(y_eval, expected, rtol=1e-4, atol=1e-4)

    @chex.variants(with_jit=True, without_jit=True)
    def test_local_response_norm(self):
        x = (np.random.default_rng(2).normal(size=(1, 2, 2, 6)) * 30).astype(np.float32)
        y = self.variant(F.local_response_norm)(x)
        np.testing.assert_allclose(y, lrn_reference(x, 5, 1e-4, 0.75, 2.0), rtol=1e-5)


# batch_norm's training derivative is a custom JVP rule (cnnjax.functional.norm._batch_normalize_jvp); the plain
# derivative of the same formula, `_batch_normalize.fun`, is the reference.
def _objective(normalize, params, axis_name=None):
    """A scalar of all three outputs (y, mean, var), so that every output's derivative counts."""

    def f(x, scale, bias):
        y, mean, var = normalize(
            x, scale if "scale" in params else None, bias if "bias" in params else None, 1e-5, axis_name
        )
        w = jnp.cos(jnp.arange(y.size, dtype=y.dtype)).reshape(y.shape)
        return jnp.sum(w * y**2) + jnp.sum(jnp.sin(mean)) + jnp.sum(jnp.sqrt(var))

    return f


@pytest.mark.parametrize("keys", [("scale", "bias"), ("scale",), ()], ids=["scale+bias", "scale", "none"])
def test_batch_norm_training_derivatives_equal_the_plain_derivatives(keys):
    from cnnjax.functional.norm import _batch_normalize

    with jax.enable_x64(True):
        x, params, _ = _batch()
        x = jnp.asarray(x, jnp.float64)
        params = {k: jnp.asarray(v, jnp.float64) for k, v in params.items() if k in keys}
        scale, bias = params.get("scale", jnp.ones(3)), params.get("bias", jnp.zeros(3))
        rule, plain = _objective(_batch_normalize, params), _objective(_batch_normalize.fun, params)
        args = (x, scale, bias)
        tangents = tuple(jnp.asarray(np.random.default_rng(1).normal(size=a.shape)) for a in args)
        for derivative in (
            lambda f: jax.grad(f, argnums=(0, 1, 2))(*args),
            lambda f: jax.jvp(f, args, tangents)[1],
            lambda f: jax.jvp(jax.grad(f), args, tangents)[1],  # Hessian-vector product, forward over reverse
            lambda f: jax.grad(lambda *a: jax.grad(f)(*a).sum())(*args),  # reverse over reverse
        ):
            chex.assert_trees_all_close(derivative(rule), derivative(plain), rtol=1e-9, atol=1e-9)


def test_batch_norm_training_derivatives_under_a_mapped_axis_equal_the_unmapped_ones():
    x, params, state = _batch(shape=(8, 3))

    def loss(x, params):
        y, new_state = F.batch_norm(x, params, state, train=True)
        return jnp.sum(jnp.cos(y)) + jnp.sum(new_state["var"])

    def sharded_loss(x, params):
        def per_device(xs):
            y, new_state = F.batch_norm(xs, params, state, train=True, axis_name="batch")
            return jnp.sum(jnp.cos(y)) + jnp.sum(new_state["var"]) / 2  # the var is the same on both

        return jnp.sum(jax.vmap(per_device, axis_name="batch")(x.reshape(2, 4, 3)))

    chex.assert_trees_all_close(
        jax.grad(sharded_loss, argnums=(0, 1))(x, params),
        jax.grad(loss, argnums=(0, 1))(x, params),
        rtol=1e-5,
        atol=1e-5,
    )


def test_batch_norm_training_passes_finite_differences_to_second_order_both_modes():
    from jax.test_util import check_grads

    with jax.enable_x64(True):
        x, params, state = _batch(shape=(6, 2, 3))

        def f(x, scale):
            return F.batch_norm(x, {"scale": scale, "bias": params["bias"]}, state, train=True)[0]

        check_grads(
            f,
            (jnp.asarray(x, jnp.float64), jnp.asarray(params["scale"], jnp.float64)),
            order=2,
            modes=("fwd", "rev"),
            atol=1e-5,
            rtol=1e-5,
        )
