"""Normalisation: batch normalisation with explicit running statistics, and AlexNet's local response normalisation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypedDict

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.ad_checkpoint import checkpoint_name

from cnnjax.functional.checks import as_bool, as_int, as_real, is_concrete, named_op


class BatchNormParams(TypedDict, total=False):
    scale: jax.Array  # (C,)
    bias: jax.Array  # (C,)


class BatchNormState(TypedDict):
    mean: jax.Array  # (C,) running mean
    var: jax.Array  # (C,) running (biased) variance


def _channels(v: jax.Array, ndim: int) -> jax.Array:
    """A (C,) vector shaped (1, ..., 1, C) to broadcast against a rank-`ndim` input (explicitly: no rank promotion)."""
    return jnp.reshape(v, (1,) * (ndim - 1) + (-1,))


def _check_batch_norm(x, params, state, train, momentum, eps) -> tuple[float, float]:
    """Checks the arguments; returns momentum and eps as Python floats."""
    if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
        raise TypeError(f"x: expected a floating-point array, got dtype {jnp.result_type(x)}")
    if x.ndim < 2:
        raise ValueError(f"x: expected a rank >= 2 array (N, ..., C), got shape {tuple(x.shape)}")
    if train and math.prod(x.shape[:-1]) == 0:
        raise ValueError(f"x: expected a non-empty batch in training (its statistics), got shape {tuple(x.shape)}")
    momentum = as_real(momentum, "momentum", "a value in [0, 1]")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum: expected a value in [0, 1], got {momentum!r}")
    positive = "a positive float (it keeps rsqrt(var + eps) finite)"
    eps = as_real(eps, "eps", positive)
    if not eps > 0:
        raise ValueError(f"eps: expected {positive}, got {eps!r}")
    channels = x.shape[-1]
    if not isinstance(state, Mapping) or not {"mean", "var"} <= set(state):
        keys = sorted(state) if isinstance(state, Mapping) else type(state).__name__
        raise ValueError(f"state: expected a dict with running statistics 'mean' and 'var', got {keys}")
    for name, what, tree, keys in (
        ("state", "running statistics", state, ("mean", "var")),
        ("params", "scale and bias", params, ("scale", "bias")),
    ):
        for key in keys:
            if key in tree and jnp.shape(tree[key]) != (channels,):
                raise ValueError(
                    f"{name}: expected {what} of shape ({channels},), "
                    f"got {tuple(jnp.shape(tree[key]))} for {key!r} (x has {channels} channels)"
                )
    var = state["var"]
    if is_concrete(var) and not np.all(np.asarray(var) >= 0):
        channel = int(np.argmin(np.asarray(var) >= 0))
        raise ValueError(
            f"state: expected a non-negative running variance 'var', got {np.asarray(var)[channel]} for channel "
            f"{channel}; the statistics are corrupt (a variance is a mean of squares): re-initialise them"
        )
    return momentum, eps


@named_op("batch_norm", arrays=("x",))
def batch_norm(
    x: jax.Array,
    params: BatchNormParams,
    state: BatchNormState,
    *,
    train: bool,
    momentum: float = 0.9,
    eps: float = 1e-5,
    axis_name: str | None = None,
    ghost_batch_size: int | None = None,
) -> tuple[jax.Array, BatchNormState]:
    """Batch normalisation over every axis but the last (channels).

    In training, normalises with the batch statistics and returns running statistics updated as
    `momentum * running + (1 - momentum) * batch` (Flax's convention; PyTorch's momentum=0.1 is 0.9 here). In
    evaluation, normalises with the running statistics and returns `state` unchanged.

    A negative (or NaN) running variance is refused when `state` is concrete; under jax.jit it is traced and not
    inspected, and evaluation then gives NaN for that channel.

    Args:
      x: (N, ..., C); a bfloat16 or float16 x is normalised in float32 (its statistics too) and y returned in its
        dtype.
      params: {'scale': (C,), 'bias': (C,)}; either may be absent.
      state: {'mean': (C,), 'var': (C,)}.
      train: a bool (the str 'no' is refused, not taken as True).
      axis_name: a mapped axis (pmap/shard_map) to average the batch statistics over.
      ghost_batch_size: in training, normalise each group of this many consecutive examples by its own statistics
        ("ghost" batch norm, Hoffer et al. 2017; the original ResNet normalised over the 32 images on each GPU);
        the running statistics move towards the mean of the groups' statistics. N must be a multiple of it. Under
        jit with a batch sharded over devices, a size that divides the per-device batch keeps groups on one
        device.

    Returns:
      (y with the shape of x, new state).
    """
    train = as_bool(train, "train")
    momentum, eps = _check_batch_norm(x, params, state, train, momentum, eps)
    low_precision = jnp.issubdtype(x.dtype, jnp.floating) and jnp.finfo(x.dtype).bits < 32
    out_dtype = x.dtype
    if low_precision:  # bfloat16/float16: reduce and normalise in float32, return the input's dtype
        x = x.astype(jnp.float32)
    if train and ghost_batch_size is not None:
        return _ghost_batch_norm(x, params, state, momentum, eps, axis_name, ghost_batch_size, out_dtype)
    if train:
        # The backward pass keeps x and the two statistics and recomputes x - mean and the normalised x inside its
        # own fusions: saved, XLA writes both as full-size arrays in the forward pass and reads them back (two
        # extra passes over memory per layer; recomputed, a ResNet-20 training step on CPU measured 1.01-1.05x
        # faster, benchmarks/step_switch.py --switch batch_norm_remat).
        normalize = jax.checkpoint(_normalize_with_batch_statistics, policy=_KEEP_STATISTICS, static_argnums=(2, 3))
        y, mean, var = normalize(x, params, eps, axis_name)
        new_state = {
            "mean": momentum * state["mean"] + (1.0 - momentum) * mean,
            "var": momentum * state["var"] + (1.0 - momentum) * var,
        }
    else:
        y, new_state = _normalize(x, params, state["mean"], state["var"], eps), state
    return (y.astype(out_dtype) if low_precision else y), new_state


_KEEP_STATISTICS = jax.checkpoint_policies.save_only_these_names("batch_norm_statistics")


def _normalize_with_batch_statistics(x, params, eps, axis_name):
    """(x normalised by its statistics over every axis but the last, their mean, their biased variance)."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axes)
    mean_sq = jnp.mean(jnp.square(x), axes)
    if axis_name is not None:
        mean, mean_sq = lax.pmean((mean, mean_sq), axis_name)
    mean, mean_sq = checkpoint_name((mean, mean_sq), "batch_norm_statistics")
    var = jnp.maximum(mean_sq - jnp.square(mean), 0.0)
    return _normalize(x, params, mean, var, eps), mean, var


def _normalize(x, params, mean, var, eps):
    """(x - mean) / sqrt(var + eps) * scale + bias, over the last axis (the params present)."""
    y = (x - _channels(mean, x.ndim)) * _channels(lax.rsqrt(var + eps), x.ndim)
    if "scale" in params:
        y = y * _channels(params["scale"], x.ndim)
    if "bias" in params:
        y = y + _channels(params["bias"], x.ndim)
    return y


def _ghost_batch_norm(x, params, state, momentum, eps, axis_name, size, out_dtype):
    """`batch_norm`'s training pass with statistics per group of `size` examples (x: float32 or the input's)."""
    size = as_int(size, "ghost_batch_size", "a positive int dividing the batch")
    if size < 1 or x.shape[0] % size:
        raise ValueError(f"ghost_batch_size: expected a positive divisor of the batch {x.shape[0]}, got {size}")
    groups = x.reshape(x.shape[0] // size, size, *x.shape[1:])  # (G, size, ..., C)
    axes = tuple(range(1, groups.ndim - 1))
    mean, mean_sq = jnp.mean(groups, axes, keepdims=True), jnp.mean(jnp.square(groups), axes, keepdims=True)
    var = jnp.maximum(mean_sq - jnp.square(mean), 0.0)
    y = ((groups - mean) * lax.rsqrt(var + eps)).reshape(x.shape)
    if "scale" in params:
        y = y * _channels(params["scale"], x.ndim)
    if "bias" in params:
        y = y + _channels(params["bias"], x.ndim)
    group_mean, group_var = (jnp.mean(v.reshape(-1, x.shape[-1]), 0) for v in (mean, var))
    if axis_name is not None:  # the groups are each device's own; only the running statistics are shared
        group_mean, group_var = lax.pmean((group_mean, group_var), axis_name)
    new_state = {
        "mean": momentum * state["mean"] + (1.0 - momentum) * group_mean,
        "var": momentum * state["var"] + (1.0 - momentum) * group_var,
    }
    return y.astype(out_dtype), new_state


@named_op("local_response_norm", arrays=("x",))
def local_response_norm(
    x: jax.Array,
    size: int = 5,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 2.0,
    *,
    average: bool = False,
) -> jax.Array:
    """Local response normalisation across channels (Krizhevsky et al. 2012, section 3.3).

    b_c = a_c / (k + alpha * sum_{c' in window(c)} a_{c'}^2) ** beta, the window being `size` adjacent channels
    centred on c. The defaults are AlexNet's. `average=True` divides alpha by `size`, the convention of Caffe and
    `torch.nn.LocalResponseNorm`.

    Args:
      x: (N, ..., C). Returns the same shape.
    """
    size = as_int(size, "size", "an int >= 1 (a number of channels)")
    if size < 1:
        raise ValueError(f"size: expected an int >= 1, got {size!r}")
    if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
        raise TypeError(
            f"x: expected a floating-point array (its squares overflow integers), got dtype {jnp.result_type(x)}"
        )
    squares = jnp.square(x)
    window = (1,) * (x.ndim - 1) + (size,)
    pads = ((0, 0),) * (x.ndim - 1) + ((size // 2, (size - 1) // 2),)
    zero = np.asarray(0, jax.dtypes.canonicalize_dtype(squares.dtype))  # concrete, so that jit + grad work
    sums = lax.reduce_window(squares, zero, lax.add, window, (1,) * x.ndim, pads)
    scale = alpha / size if average else alpha
    return x / (k + scale * sums) ** beta
