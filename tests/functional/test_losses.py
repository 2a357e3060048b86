"""Losses against NumPy formulas: per-example values of shape (N,)."""

import chex
import numpy as np
import pytest

from cnnjax import functional as F


def _logits(n=6, k=5, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, k)) * scale).astype(np.float32), rng.integers(0, k, n)


def cross_entropy_reference(logits, labels, smoothing=0.0):
    """-sum_k t_k log softmax(z)_k with t = (1 - eps) one_hot + eps / K."""
    z = logits.astype(np.float64)
    log_probs = z - z.max(axis=1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    k = logits.shape[1]
    targets = (1 - smoothing) * np.eye(k)[labels] + smoothing / k
    return -(targets * log_probs).sum(axis=1)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_softmax_cross_entropy_matches_numpy(smoothing):
    logits, labels = _logits()
    loss = F.softmax_cross_entropy(logits, labels, label_smoothing=smoothing)
    assert loss.shape == (6,)
    np.testing.assert_allclose(loss, cross_entropy_reference(logits, labels, smoothing), rtol=1e-5, atol=1e-6)


def test_softmax_cross_entropy_is_stable_for_large_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 1000.0]], np.float32)
    loss = F.softmax_cross_entropy(logits, np.array([0, 1]))
    np.testing.assert_allclose(loss, [0.0, np.log(2.0)], atol=1e-4)  # float32 ulp at 1000 is 6e-5


def test_label_smoothing_raises_the_loss_of_a_confident_correct_prediction():
    logits = np.array([[10.0, 0.0, 0.0]], np.float32)
    plain = F.softmax_cross_entropy(logits, np.array([0]))
    smoothed = F.softmax_cross_entropy(logits, np.array([0]), label_smoothing=0.3)
    assert float(smoothed[0]) > float(plain[0]) + 1.0


def hinge_reference(scores, labels, margin=1.0):
    losses = []
    for s, y in zip(scores.astype(np.float64), labels):
        losses.append(sum(max(0.0, s[j] - s[y] + margin) for j in range(len(s)) if j != y))
    return np.array(losses)


@pytest.mark.parametrize("margin", [1.0, 0.5, 2.0])
def test_multiclass_hinge_matches_numpy(margin):
    logits, labels = _logits(seed=1, scale=1.0)
    loss = F.multiclass_hinge(logits, labels, margin=margin)
    assert loss.shape == (6,)
    np.testing.assert_allclose(loss, hinge_reference(logits, labels, margin), rtol=1e-5, atol=1e-5)


def test_multiclass_hinge_by_hand():
    """Scores (3.2, 5.1, -1.7), label 0: max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1) = 2.9 + 0."""
    loss = F.multiclass_hinge(np.array([[3.2, 5.1, -1.7]], np.float32), np.array([0]))
    np.testing.assert_allclose(loss, [2.9], rtol=1e-5)
    assert float(F.multiclass_hinge(np.array([[5.0, 1.0, 3.9]], np.float32), np.array([0]))[0]) == 0.0


def test_l2_loss_sums_squared_errors_per_example():
    rng = np.random.default_rng(2)
    predictions, targets = rng.normal(size=(2, 4, 3, 3)).astype(np.float32)
    loss = F.l2_loss(predictions, targets)
    assert loss.shape == (4,)
    np.testing.assert_allclose(loss, ((predictions - targets) ** 2).sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(F.l2_loss(predictions, 1.0), ((predictions - 1.0) ** 2).sum(axis=(1, 2)), rtol=1e-5)


class JitTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_losses(self):
        logits, labels = _logits(seed=3)
        np.testing.assert_allclose(
            self.variant(lambda z, y: F.softmax_cross_entropy(z, y, label_smoothing=0.2))(logits, labels),
            cross_entropy_reference(logits, labels, 0.2),
            rtol=1e-5,
            atol=1e-6,
        )
        np.testing.assert_allclose(
            self.variant(F.multiclass_hinge)(logits, labels), hinge_reference(logits, labels), rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(
            self.variant(F.l2_loss)(logits, np.zeros_like(logits)), (logits**2).sum(axis=1), rtol=1e-5
        )
