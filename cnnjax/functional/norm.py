"""Normalisation: batch normalisation with explicit running statistics, and AlexNet's local response normalisation."""

from __future__ import annotations

from typing import TypedDict

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


class BatchNormParams(TypedDict, total=False):
    scale: jax.Array  # (C,)
    bias: jax.Array  # (C,)


class BatchNormState(TypedDict):
    mean: jax.Array  # (C,) running mean
    var: jax.Array  # (C,) running (biased) variance


def batch_norm(
    x: jax.Array,
    params: BatchNormParams,
    state: BatchNormState,
    *,
    train: bool,
    momentum: float = 0.9,
    eps: float = 1e-5,
    axis_name: str | None = None,
) -> tuple[jax.Array, BatchNormState]:
    """Batch normalisation over every axis but the last (channels).

    In training, normalises with the batch statistics and returns running statistics updated as
    `momentum * running + (1 - momentum) * batch` (Flax's convention; PyTorch's momentum=0.1 is 0.9 here). In
    evaluation, normalises with the running statistics and returns `state` unchanged.

    Args:
      x: (N, ..., C).
      params: {'scale': (C,), 'bias': (C,)}; either may be absent.
      state: {'mean': (C,), 'var': (C,)}.
      axis_name: a mapped axis (pmap/shard_map) to average the batch statistics over.

    Returns:
      (y with the shape of x, new state).
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum: expected a value in [0, 1], got {momentum!r}")
    channels = x.shape[-1]
    if state["mean"].shape != (channels,):
        raise ValueError(f"state: expected running statistics of shape ({channels},), got {state['mean'].shape}")
    if train:
        axes = tuple(range(x.ndim - 1))
        mean = jnp.mean(x, axes)
        mean_sq = jnp.mean(jnp.square(x), axes)
        if axis_name is not None:
            mean, mean_sq = lax.pmean((mean, mean_sq), axis_name)
        var = jnp.maximum(mean_sq - jnp.square(mean), 0.0)
        new_state = {
            "mean": momentum * state["mean"] + (1.0 - momentum) * mean,
            "var": momentum * state["var"] + (1.0 - momentum) * var,
        }
    else:
        mean, var, new_state = state["mean"], state["var"], state
    y = (x - mean) * lax.rsqrt(var + eps)
    if "scale" in params:
        y = y * params["scale"]
    if "bias" in params:
        y = y + params["bias"]
    return y, new_state


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
    if size < 1:
        raise ValueError(f"size: expected an int >= 1, got {size!r}")
    squares = jnp.square(x)
    window = (1,) * (x.ndim - 1) + (size,)
    pads = ((0, 0),) * (x.ndim - 1) + ((size // 2, (size - 1) // 2),)
    zero = np.asarray(0, jax.dtypes.canonicalize_dtype(squares.dtype))  # concrete, so that jit + grad work
    sums = lax.reduce_window(squares, zero, lax.add, window, (1,) * x.ndim, pads)
    scale = alpha / size if average else alpha
    return x / (k + scale * sums) ** beta
