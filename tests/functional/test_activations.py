"""Activations, including the sigmoid table of seed 003."""

import chex
import jax
import numpy as np

from cnnjax import functional as F


def test_sigmoid_and_its_derivative_match_the_notes_table():
    """Seed 003 (003_2e998682df56e484.txt), 'Backpropagation for neural nets': sigma(x) and sigma'(x), 2 decimals."""
    x = np.arange(-5.0, 6.0, dtype=np.float32)
    sigma = [0.01, 0.02, 0.05, 0.12, 0.27, 0.50, 0.73, 0.88, 0.95, 0.98, 0.99]
    dsigma = [0.01, 0.02, 0.05, 0.10, 0.20, 0.25, 0.20, 0.10, 0.05, 0.02, 0.01]
    np.testing.assert_allclose(np.round(np.asarray(F.sigmoid(x)), 2), sigma)
    np.testing.assert_allclose(np.round(np.asarray(jax.vmap(jax.grad(F.sigmoid))(x)), 2), dsigma)


def test_elementwise_activations():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], np.float32)
    np.testing.assert_array_equal(F.relu(x), [0, 0, 0, 0.5, 2])
    np.testing.assert_array_equal(F.step(x), [0, 0, 0, 1, 1])
    np.testing.assert_allclose(F.tanh(x), np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(F.scaled_tanh(x), 1.7159 * np.tanh(2 * x / 3), rtol=1e-6)
    np.testing.assert_allclose(F.scaled_tanh(np.float32(1.0)), 1.0, atol=1e-4)  # LeCun's choice: f(1) = 1
    np.testing.assert_array_equal(jax.vmap(jax.grad(F.step))(x), np.zeros(5))


def test_softmax_is_a_distribution_along_the_axis():
    z = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    p = np.asarray(F.softmax(z, axis=0))
    np.testing.assert_allclose(p.sum(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p, np.exp(z) / np.exp(z).sum(axis=0), rtol=1e-5)


def test_get_activation():
    assert F.get_activation("relu") is F.relu
    assert F.get_activation("scaled_tanh") is F.scaled_tanh


class JitTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_activations(self):
        x = np.linspace(-3, 3, 7, dtype=np.float32)
        for name, reference in [("relu", np.maximum(x, 0)), ("sigmoid", 1 / (1 + np.exp(-x))), ("step", x > 0)]:
            np.testing.assert_allclose(self.variant(F.get_activation(name))(x), reference, rtol=1e-6)
