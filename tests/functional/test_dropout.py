"""Inverted dropout with an explicit key."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F


def test_same_key_same_mask_different_key_different_mask():
    x = jnp.ones((64, 64))
    a, b = F.dropout(jax.random.key(0), x, 0.5, train=True), F.dropout(jax.random.key(0), x, 0.5, train=True)
    c = F.dropout(jax.random.key(1), x, 0.5, train=True)
    np.testing.assert_array_equal(a, b)
    assert np.mean(np.asarray(a) != np.asarray(c)) > 0.3


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_drops_the_rate_and_scales_survivors_to_keep_the_mean(rate):
    x = jnp.full((200, 500), 3.0)
    y = np.asarray(F.dropout(jax.random.key(2), x, rate, train=True))
    kept = y != 0
    np.testing.assert_allclose(y[kept], 3.0 / (1 - rate), rtol=1e-6)
    # 100,000 Bernoulli draws: the standard error of the dropped fraction is below 0.0016.
    assert abs((1 - kept.mean()) - rate) < 0.01
    assert abs(y.mean() - 3.0) < 0.05 * 3.0 / (1 - rate)


def test_identity_in_evaluation_or_at_rate_zero():
    x = jnp.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(F.dropout(jax.random.key(0), x, 0.5, train=False), x)
    np.testing.assert_array_equal(F.dropout(None, x, 0.5, train=False), x)
    np.testing.assert_array_equal(F.dropout(jax.random.key(0), x, 0.0, train=True), x)


class JitTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_dropout(self):
        x = jnp.ones((32, 32))
        key = jax.random.key(3)
        y = self.variant(lambda k, x: F.dropout(k, x, 0.25, train=True))(key, x)
        expected = jnp.where(jax.random.bernoulli(key, 0.75, x.shape), x / 0.75, 0.0)
        np.testing.assert_array_equal(y, expected)
