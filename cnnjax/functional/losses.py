"""Losses. Each returns one value per example, shape (N,); average them yourself (`.mean()`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from cnnjax.functional.checks import named_op


def _check_labels(logits: jax.Array, labels: jax.Array) -> None:
    logits, labels = jnp.asarray(logits), jnp.asarray(labels)
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"labels: expected integer class ids of shape ({logits.shape[0]},) for logits (N, classes), "
            f"got labels {tuple(labels.shape)} and logits {tuple(logits.shape)}"
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels: expected integer class ids, got dtype {labels.dtype}; cast with labels.astype(int)")


@named_op("softmax_cross_entropy")
def softmax_cross_entropy(logits: jax.Array, labels: jax.Array, *, label_smoothing: float = 0.0) -> jax.Array:
    """-log softmax(logits)[label], optionally against labels smoothed towards uniform.

    Args:
      logits: (N, K). labels: (N,) integer class ids. label_smoothing: in [0, 1).
    Returns:
      (N,) losses.
    """
    _check_labels(logits, labels)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing: expected a value in [0, 1), got {label_smoothing!r}")
    if label_smoothing == 0.0:
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype), label_smoothing)
    return optax.softmax_cross_entropy(logits, targets)


@named_op("multiclass_hinge")
def multiclass_hinge(logits: jax.Array, labels: jax.Array, *, margin: float = 1.0) -> jax.Array:
    """The multiclass SVM loss: sum over wrong classes j of max(0, s_j - s_label + margin).

    Args:
      logits: (N, K) scores. labels: (N,) integer class ids.
    Returns:
      (N,) losses.
    """
    _check_labels(logits, labels)
    correct = jnp.take_along_axis(logits, labels[:, None], axis=-1)
    margins = jnp.maximum(0.0, logits - correct + margin)
    return jnp.sum(margins, axis=-1) - margin  # the label's own term is exactly `margin`


@named_op("l2_loss")
def l2_loss(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """Squared error summed over all but the batch axis: (N, ...) -> (N,)."""
    if predictions.shape != jnp.shape(targets) and jnp.ndim(targets) != 0:
        raise ValueError(
            f"targets: expected shape {tuple(predictions.shape)} to match predictions, got {tuple(jnp.shape(targets))}"
        )
    errors = jnp.square(predictions - targets)
    return jnp.sum(errors.reshape(errors.shape[0], -1), axis=-1)


def pixel_softmax_cross_entropy(logits: jax.Array, labels: jax.Array, *, label_smoothing: float = 0.0) -> jax.Array:
    """`softmax_cross_entropy` of every pixel, averaged over each example's pixels (segmentation).

    Args:
      logits: (N, H, W, K) per-pixel class scores. labels: (N, H, W) integer class ids. label_smoothing: in [0, 1).
    Returns:
      (N,) losses: the mean over the H x W pixels of each example.
    """
    if logits.ndim != 4 or labels.shape != logits.shape[:3]:
        raise ValueError(
            f"labels: expected integer class ids of shape {tuple(logits.shape[:3])} for logits (N, H, W, classes), "
            f"got labels {tuple(labels.shape)} and logits {tuple(logits.shape)}"
        )
    n, k = logits.shape[0], logits.shape[-1]
    per_pixel = softmax_cross_entropy(logits.reshape(-1, k), labels.reshape(-1), label_smoothing=label_smoothing)
    return per_pixel.reshape(n, -1).mean(axis=-1)
