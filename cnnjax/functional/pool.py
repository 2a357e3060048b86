"""Pooling on `lax.reduce_window`: spatial max/average/Lp pooling, global and adaptive pooling, and pooling across
channels (maxout). Inputs are (N, *spatial, C)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnjax import backend
from cnnjax.functional.checks import (
    Padding,
    Window,
    as_int,
    as_real,
    as_tuple,
    check_rank,
    check_window_fits,
    named_op,
    padding_pairs,
)

_LAYOUTS = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def _spatial_dims(shape: Sequence[int], size: object, name: str, one_d: str) -> int:
    """The number of pooled axes: one per entry of a sequence `size` (the argument `name`: a window, an output
    size); for an int, or no size, every axis between N and C of a rank-4 (N, H, W, C) or rank-5 (N, D, H, W, C)
    input. A rank-3 input needs a one-entry `size` to pool 1-D (N, W, C): an unbatched image (H, W, C) looks the
    same. `one_d` says how."""
    explicit = hasattr(size, "__len__") and not isinstance(size, (str, bytes))
    nd = len(size) if explicit else max(len(shape) - 2, 2)
    layout = _LAYOUTS.get(nd, f"N, {nd} spatial axes, C")
    if explicit:
        check_rank(shape, nd + 2, "x", f"{layout}: one spatial axis per entry of {name} {size!r}")
    else:
        hint = f"; for 1-D signals (N, W, C) {one_d}" if len(shape) == 3 else ""
        check_rank(shape, nd + 2, "x", layout, hint)
    return nd


_ONE_D_WINDOW = "pass a one-entry window, e.g. window=(2,)"


def _pool_window(x, window, stride, **_) -> Window:
    """The `Window` of max/avg/Lp pooling (declared to `checks.observe_windows`)."""
    nd = _spatial_dims(jnp.shape(x), window, "window", _ONE_D_WINDOW)
    size = as_tuple(window, nd, "window")
    return Window(size, size if stride is None else as_tuple(stride, nd, "stride"), (1,) * nd, (1,) * nd)


def _window_args(x, window, stride, padding, ceil_mode):
    nd = _spatial_dims(x.shape, window, "window", _ONE_D_WINDOW)
    window = as_tuple(window, nd, "window")
    stride = window if stride is None else as_tuple(stride, nd, "stride")
    spatial = x.shape[1:-1]
    pairs = padding_pairs(padding, spatial, window, stride)
    if not isinstance(padding, str) and any(max(lo, hi) > k // 2 for k, (lo, hi) in zip(window, pairs)):
        # PyTorch's rule: a larger padding makes windows that lie wholly in the padding (-inf or 0/0 borders).
        raise ValueError(
            f"padding: expected at most half the window on each side ({[k // 2 for k in window]} for window "
            f"{window}), got {padding!r}"
        )
    check_window_fits(spatial, window, pairs, "window")
    if ceil_mode:  # PyTorch's ceil_mode: one more window where a partial one remains, starting inside the input.
        ceiled = []
        for n, k, s, (lo, hi) in zip(spatial, window, stride, pairs):
            out = -(-(n + lo + hi - k) // s) + 1
            if (out - 1) * s >= n + lo:
                out -= 1
            ceiled.append((lo, max(hi, (out - 1) * s + k - n - lo)))
        pairs = ceiled
    return (1, *window, 1), (1, *stride, 1), ((0, 0), *pairs, (0, 0))


def _identity(value, x) -> np.ndarray:
    """A concrete init value: a traced one (`jnp.asarray` under jit) sends `lax.reduce_window` to its generic form,
    which has no reverse-mode derivative."""
    return np.asarray(value, jax.dtypes.canonicalize_dtype(x.dtype))


def _inexact(x: jax.Array) -> jax.Array:
    """Integer inputs of a sum-based pool as float32: their means are not integers, and uint8 sums overflow
    (the average of 2x2 uint8 200s would be 8)."""
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.float32)


def _reduce(x, init, op: Callable, window, stride, padding, ceil_mode=False):
    dims, strides, pads = _window_args(x, window, stride, padding, ceil_mode)
    return lax.reduce_window(x, _identity(init, x), op, dims, strides, pads)


@named_op("max_pool", arrays=("x",), window=_pool_window)
def max_pool(
    x: jax.Array,
    window: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    *,
    ceil_mode: bool = False,
) -> jax.Array:
    """Max pooling over spatial windows; padded positions never win. (N, *spatial, C) -> (N, *out, C).

    An int `window` pools the H, W of (N, H, W, C) (or the D, H, W of (N, D, H, W, C)); a sequence pools one axis
    per entry, e.g. window=(2,) pools 1-D signals (N, W, C). `stride` defaults to `window` (non-overlapping);
    AlexNet's overlapping pooling is window 3, stride 2.
    Its gradient flows only to the arg-max of each window. Integer inputs stay integers (the max is exact).
    Explicit padding may be at most window // 2 per side (PyTorch's rule).
    """
    x = jnp.asarray(x)
    dims, strides, pads = _window_args(x, window, stride, padding, ceil_mode)
    tiled = dims == strides and all(pair == (0, 0) for pair in pads)
    if tiled and backend.tiled_max_pool(jax.default_backend()):
        return _tiled_max_pool(x, dims[1:-1])
    lowest = -jnp.inf if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.iinfo(x.dtype).min  # integer images too
    return lax.reduce_window(x, _identity(lowest, x), lax.max, dims, strides, pads)


def _tiles(x: jax.Array, window: tuple[int, ...]) -> jax.Array:
    """(N, *spatial, C) cropped to whole windows (as 'VALID' floors) and split: (N, o1, k1, o2, k2, ..., C)."""
    out = [n // k for n, k in zip(x.shape[1:-1], window)]
    x = x[(slice(None), *(slice(o * k) for o, k in zip(out, window)))]
    return x.reshape(x.shape[0], *[d for o, k in zip(out, window) for d in (o, k)], x.shape[-1])


def _window_axes(window: tuple[int, ...]) -> tuple[int, ...]:
    """The within-window axes (k1, k2, ...) of `_tiles`' output."""
    return tuple(range(2, 2 * len(window) + 1, 2))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _tiled_max_pool(x: jax.Array, window: tuple[int, ...]) -> jax.Array:
    """Max pooling with stride == window and no padding as a reshape + max, equal to `lax.reduce_window`'s, and
    so is its derivative. Why: XLA:CPU lowers reduce_window's gradient (select-and-scatter) to a slower loop than
    this elementwise mask; LeNet-5's training step takes ~0.87x the time with it.

    `max_pool` takes it where `cnnjax.backend.tiled_max_pool` says so for `jax.default_backend()`, read when
    tracing (not per lowering platform as conv's kernel route: a `lax.platform_dependent` branch would hide the
    pool from `cnnjax.summary`'s tracer). Its values and derivatives equal reduce_window's on any platform, so a
    program lowered for another one is right, if perhaps slower."""
    return jnp.max(_tiles(x, window), axis=_window_axes(window))


@_tiled_max_pool.defjvp
def _tiled_max_pool_jvp(window, primals, tangents):
    """The tangent of each window's first maximum (row-major order), reduce_window's rule for ties; jnp.max's own
    derivative would average tied maxima instead."""
    (x,), (t,) = primals, tangents
    y = _tiled_max_pool(x, window)
    tiles = _tiles(x, window)
    axes = _window_axes(window)
    expand = lambda a: jnp.expand_dims(a, axes)
    # Each position's row-major index within its window; the first maximum has the smallest index among the maxima.
    index = sum(
        lax.broadcasted_iota(jnp.int32, tiles.shape, axis) * math.prod(window[i + 1 :]) for i, axis in enumerate(axes)
    )
    first = jnp.min(jnp.where(tiles == expand(y), index, math.prod(window)), axis=axes)
    chosen = index == expand(first)
    return y, jnp.sum(jnp.where(chosen, _tiles(t, window), jnp.zeros((), t.dtype)), axis=axes)


@named_op("avg_pool", arrays=("x",), window=_pool_window)
def avg_pool(
    x: jax.Array,
    window: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    *,
    count_include_pad: bool = True,
    ceil_mode: bool = False,
) -> jax.Array:
    """Average pooling. (N, *spatial, C) -> (N, *out, C); `window` and `stride` as in `max_pool`.

    With `count_include_pad=False` padded zeros are left out of each window's count. Integer inputs are averaged
    in float32 (exact sums up to 2^24), so the result is float32.
    """
    x = _inexact(x)
    dims, strides, pads = _window_args(x, window, stride, padding, ceil_mode)
    total = lax.reduce_window(x, _identity(0, x), lax.add, dims, strides, pads)
    if count_include_pad and not ceil_mode:
        return total / math.prod(dims)
    ones = jnp.ones((1, *x.shape[1:-1], 1), x.dtype)
    if count_include_pad:  # PyTorch: the given padding counts, the cells ceil_mode adds beyond it do not.
        given = _window_args(x, window, stride, padding, False)[2]
        ones = jnp.pad(ones, given, constant_values=1)
        pads = tuple((lo - g_lo, hi - g_hi) for (lo, hi), (g_lo, g_hi) in zip(pads, given))
    count = lax.reduce_window(ones, _identity(0, x), lax.add, dims, strides, pads)
    return total / count


@named_op("lp_pool", arrays=("x",), window=_pool_window)
def lp_pool(
    x: jax.Array,
    window: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    *,
    p: float = 2.0,
) -> jax.Array:
    """Lp pooling, (sum over the window of |x|^p)^(1/p); p=2 is L2 pooling. (N, *spatial, C) -> (N, *out, C);
    `window` and `stride` as in `max_pool`."""
    p = as_real(p, "p", "a positive exponent")
    if not p > 0:
        raise ValueError(f"p: expected a positive exponent, got {p!r}")
    total = _reduce(jnp.abs(_inexact(x)) ** p, 0.0, lax.add, window, stride, padding)
    return total ** (1.0 / p)


@named_op("global_avg_pool", arrays=("x",))
def global_avg_pool(x: jax.Array) -> jax.Array:
    """Mean over all spatial positions: (N, H, W, C) or (N, D, H, W, C) -> (N, C). (For 1-D signals (N, W, C),
    `x.mean(axis=1)`.)"""
    x = jnp.asarray(x)
    _spatial_dims(x.shape, None, "", "average over their axis 1: x.mean(axis=1)")
    return jnp.mean(x, axis=tuple(range(1, x.ndim - 1)))


@named_op("adaptive_avg_pool", arrays=("x",))
def adaptive_avg_pool(x: jax.Array, output_size: int | Sequence[int]) -> jax.Array:
    """PyTorch's adaptive average pooling: output cell i averages input [floor(i n / o), ceil((i + 1) n / o)).

    (N, *spatial, C) -> (N, *output_size, C); the identity when the sizes already match. An int `output_size`
    pools the H, W of (N, H, W, C) (or D, H, W); a sequence one axis per entry, e.g. (4,) for (N, W, C).
    """
    x = jnp.asarray(x)
    nd = _spatial_dims(x.shape, output_size, "output_size", "pass a one-entry output_size, e.g. (4,)")
    sizes = as_tuple(output_size, nd, "output_size")
    for axis, (n, o) in enumerate(zip(x.shape[1:-1], sizes), start=1):
        if n == o:
            continue
        cells = [
            jnp.mean(lax.slice_in_dim(x, (i * n) // o, -(-((i + 1) * n) // o), axis=axis), axis=axis, keepdims=True)
            for i in range(o)
        ]
        x = jnp.concatenate(cells, axis=axis)
    return x


@named_op("channel_max_pool", arrays=("x",))
def channel_max_pool(x: jax.Array, pool_size: int) -> jax.Array:
    """Max over groups of `pool_size` consecutive channels (maxout): (..., C) -> (..., C // pool_size)."""
    x = jnp.asarray(x)
    channels = x.shape[-1]
    expected = f"a divisor of the {channels} channels"
    pool_size = as_int(pool_size, "pool_size", expected)
    if pool_size < 1 or channels % pool_size:
        raise ValueError(f"pool_size: expected {expected}, got {pool_size!r}")
    return jnp.max(x.reshape(*x.shape[:-1], channels // pool_size, pool_size), axis=-1)
