"""Losses. Each returns one value per example, shape (N,); average them yourself (`.mean()`).

Class ids outside [0, classes) are refused when the labels are concrete (a ValueError naming the first one). Under
jax.jit the labels are traced and cannot be inspected: such an example's loss is then meaningless (NaN for an id
>= classes without smoothing, otherwise a finite number from a wrapped-around or missing class), so check labels
before tracing; cnnjax's data pipeline refuses out-of-range labels when it loads a dataset.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.functional.checks import as_real, is_concrete, named_op


def _check_class_ids(labels: jax.Array, classes: int, layout: str) -> None:
    """Integer labels of concrete value must lie in [0, classes); `layout` names the logits' axes."""
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels: expected integer class ids, got dtype {labels.dtype}; cast with labels.astype(int)")
    if not is_concrete(labels):
        return
    values = np.asarray(labels)
    outside = np.argwhere((values < 0) | (values >= classes))
    if len(outside):
        index = tuple(int(i) for i in outside[0])
        raise ValueError(
            f"labels: expected class ids in [0, {classes}) (logits {layout} with {classes} classes), got "
            f"{values[index]} at index {index[0] if len(index) == 1 else index} ({len(outside)} outside the range)"
        )


def _check_smoothing(label_smoothing: object) -> float:
    label_smoothing = as_real(label_smoothing, "label_smoothing", "a value in [0, 1)")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing: expected a value in [0, 1), got {label_smoothing!r}")
    return label_smoothing


def _cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float) -> jax.Array:
    """(N, K), (N,) checked labels -> (N,)."""
    k = logits.shape[-1]
    if label_smoothing == 0.0:
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    else:
        targets = optax.smooth_labels(jax.nn.one_hot(labels, k, dtype=logits.dtype), label_smoothing)
        losses = optax.softmax_cross_entropy(logits, targets)
    return losses


def _check_logits_labels(logits: jax.Array, labels: jax.Array) -> None:
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"labels: expected integer class ids of shape ({logits.shape[0] if logits.ndim else '?'},) for logits "
            f"(N, classes), got labels {tuple(labels.shape)} and logits {tuple(logits.shape)}"
        )
    _check_class_ids(labels, logits.shape[-1], "(N, classes)")


@named_op("softmax_cross_entropy", arrays=("logits", "labels"))
def softmax_cross_entropy(logits: jax.Array, labels: jax.Array, *, label_smoothing: float = 0.0) -> jax.Array:
    """-log softmax(logits)[label], optionally against labels smoothed towards uniform.

    Args:
      logits: (N, K). labels: (N,) integer class ids in [0, K) (checked unless traced: see the module docstring).
      label_smoothing: in [0, 1).
    Returns:
      (N,) losses.
    """
    _check_logits_labels(logits, labels)
    return _cross_entropy(logits, labels, _check_smoothing(label_smoothing))


@named_op("multiclass_hinge", arrays=("logits", "labels"))
def multiclass_hinge(logits: jax.Array, labels: jax.Array, *, margin: float = 1.0) -> jax.Array:
    """The multiclass SVM loss: sum over wrong classes j of max(0, s_j - s_label + margin).

    Args:
      logits: (N, K) scores. labels: (N,) integer class ids in [0, K) (checked unless traced: see the module docstring).
      margin: >= 0 (a negative one would reward wrong classes scoring below the label's by less than |margin|).
    Returns:
      (N,) losses.
    """
    _check_logits_labels(logits, labels)
    margin = as_real(margin, "margin", "a margin >= 0")
    if not margin >= 0:
        raise ValueError(
            f"margin: expected a margin >= 0 (by how much the label's score must beat each other "
            f"class's), got {margin!r}"
        )
    correct = jnp.take_along_axis(logits, labels[:, None], axis=-1, mode="clip")
    margins = jnp.maximum(0.0, logits - correct + margin)
    losses = jnp.sum(margins, axis=-1) - margin  # the label's own term is exactly `margin`
    return losses


@named_op("l2_loss", arrays=("predictions", "targets"))
def l2_loss(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """Squared error summed over all but the batch axis: (N, ...) -> (N,); `targets` of the same shape, or a
    scalar."""
    if predictions.ndim < 1:
        raise ValueError(f"predictions: expected an array (N, ...) with a batch axis, got shape {predictions.shape}")
    if predictions.shape != targets.shape and targets.ndim != 0:
        raise ValueError(
            f"targets: expected shape {tuple(predictions.shape)} to match predictions, got {tuple(targets.shape)}"
        )
    errors = jnp.square(predictions - targets)
    return jnp.sum(errors.reshape(errors.shape[0], -1), axis=-1)


@named_op("pixel_softmax_cross_entropy", arrays=("logits", "labels"))
def pixel_softmax_cross_entropy(logits: jax.Array, labels: jax.Array, *, label_smoothing: float = 0.0) -> jax.Array:
    """`softmax_cross_entropy` of every pixel, averaged over each example's pixels (segmentation).

    Args:
      logits: (N, H, W, K) per-pixel class scores. labels: (N, H, W) integer class ids in [0, K) (checked unless
        traced: see the module docstring). label_smoothing: in [0, 1).
    Returns:
      (N,) losses: the mean over the H x W pixels of each example.
    """
    if logits.ndim != 4 or labels.shape != logits.shape[:3]:
        raise ValueError(
            f"labels: expected integer class ids of shape {tuple(logits.shape[:3])} for logits (N, H, W, classes), "
            f"got labels {tuple(labels.shape)} and logits {tuple(logits.shape)}"
        )
    _check_class_ids(labels, logits.shape[-1], "(N, H, W, classes)")
    n, k = logits.shape[0], logits.shape[-1]
    per_pixel = _cross_entropy(logits.reshape(-1, k), labels.reshape(-1), _check_smoothing(label_smoothing))
    return per_pixel.reshape(n, -1).mean(axis=-1)
