"""What the figures show, computed with JAX (no matplotlib here): layers, feature maps, occlusion, saliency, the
fixed filters' responses, and test-set predictions.

`logits_fn` arguments are functions from a float batch of model inputs (N, H, W, C) to logits (N, classes), e.g.
`lambda x: model.apply(variables, x, train=False)`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import functional as F
from cnnjax.summary import Layer as SummaryRow
from cnnjax.summary import summary

LogitsFn = Callable[[jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class Layer:
    """A row of `cnnjax summary` (`summary.Layer`: its unique `name`, module `path`, `call`, `type`,
    `output_shape`) with the shape of the module's own 'kernel' parameter."""

    row: SummaryRow
    kernel_shape: tuple[int, ...] | None

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def path(self) -> str:
        return self.row.path

    @property
    def call(self) -> int:
        return self.row.call

    @property
    def type(self) -> str:
        return self.row.type

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        """With the batch axis."""
        return None if self.row.output_shape is None else tuple(self.row.output_shape)

    @property
    def has_maps(self) -> bool:
        """True when the layer outputs maps (N, H, W, C)."""
        return self.output_shape is not None and len(self.output_shape) == 4

    @property
    def has_filters(self) -> bool:
        """True when the layer owns a 2-D convolution kernel (kh, kw, in, out)."""
        return self.kernel_shape is not None and len(self.kernel_shape) == 4


def layers(model: nn.Module, variables: Mapping[str, Any], input_shape: tuple[int, ...]) -> list[Layer]:
    """The module calls of `model` on one (H, W, C) input, in call order: the rows of `cnnjax summary`."""
    result = []
    for row in summary(model, tuple(input_shape)).layers:
        params = _lookup(variables.get("params", {}), row.path.split("/"))
        kernel = params.get("kernel") if isinstance(params, Mapping) else None
        result.append(Layer(row, None if kernel is None else tuple(kernel.shape)))
    return result


NEEDS = {"maps": "layer with spatial maps (N, H, W, C)", "filters": "layer with a 2-D conv kernel"}


def eligible(all_layers: list[Layer], need: str) -> list[Layer]:
    """The layers with `need`: 'maps' (spatial outputs, for feature maps) or 'filters' (a conv kernel)."""
    if need not in NEEDS:
        raise ValueError(f"need: expected one of {sorted(NEEDS)}, got {need!r}")
    return [layer for layer in all_layers if getattr(layer, f"has_{need}")]


def find_layer(all_layers: list[Layer], name: str, *, need: str) -> Layer:
    """The layer called `name` among those with `need` (see `eligible`); a ValueError lists them."""
    valid, what = eligible(all_layers, need), NEEDS[need]
    for layer in all_layers:
        if layer.name == name:
            if layer in valid:
                return layer
            raise ValueError(
                f"layer: expected a {what}, one of {[v.name for v in valid]}; got {name!r}, a {layer.type} with "
                f"output {layer.output_shape}" + ("" if need == "maps" else f" and kernel {layer.kernel_shape}")
            )
    raise ValueError(f"layer: expected a {what}, one of {[v.name for v in valid]}; got unknown {name!r}")


def _lookup(tree: Mapping[str, Any], keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def layer_kernel(variables: Mapping[str, Any], layer: Layer) -> np.ndarray:
    """The 'kernel' parameter of `layer` (HWIO for a conv layer)."""
    return np.asarray(_lookup(variables["params"], layer.path.split("/"))["kernel"])


def feature_maps(model: nn.Module, variables: Mapping[str, Any], x: jax.Array, layer: Layer) -> np.ndarray:
    """The output (H', W', C') of `layer` for one model input `x` (H, W, C), via Flax's capture_intermediates."""
    path = tuple(layer.path.split("/"))

    def wanted(module: nn.Module, method: str) -> bool:
        return method == "__call__" and tuple(module.path) == path

    _, state = model.apply(variables, x[None], train=False, capture_intermediates=wanted, mutable=["intermediates"])
    return np.asarray(_lookup(state["intermediates"], list(path))["__call__"][layer.call][0])


def predict(fn: Callable[[jax.Array], jax.Array], inputs: np.ndarray, *, batch_size: int = 1000) -> np.ndarray:
    """`fn` over `inputs` in jitted batches of `batch_size` (the last one padded, so it compiles once)."""
    if len(inputs) == 0:
        raise ValueError("inputs: expected at least one example, got none")
    jitted = jax.jit(fn)
    outputs = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        n = len(batch)
        padded = np.concatenate([batch, np.repeat(batch[-1:], batch_size - n, axis=0)]) if n < batch_size else batch
        outputs.append(np.asarray(jitted(padded))[:n])
    return np.concatenate(outputs)


@dataclasses.dataclass(frozen=True)
class Occlusion:
    """probabilities (rows, cols, classes): the softmax with the patch whose top-left corner is
    (top[i], left[j]); size, stride: the patch, in input pixels."""

    probabilities: np.ndarray
    top: np.ndarray
    left: np.ndarray
    size: int
    stride: int


def occlusion(
    logits_fn: LogitsFn, x: jax.Array, *, size: int, stride: int, fill: float = 0.0, batch_size: int = 256
) -> Occlusion:
    """Zeiler & Fergus's experiment: the class probabilities as a `size` x `size` patch of value `fill` slides over
    the model input `x` (H, W, C) with step `stride` <= `size` (patches inside the image).

    `fill` is in model-input units: 0 is the dataset's mean pixel once inputs are normalised (their grey square).
    """
    height, width, channels = x.shape
    if not isinstance(size, int) or not 1 <= size <= min(height, width):
        raise ValueError(f"size: expected a patch size in [1, {min(height, width)}] pixels, got {size!r}")
    if not isinstance(stride, int) or not 1 <= stride <= size:
        raise ValueError(
            f"stride: expected a step of 1 to size={size} pixels (a longer one leaves pixels that no "
            f"patch covers), got {stride!r}"
        )
    top, left = np.arange(0, height - size + 1, stride), np.arange(0, width - size + 1, stride)
    corners = np.stack(np.meshgrid(top, left, indexing="ij"), axis=-1).reshape(-1, 2).astype(np.int32)
    x = jnp.asarray(x)
    patch = jnp.full((size, size, channels), fill, x.dtype)

    def probabilities(corner_batch: jax.Array) -> jax.Array:
        occluded = jax.vmap(lambda c: jax.lax.dynamic_update_slice(x, patch, (c[0], c[1], 0)))(corner_batch)
        return jax.nn.softmax(logits_fn(occluded))

    probs = predict(probabilities, corners, batch_size=min(batch_size, len(corners)))
    return Occlusion(probs.reshape(len(top), len(left), -1), top, left, size, stride)


def saliency(
    logits_fn: LogitsFn,
    x: jax.Array,
    class_index: int,
    *,
    samples: int = 0,
    noise: float = 0.15,
    key: jax.Array | None = None,
) -> np.ndarray:
    """The gradient (H, W, C) of the logit of `class_index` with respect to the model input `x` (H, W, C)
    (Simonyan et al. 2014); with `samples` > 0, SmoothGrad (Smilkov et al. 2017): its mean over `samples` copies
    of `x` plus Gaussian noise of std `noise` * (max(x) - min(x)), drawn with `key`."""
    if samples < 0:
        raise ValueError(f"samples: expected 0 (plain gradient) or a positive count, got {samples!r}")
    if samples and key is None:
        raise ValueError("key: expected a jax.random key for SmoothGrad (samples > 0), got None")
    if samples and not (math.isfinite(noise) and noise > 0):
        raise ValueError(
            f"noise: expected a finite std > 0 (a fraction of the input's range, e.g. 0.15), got {noise!r}"
        )

    def score(image: jax.Array) -> jax.Array:
        return logits_fn(image[None])[0, class_index]

    x = jnp.asarray(x)
    if not samples:
        return np.asarray(jax.jit(jax.grad(score))(x))
    sigma = noise * (x.max() - x.min())
    noisy = x[None] + sigma * jax.random.normal(key, (samples, *x.shape), x.dtype)
    return np.asarray(jax.jit(jax.vmap(jax.grad(score)))(noisy).mean(axis=0))


def fixed_filter_responses(image: np.ndarray) -> dict[str, np.ndarray]:
    """Each of `functional.FIXED_FILTERS` (as printed, not normalised) applied to the grey levels of `image`
    (H, W, C) in [0, 1] with 'SAME' padding: {name: (H, W)}."""
    grey = jnp.asarray(image, jnp.float32).mean(axis=-1)[None, :, :, None]
    return {
        name: np.asarray(F.conv(grey, jnp.asarray(F.as_kernel(F.fixed_filter(name))), padding="SAME")[0, :, :, 0])
        for name in F.FIXED_FILTERS
    }


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[i, j]: examples of true class i predicted as class j."""
    flat = np.asarray(labels, np.int64) * num_classes + np.asarray(predictions, np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def most_confident_errors(probabilities: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to `count` misclassified examples, highest probability of the predicted class first."""
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count: expected a positive number of examples, got {count!r}")
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:count]]
