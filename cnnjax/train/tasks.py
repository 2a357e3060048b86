"""Tasks: what a model's main output is trained to predict, with which loss, and how it is measured.

A model declares its task (`cnnjax.models.outputs`); `config.loss` names a loss of `cnnjax.functional` that fits
it ('' = the task's default). A task turns a batch into targets, gives one loss per example, one training metric
per step, and in evaluation sums over the examples (so they add up exactly over batches and devices), which
`summarize` turns into the test metrics.

  task            targets                              losses (default first)          test metrics (main first)
  classification  the labels                           softmax_cross_entropy,          accuracy, top5_accuracy
                                                       multiclass_hinge                (more than 5 classes), loss;
                                                                                       several evaluation views
                                                                                       (crops): mean softmax
  reconstruction  the input image (after augmentation) l2                              mse, psnr, loss
                  scaled to [0, 1]
  segmentation    per pixel: 0 = background, 1 + the   pixel_softmax_cross_entropy     mean_iou, pixel_accuracy,
                  image's label where the pixel is                                     loss
                  brighter than FOREGROUND_THRESHOLD

Segmentation needs no mask files: on Fashion-MNIST / MNIST (dark background) the objects' pixels are labelled
with their class, computed on device from image and label, so every classification dataset is a segmentation
dataset with 1 + num_classes classes. `test_loss` is the task's loss without label smoothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import functional as F

Metrics = dict[str, jax.Array]

# config.loss -> the per-example loss of cnnjax.functional: (outputs, targets) -> (N,).
LOSSES: dict[str, Callable[..., jax.Array]] = {
    "softmax_cross_entropy": F.softmax_cross_entropy,
    "multiclass_hinge": F.multiclass_hinge,
    "l2": F.l2_loss,
    "pixel_softmax_cross_entropy": F.pixel_softmax_cross_entropy,
}
SMOOTHED_LOSSES = ("softmax_cross_entropy", "pixel_softmax_cross_entropy")  # take config.label_smoothing
FOREGROUND_THRESHOLD = 64  # segmentation: a pixel whose mean intensity (0..255) exceeds this belongs to the object
PSNR_FLOOR_MSE = 1e-10  # a perfect reconstruction counts as 100 dB, not infinity


@dataclasses.dataclass(frozen=True)
class Task:
    """loss: a name of LOSSES that fits the task; num_classes: classes of the targets (0 for reconstruction);
    label_smoothing: passed to the loss in training (only SMOOTHED_LOSSES take it)."""

    name: ClassVar[str]
    losses: ClassVar[tuple[str, ...]]  # the losses that fit, the default first
    train_metric: ClassVar[str]  # the per-step metric of the training records ('train_<name>')
    main_metric: ClassVar[str]  # the test metric of the last line ('test_<name>: ...')

    loss: str
    num_classes: int = 0
    label_smoothing: float = 0.0

    def loss_per_example(self, outputs: jax.Array, targets: jax.Array, *, train: bool) -> jax.Array:
        """(N,) losses of the named loss; label smoothing in training only."""
        if self.loss in SMOOTHED_LOSSES:
            smoothing = self.label_smoothing if train else 0.0
            return LOSSES[self.loss](outputs, targets, label_smoothing=smoothing)
        return LOSSES[self.loss](outputs, targets)

    def targets(self, images: jax.Array, labels: jax.Array) -> jax.Array:
        """images: (N, H, W, C) after augmentation, pixel scale 0..255; labels: (N,) int."""
        raise NotImplementedError

    def train_metric_value(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        raise NotImplementedError

    def eval_sums(self, outputs: jax.Array, targets: jax.Array, mask: jax.Array) -> Metrics:
        """Sums over the examples of one batch; mask: (N,) bool, False marks padding."""
        raise NotImplementedError

    def combine_views(self, outputs: jax.Array) -> jax.Array:
        """The output of each example from those of its V evaluation views, (V, N, ...) -> (N, ...). One view:
        its output; several are the classification task's (config.validate refuses them for the others)."""
        if outputs.shape[0] != 1:
            raise ValueError(f"{self.name}: expected one evaluation view, got {outputs.shape[0]}")
        return outputs[0]

    def summarize(self, totals: dict[str, np.ndarray]) -> dict[str, float]:
        """The test metrics ('test_<main_metric>' first) from the summed `eval_sums` of all batches."""
        raise NotImplementedError

    def model_options(self, image_shape: tuple[int, int, int]) -> dict[str, Any]:
        """Options of `models.create` that fit the model to the data (the model's input shape (H, W, C))."""
        raise NotImplementedError


class Classification(Task):
    name = "classification"
    losses = ("softmax_cross_entropy", "multiclass_hinge")
    train_metric = "accuracy"
    main_metric = "accuracy"

    def targets(self, images, labels):
        return labels

    def train_metric_value(self, outputs, targets):
        return jnp.mean(jnp.argmax(outputs, -1) == targets)

    def combine_views(self, outputs):
        """Several views (AlexNet's ten crops, VGG's scales): the log of the views' mean softmax, so that argmax,
        top-5 and the cross-entropy are those of the averaged class probabilities; the hinge loss's scores are
        averaged as they are."""
        if outputs.shape[0] == 1:
            return outputs[0]
        if self.loss == "multiclass_hinge":
            return jnp.mean(outputs, axis=0)
        log_probs = jax.nn.log_softmax(outputs, axis=-1)  # log mean softmax, without underflow:
        return jax.nn.logsumexp(log_probs, axis=0) - jnp.log(outputs.shape[0])

    def eval_sums(self, outputs, targets, mask):
        weight = mask.astype(jnp.float32)
        sums = {
            "loss_sum": jnp.sum(self.loss_per_example(outputs, targets, train=False) * weight),
            "correct": jnp.sum((jnp.argmax(outputs, -1) == targets) * weight),
            "count": jnp.sum(weight),
        }
        if self.num_classes > 5:
            top5 = jax.lax.top_k(outputs, 5)[1]
            sums["correct_top5"] = jnp.sum(jnp.any(top5 == targets[:, None], axis=-1) * weight)
        return sums

    def summarize(self, totals):
        count = float(totals["count"])
        metrics = {"test_loss": float(totals["loss_sum"]) / count, "test_accuracy": float(totals["correct"]) / count}
        if "correct_top5" in totals:
            metrics["test_top5_accuracy"] = float(totals["correct_top5"]) / count
        return metrics

    def model_options(self, image_shape):
        return {"num_classes": self.num_classes}


class Reconstruction(Task):
    name = "reconstruction"
    losses = ("l2",)
    train_metric = "mse"
    main_metric = "mse"

    def targets(self, images, labels):
        return images.astype(jnp.float32) / 255.0

    def train_metric_value(self, outputs, targets):
        return jnp.mean(jnp.square(outputs - targets))

    def eval_sums(self, outputs, targets, mask):
        weight = mask.astype(jnp.float32)
        mse = jnp.mean(jnp.square(outputs - targets).reshape(outputs.shape[0], -1), axis=-1)
        return {
            "loss_sum": jnp.sum(self.loss_per_example(outputs, targets, train=False) * weight),
            "mse_sum": jnp.sum(mse * weight),
            "psnr_sum": jnp.sum(psnr(mse) * weight),
            "count": jnp.sum(weight),
        }

    def summarize(self, totals):
        count = float(totals["count"])
        return {
            "test_mse": float(totals["mse_sum"]) / count,
            "test_psnr": float(totals["psnr_sum"]) / count,
            "test_loss": float(totals["loss_sum"]) / count,
        }

    def model_options(self, image_shape):
        return {"out_channels": image_shape[2], "input_size": tuple(image_shape[:2])}


class Segmentation(Task):
    name = "segmentation"
    losses = ("pixel_softmax_cross_entropy",)
    train_metric = "pixel_accuracy"
    main_metric = "mean_iou"

    def targets(self, images, labels):
        foreground = images.astype(jnp.float32).mean(axis=-1) > FOREGROUND_THRESHOLD
        return jnp.where(foreground, labels[:, None, None] + 1, 0).astype(jnp.int32)

    def train_metric_value(self, outputs, targets):
        return jnp.mean(jnp.argmax(outputs, -1) == targets)

    def eval_sums(self, outputs, targets, mask):
        k = self.num_classes
        weight = jnp.broadcast_to(mask[:, None, None], targets.shape).astype(jnp.int32)
        pairs = (targets * k + jnp.argmax(outputs, -1)).reshape(-1)
        confusion = jnp.zeros(k * k, jnp.int32).at[pairs].add(weight.reshape(-1)).reshape(k, k)
        return {
            "loss_sum": jnp.sum(self.loss_per_example(outputs, targets, train=False) * mask.astype(jnp.float32)),
            "confusion": confusion,  # [target class, predicted class] pixel counts
            "count": jnp.sum(mask.astype(jnp.float32)),
        }

    def summarize(self, totals):
        confusion = np.asarray(totals["confusion"], np.float64)
        return {
            "test_mean_iou": mean_iou(confusion),
            "test_pixel_accuracy": float(np.trace(confusion) / confusion.sum()),
            "test_loss": float(totals["loss_sum"]) / float(totals["count"]),
        }

    def model_options(self, image_shape):
        return {"out_channels": self.num_classes}


TASKS: dict[str, type[Task]] = {t.name: t for t in (Classification, Reconstruction, Segmentation)}


def psnr(mse: jax.Array) -> jax.Array:
    """Peak signal-to-noise ratio in dB of images in [0, 1]: 10 log10(1 / mse)."""
    return -10.0 * jnp.log10(jnp.maximum(mse, PSNR_FLOOR_MSE))


def mean_iou(confusion: np.ndarray) -> float:
    """Mean over classes of |target & predicted| / |target | predicted| from a [target, predicted] count matrix;
    classes absent from both targets and predictions are left out of the mean."""
    confusion = np.asarray(confusion, np.float64)
    hits = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - hits
    present = union > 0
    return float(np.mean(hits[present] / union[present])) if present.any() else 0.0


def check_loss(task: str, loss: str, label_smoothing: float) -> str:
    """The loss a run of `task` uses (`loss`, or the task's default for ''); raises if it does not fit."""
    losses = TASKS[task].losses
    if loss and loss not in LOSSES:
        raise ValueError(f"config.loss: expected one of {list(LOSSES)} (or '' for the task's default), got {loss!r}")
    if loss and loss not in losses:
        raise ValueError(f"config.loss: the model's task is {task}, whose losses are {list(losses)}; got {loss!r}")
    loss = loss or losses[0]
    if label_smoothing and loss not in SMOOTHED_LOSSES:
        raise ValueError(
            f"config.label_smoothing: expected 0 with loss {loss!r} (only {list(SMOOTHED_LOSSES)} smooth labels), "
            f"got {label_smoothing!r}; add --config.label_smoothing=0"
        )
    return loss


def make_task(task: str, *, loss: str, num_classes: int, label_smoothing: float = 0.0) -> Task:
    """The task `task` (a name of TASKS) for data with `num_classes` label classes.

    Segmentation adds the background class (num_classes + 1 target classes); reconstruction has none.
    """
    loss = check_loss(task, loss, label_smoothing)
    classes = {"classification": num_classes, "reconstruction": 0, "segmentation": num_classes + 1}[task]
    return TASKS[task](loss=loss, num_classes=classes, label_smoothing=label_smoothing)
