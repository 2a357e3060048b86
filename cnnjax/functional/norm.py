"""Normalisation: batch normalisation with explicit running statistics, and AlexNet's local response normalisation."""

from __future__ import annotations

import functools
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
        # extra passes over memory per layer; recomputed, a ResNet-20 training step on CPU measured 1.01-1.03x
        # faster, benchmarks/step_switch.py --switch batch_norm_remat).
        normalize = jax.checkpoint(_batch_normalize, policy=_KEEP_STATISTICS, static_argnums=(3, 4))
        y, mean, var = normalize(x, params.get("scale"), params.get("bias"), eps, axis_name)
        new_state = {
            "mean": momentum * state["mean"] + (1.0 - momentum) * mean,
            "var": momentum * state["var"] + (1.0 - momentum) * var,
        }
    else:
        mean, var, new_state = state["mean"], state["var"], state
        y = _affine(_standardize(x, mean, var, eps), params.get("scale"), params.get("bias"))
    return (y.astype(out_dtype) if low_precision else y), new_state


_KEEP_STATISTICS = jax.checkpoint_policies.save_only_these_names("batch_norm_statistics")


def _statistics(x: jax.Array, axis_name: str | None) -> tuple[jax.Array, jax.Array]:
    """The mean and the biased variance of x (N, ..., C) over every axis but the last, and over `axis_name`."""
    axes = tuple(range(x.ndim - 1))
    mean, mean_sq = jnp.mean(x, axes), jnp.mean(jnp.square(x), axes)
    if axis_name is not None:
        mean, mean_sq = lax.pmean((mean, mean_sq), axis_name)
    mean, mean_sq = checkpoint_name((mean, mean_sq), "batch_norm_statistics")
    return mean, jnp.maximum(mean_sq - jnp.square(mean), 0.0)


def _standardize(x, mean, var, eps):
    return (x - _channels(mean, x.ndim)) * _channels(lax.rsqrt(var + eps), x.ndim)


def _affine(x_hat, scale, bias):
    y = x_hat if scale is None else x_hat * _channels(scale, x_hat.ndim)
    return y if bias is None else y + _channels(bias, x_hat.ndim)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _batch_normalize(x, scale, bias, eps, axis_name):
    """(x standardised by its own statistics, then scaled and shifted; the mean; the biased variance). scale and
    bias: (C,) or None."""
    mean, var = _statistics(x, axis_name)
    return _affine(_standardize(x, mean, var, eps), scale, bias), mean, var


@_batch_normalize.defjvp
def _batch_normalize_jvp(eps, axis_name, primals, tangents):
    """The derivative with the statistics' terms as (C,) vectors broadcast last: with k = scale / sqrt(var + eps),
    a = mean(dx), b = mean(x_hat * dx),

        dy = k dx - k a - x_hat k b + x_hat dscale + dbias,   dmean = a,   dvar = 2 b sqrt(var + eps).

    Its transpose (the backward pass) then sums only the cotangent and the cotangent times x_hat over the batch, the
    same two sums as dbias and dscale, which XLA computes once: the plain derivative of the standardisation sums four
    products (two passes more over every activation; benchmarks/step_switch.py --switch batch_norm_rule)."""
    x, scale, bias = primals
    dx, dscale, dbias = tangents
    mean, var = _statistics(x, axis_name)
    x_hat = _standardize(x, mean, var, eps)
    axes = tuple(range(x.ndim - 1))
    a, b = jnp.mean(dx, axes), jnp.mean(x_hat * dx, axes)
    if axis_name is not None:
        a, b = lax.pmean((a, b), axis_name)
    rstd = lax.rsqrt(var + eps)
    k = rstd if scale is None else scale * rstd
    # added, not subtracted, so that the transposed terms are the plain sums that dbias and dscale take
    dy = dx * _channels(k, x.ndim) + _channels(-k * a, x.ndim) + x_hat * _channels(-k * b, x.ndim)
    if scale is not None:
        dy = dy + x_hat * _channels(dscale, x.ndim)
    if bias is not None:
        dy = dy + _channels(dbias, x.ndim)
    return (_affine(x_hat, scale, bias), mean, var), (dy, a, 2.0 * b / rstd)


def _ghost_batch_norm(x, params, state, momentum, eps, axis_name, size, out_dtype):
    """`batch_norm`'s training pass with statistics per group of `size` examples (x: float32 or the input's)."""
    size = as_int(size, "ghost_batch_size", "a positive int dividing the batch")
    if size < 1 or x.shape[0] % size:
        raise ValueError(f"ghost_batch_size: expected a positive divisor of the batch {x.shape[0]}, got {size}")
    groups = x.reshape(x.shape[0] // size, size, *x.shape[1:])  # (G, size, ..., C)
    axes = tuple(range(1, groups.ndim - 1))
    mean, mean_sq = jnp.mean(groups, axes, keepdims=True), jnp.mean(jnp.square(groups), axes, keepdims=True)
    var = jnp.maximum(mean_sq - jnp.square(mean), 0.0)
    y = _affine(((groups - mean) * lax.rsqrt(var + eps)).reshape(x.shape), params.get("scale"), params.get("bias"))
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
