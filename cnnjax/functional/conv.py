"""Convolutions on `jax.lax.conv_general_dilated`: NHWC activations, HWIO kernels (1-D, 2-D and 3-D).

Under the "fast" profile, 2-D float32 convolutions run on oneDNN's NHWC primitives instead, as custom calls
(`cnnjax.functional.onednn`, `_onednn_route`); the lax formulation is their reference and fallback.

As in every deep learning library, "convolution" here is cross-correlation: the kernel is not flipped. The
mathematical convolution of the notes is `conv(x, flip(w), padding=k - 1)` (see `tests/functional`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero

from cnnjax import backend
from cnnjax.functional import onednn
from cnnjax.functional.checks import (
    Padding,
    Window,
    as_tuple,
    check_bias,
    check_float_operands,
    check_rank,
    check_window_fits,
    named_op,
    padding_pairs,
)

_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def _dimension_numbers(nd: int) -> tuple[str, str, str]:
    if nd not in _SPATIAL:
        raise ValueError(f"w: expected a kernel of rank 3, 4 or 5 (1-D, 2-D or 3-D HWIO), got rank {nd + 2}")
    s = _SPATIAL[nd]
    return f"N{s}C", f"{s}IO", f"N{s}C"


def conv_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1, *, strict: bool = False
) -> int:
    """Output length of a convolution along one axis: floor((n + 2p - d(k-1) - 1) / s) + 1.

    With `strict=True`, raises when the strided windows do not tile the padded input exactly (the notes' 7x7 input,
    3x3 filter, stride 3 "doesn't fit").
    """
    for name, value, minimum in (("n", n, 1), ("kernel", kernel, 1), ("stride", stride, 1), ("dilation", dilation, 1)):
        if value < minimum:
            raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    if padding < 0:
        raise ValueError(f"padding: expected an int >= 0, got {padding!r}")
    span = n + 2 * padding - dilation * (kernel - 1) - 1
    if span < 0:
        raise ValueError(f"kernel: expected a window no larger than the padded input {n + 2 * padding}, got {kernel}")
    if strict and span % stride:
        raise ValueError(
            f"stride: a {kernel}-wide window with stride {stride} does not fit an input of {n} padded by {padding} "
            f"((n + 2p - k) / s = {(n + 2 * padding - kernel) / stride:.2f} is not an integer)"
        )
    return span // stride + 1


def _add_bias(y: jax.Array, b: jax.Array | None) -> jax.Array:
    """y + b, b aligned with y's trailing axes (explicitly: the suite runs with rank promotion disallowed)."""
    return y if b is None else y + jnp.expand_dims(b, tuple(range(y.ndim - b.ndim)))


def _prepare(x, w, b, stride, padding, dilation, groups):
    nd = w.ndim - 2
    lhs_spec, rhs_spec, _ = _dimension_numbers(nd)
    check_rank(x.shape, nd + 2, "x", lhs_spec)
    check_float_operands(x=x, w=w, b=b)
    strides = as_tuple(stride, nd, "stride")
    dilations = as_tuple(dilation, nd, "dilation")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups: expected an int >= 1, got {groups!r}")
    in_channels, (kernel_in, out_channels) = x.shape[-1], w.shape[-2:]
    if in_channels % groups:
        raise ValueError(f"groups: expected a divisor of the {in_channels} input channels of x, got {groups}")
    if in_channels != kernel_in * groups:
        raise ValueError(
            f"w: expected {in_channels // groups} input channels "
            f"(x has {in_channels} channels, groups={groups}), got kernel shape {tuple(w.shape)} ({rhs_spec})"
        )
    if out_channels % groups:
        raise ValueError(f"groups: expected a divisor of the {out_channels} output channels, got {groups}")
    window = [d * (k - 1) + 1 for k, d in zip(w.shape[:nd], dilations)]
    pairs = padding_pairs(padding, x.shape[1:-1], window, strides)
    check_window_fits(x.shape[1:-1], window, pairs, "w")
    check_bias(b, (out_channels,), "C_out")
    return nd, strides, dilations, pairs


def _conv_window(w, stride, dilation, **_) -> Window:
    """The `Window` of `conv` (declared to `checks.observe_windows`)."""
    nd = w.ndim - 2
    return Window(tuple(w.shape[:nd]), as_tuple(stride, nd, "stride"), as_tuple(dilation, nd, "dilation"), (1,) * nd)


def _conv_transpose_window(w, stride, dilation, **_) -> Window:
    """The `Window` of `conv_transpose`: a stride-1 window over the input with stride - 1 zeros between pixels."""
    nd = w.ndim - 2
    return Window(tuple(w.shape[:nd]), (1,) * nd, as_tuple(dilation, nd, "dilation"), as_tuple(stride, nd, "stride"))


def _locally_connected_window(w, kernel_size, stride, **_) -> Window:
    """The `Window` of `locally_connected`."""
    nd = w.ndim - 2
    return Window(as_tuple(kernel_size, nd, "kernel_size"), as_tuple(stride, nd, "stride"), (1,) * nd, (1,) * nd)


@named_op("conv", arrays=("x", "w", "b"), window=_conv_window)
def conv(
    x: jax.Array,
    w: jax.Array,
    b: jax.Array | None = None,
    *,
    stride: int | Sequence[int] = 1,
    padding: Padding = "SAME",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> jax.Array:
    """N-D convolution (cross-correlation), chosen by the kernel's rank.

    Args:
      x: input, (N, *spatial, C_in), e.g. (N, H, W, C_in).
      w: kernel, (*kernel_size, C_in // groups, C_out), e.g. (kh, kw, C_in // groups, C_out).
      b: optional bias, (C_out,).
      stride, dilation: an int or one per spatial dimension.
      padding: 'SAME' | 'VALID' | int | one int per dimension | explicit (low, high) pairs.
      groups: feature groups; groups == C_in == C_out // m is depthwise convolution.

    Returns:
      (N, *out_spatial, C_out), out = floor((n + p_lo + p_hi - d(k-1) - 1) / s) + 1.
    """
    _, strides, dilations, pairs = _prepare(x, w, b, stride, padding, dilation, groups)
    geometry = _Geometry(tuple(strides), tuple(tuple(p) for p in pairs), tuple(dilations), groups)
    if _onednn_route(x, w, geometry):
        return _add_bias(onednn.conv(x, w, geometry.strides, geometry.pairs, geometry.dilations, groups), b)
    return _add_bias(_conv(x, w, geometry), b)


def _onednn_route(x: jax.Array, w: jax.Array, g: _Geometry) -> bool:
    """Whether conv runs on oneDNN's primitives (`cnnjax.functional.onednn`): where the process's profile asks for
    it (`cnnjax.backend.onednn_conv`), for the convolutions they take (2-D, float32, padding >= 0: `onednn.supports`)
    and once the extension has loaded (`onednn.available`, which warns once when it cannot). The primitives lower to
    custom calls on CPU and to the lax formulation on other platforms; the rest of the convolutions, 1-D and 3-D,
    other dtypes, negative padding, keep `_conv`."""
    return (
        backend.onednn_conv("cpu")
        and onednn.supports(x, w, g.pairs, g.groups)
        and onednn.available(warn=jax.default_backend() == "cpu")  # elsewhere the primitives lower to lax anyway
    )


class _Geometry(NamedTuple):
    strides: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    dilations: tuple[int, ...]
    groups: int


def _lax_conv(x: jax.Array, w: jax.Array, g: _Geometry) -> jax.Array:
    """The reference: `lax.conv_general_dilated`, NHWC/HWIO."""
    return lax.conv_general_dilated(
        x,
        w,
        window_strides=g.strides,
        padding=g.pairs,
        rhs_dilation=g.dilations,
        dimension_numbers=_dimension_numbers(w.ndim - 2),
        feature_group_count=g.groups,
    )


def _kernel_tangent_for_eigen(x: jax.Array, w_dot: jax.Array, g: _Geometry) -> jax.Array:
    """conv(x, w_dot), written so that its transpose -- the kernel gradient -- runs on XLA:CPU's Eigen path.

    JAX transposes conv(x, .) into a convolution of x with the output gradient. With the XLA flags of the "fast"
    profile (`cnnjax.backend`) oneDNN would take that one too, and it is slower there than on Eigen (the README's
    "Performance" section has the measurements). oneDNN's rewriter leaves a
    convolution with negative padding to Eigen, so x is padded by one more pixel at the high end of each spatial
    axis and the convolution drops it again with padding -1 there: the same numbers, as a different instruction.
    The optimisation barrier keeps XLA from folding the pad back into the convolution.
    """
    nd = w_dot.ndim - 2
    padded = jnp.pad(x, ((0, 0), *((lo, hi + 1) for lo, hi in g.pairs), (0, 0)))
    padded = lax.optimization_barrier(padded)
    return _lax_conv(padded, w_dot, g._replace(pairs=((0, -1),) * nd))


# Up to this many feature groups, the kernel tangent on CPU is one convolution per group (see _kernel_tangent_cpu).
MAX_SPLIT_GROUPS = 16


def _kernel_tangent_cpu(x: jax.Array, w_dot: jax.Array, g: _Geometry) -> jax.Array:
    """The kernel tangent conv(x, w_dot) on CPU: grouped convolutions (2 <= groups <= MAX_SPLIT_GROUPS) as one
    ungrouped convolution per group, concatenated along the output channels.

    Why: XLA:CPU transposes a grouped conv(x, .) into a convolution with batch_group_count = groups, which neither
    oneDNN nor Eigen takes: 30-35x slower than the per-group kernel gradients at AlexNet's two-tower shapes
    (e.g. 5x5, 24 -> 64 maps, 14x14, batch 128: 1044 vs 14 ms). Depthwise convolutions (groups = channels, often
    hundreds) keep the single grouped formulation rather than unrolling into that many convolutions: there it is
    slower by less (3x3, 64 channels, 14x14, batch 128: 47 vs 26 ms per group).
    """
    if g.groups == 1 or g.groups > MAX_SPLIT_GROUPS:
        return _kernel_tangent_for_eigen(x, w_dot, g)
    ungrouped = g._replace(groups=1)
    parts = zip(jnp.split(x, g.groups, axis=-1), jnp.split(w_dot, g.groups, axis=-1))
    return jnp.concatenate([_kernel_tangent_for_eigen(xg, wg, ungrouped) for xg, wg in parts], axis=-1)


def _kernel_tangent(x: jax.Array, w_dot: jax.Array, g: _Geometry) -> jax.Array:
    """The kernel tangent conv(x, w_dot): `_kernel_tangent_cpu` where `cnnjax.backend.kernel_gradient_route` says
    so (the process's profile, read when tracing; the platform, chosen when lowering), else `_lax_conv`."""
    if not backend.kernel_gradient_route("cpu"):
        return _lax_conv(x, w_dot, g)
    return lax.platform_dependent(
        x, w_dot, cpu=functools.partial(_kernel_tangent_cpu, g=g), default=functools.partial(_lax_conv, g=g)
    )


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _conv(x: jax.Array, w: jax.Array, g: _Geometry) -> jax.Array:
    """`_lax_conv` whose kernel derivative is taken through `_kernel_tangent`.

    A custom JVP rather than a VJP, so forward mode (jax.jvp, jax.hessian, jacfwd) works as on any lax op; reverse
    mode transposes the rule, giving the input gradient as XLA's usual transposed convolution and the kernel
    gradient as the transpose of `_kernel_tangent`.
    """
    return _lax_conv(x, w, g)


@functools.partial(_conv.defjvp, symbolic_zeros=True)
def _conv_jvp(g: _Geometry, primals, tangents):
    x, w = primals
    x_dot, w_dot = tangents
    y = _lax_conv(x, w, g)
    parts = []
    if not isinstance(x_dot, SymbolicZero):
        parts.append(_lax_conv(x_dot, w, g))
    if not isinstance(w_dot, SymbolicZero):
        parts.append(_kernel_tangent(x, w_dot, g))
    y_dot = parts[0] if len(parts) == 1 else parts[0] + parts[1]
    return y, y_dot


@named_op("conv_transpose", arrays=("x", "w", "b"), window=_conv_transpose_window)
def conv_transpose(
    x: jax.Array,
    w: jax.Array,
    b: jax.Array | None = None,
    *,
    stride: int | Sequence[int] = 1,
    padding: Padding = "SAME",
    dilation: int | Sequence[int] = 1,
) -> jax.Array:
    """Transposed ("fractionally strided") convolution: zeros are inserted between input pixels, then convolved.

    Flax's convention (`lax.conv_transpose`, kernel not flipped): with padding 'SAME' the output is n * stride.
    It is the gradient of `conv` with respect to its input for the kernel flipped spatially with its in/out axes
    swapped: for padding 'SAME' or 'VALID', `conv_transpose(g, w, stride=s, padding=p)` equals the vjp of
    `z -> conv(z, jnp.flip(w, spatial axes).swapaxes(-1, -2), stride=s, padding=p)` at z of the output's shape,
    applied to g. Explicit (lo, hi) pairs pad the zero-inserted input: out = (n - 1) s + 1 + lo + hi - k + 1, so
    PyTorch's `padding=p` has the output size of k - 1 - p here.

    Args:
      x: (N, *spatial, C_in).
      w: (*kernel_size, C_in, C_out).
      b: optional (C_out,).

    Returns:
      (N, *out_spatial, C_out); 'SAME': n * s, 'VALID': n * s + max(k - s, 0), k the dilated kernel size.
    """
    nd = w.ndim - 2
    check_rank(x.shape, nd + 2, "x", _dimension_numbers(nd)[0])
    check_float_operands(x=x, w=w, b=b)
    if x.shape[-1] != w.shape[-2]:
        raise ValueError(f"w: expected {x.shape[-1]} input channels to match x, got kernel shape {tuple(w.shape)}")
    check_bias(b, (w.shape[-1],), "C_out")
    strides = as_tuple(stride, nd, "stride")
    dilations = as_tuple(dilation, nd, "dilation")
    if isinstance(padding, str) and padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f"padding: expected 'SAME', 'VALID', an int or (low, high) pairs, got {padding!r}")
    if isinstance(padding, str):
        pad = padding.upper()
    else:
        pad = padding_pairs(padding, x.shape[1:-1], w.shape[:nd], strides)
        window = [d * (k - 1) + 1 for k, d in zip(w.shape[:nd], dilations)]
        out = [(n - 1) * s + 1 + lo + hi - k + 1 for n, s, (lo, hi), k in zip(x.shape[1:-1], strides, pad, window)]
        if min(out) < 1:
            raise ValueError(
                f"padding: expected padding that leaves a non-empty output, got {padding!r}: input "
                f"{tuple(x.shape[1:-1])}, stride {strides} and (dilated) kernel {tuple(window)} give output "
                f"{tuple(out)}"
            )
    # With stride == kernel, 'SAME', 'VALID' and the explicit (k - 1, k - 1) pairs all give n * stride: every input
    # pixel writes its own block.
    blocks = pad in ("SAME", "VALID") or all(tuple(p) == (k - 1, k - 1) for p, k in zip(pad, w.shape[:nd]))
    tiled = nd == 2 and strides == tuple(w.shape[:2]) and dilations == (1, 1) and blocks
    if tiled and backend.tiled_conv_transpose(jax.default_backend()):
        return _add_bias(_tiled_conv_transpose(x, w), b)
    y = lax.conv_transpose(
        x, w, strides=strides, padding=pad, rhs_dilation=dilations, dimension_numbers=_dimension_numbers(nd)
    )
    return _add_bias(y, b)


def _tiled_conv_transpose(x: jax.Array, w: jax.Array) -> jax.Array:
    """`conv_transpose` of a 2-D kernel (kh, kw, C_in, C_out) with stride (kh, kw) and no padding: (N, H, W, C_in) ->
    (N, H * kh, W * kw, C_out), each input pixel writing its own kh x kw block (lax's convention flips the kernel).

    One matrix product and a reshape, whose gradients are matrix products too: XLA:CPU's gradient of the
    lhs-dilated convolution is 14-18x slower than this one at U-Net's 2x2/2 up-convolutions
    (benchmarks/conv_transpose.py). `conv_transpose` takes it where `cnnjax.backend.tiled_conv_transpose` says so.
    """
    n, h, width, _ = x.shape
    kh, kw, _, c_out = w.shape
    blocks = jnp.einsum("nijc,abco->niajbo", x, w[::-1, ::-1])
    return blocks.reshape(n, h * kh, width * kw, c_out)


@named_op("locally_connected", arrays=("x", "w", "b"), window=_locally_connected_window)
def locally_connected(
    x: jax.Array,
    w: jax.Array,
    b: jax.Array | None = None,
    *,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: Padding = "VALID",
) -> jax.Array:
    """Locally connected layer: a convolution whose weights are not shared between positions.

    Args:
      x: (N, *spatial, C_in).
      w: (*out_spatial, C_in * prod(kernel_size), C_out); the patch axis is ordered input channel first, then the
        window positions (the order of `lax.conv_general_dilated_patches`).
      b: optional bias, (*out_spatial, C_out).

    Returns:
      (N, *out_spatial, C_out).
    """
    nd = w.ndim - 2
    lhs_spec, rhs_spec, _ = _dimension_numbers(nd)
    check_rank(x.shape, nd + 2, "x", lhs_spec)
    check_float_operands(x=x, w=w, b=b)
    window = as_tuple(kernel_size, nd, "kernel_size")
    strides = as_tuple(stride, nd, "stride")
    pairs = padding_pairs(padding, x.shape[1:-1], window, strides)
    check_window_fits(x.shape[1:-1], window, pairs, "kernel_size")
    out_spatial = tuple(
        conv_output_size(n + lo + hi, k, s) for n, k, s, (lo, hi) in zip(x.shape[1:-1], window, strides, pairs)
    )
    expected = (*out_spatial, x.shape[-1] * math.prod(window))
    if tuple(w.shape[:-1]) != expected:
        raise ValueError(f"w: expected shape {(*expected, 'C_out')}, got {tuple(w.shape)}")
    check_bias(b, (*out_spatial, w.shape[-1]), "(*out_spatial, C_out)")
    y = lax.conv_general_dilated_local(
        x,
        w,
        window_strides=strides,
        padding=pairs,
        filter_shape=window,
        dimension_numbers=(lhs_spec, rhs_spec, lhs_spec),
    )
    return _add_bias(y, b)


def conv_matrix(
    w: np.ndarray | jax.Array,
    input_shape: Sequence[int],
    *,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[tuple[int, int]] = 0,
) -> np.ndarray:
    """The matrix M with conv(x, w).ravel() == M @ x.ravel() for one image (a doubly blocked Toeplitz matrix).

    Built explicitly, one kernel tap at a time: row = output position and channel, column = input pixel and channel.

    Args:
      w: 2-D kernel (kh, kw, C_in, C_out).
      input_shape: (H, W, C_in) of one image.
      stride: int or (sh, sw).
      padding: int or ((top, bottom), (left, right)) zero padding.

    Returns:
      (oh * ow * C_out, H * W * C_in) float array, row-major in (oh, ow, C_out) and (H, W, C_in).
    """
    w = np.asarray(w)
    if w.ndim != 4:
        raise ValueError(f"w: expected a 2-D kernel (kh, kw, C_in, C_out), got shape {w.shape}")
    h, wd, c_in = input_shape
    if c_in != w.shape[2]:
        raise ValueError(f"input_shape: expected {w.shape[2]} channels to match w, got {tuple(input_shape)}")
    kh, kw, _, c_out = w.shape
    sh, sw = as_tuple(stride, 2, "stride")
    (pt, pb), (pl, pr) = padding_pairs(padding, (h, wd), (kh, kw), (sh, sw))
    oh = conv_output_size(h + pt + pb, kh, sh)
    ow = conv_output_size(wd + pl + pr, kw, sw)
    matrix = np.zeros((oh, ow, c_out, h, wd, c_in), dtype=w.dtype)
    oi, oj = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    for di in range(kh):
        for dj in range(kw):
            ii, jj = oi * sh + di - pt, oj * sw + dj - pl
            inside = (ii >= 0) & (ii < h) & (jj >= 0) & (jj < wd)
            # Each output position (oi, oj) reads input pixel (ii, jj) with weight w[di, dj]: one block diagonal.
            matrix[oi[inside], oj[inside], :, ii[inside], jj[inside], :] = w[di, dj].T
    return matrix.reshape(oh * ow * c_out, h * wd * c_in)


@named_op("linear", arrays=("x", "w", "b"))
def linear(x: jax.Array, w: jax.Array, b: jax.Array | None = None) -> jax.Array:
    """Fully connected layer: (..., D_in) @ (D_in, D_out) + (D_out,) -> (..., D_out)."""
    check_float_operands(x=x, w=w, b=b)
    if w.ndim != 2 or x.shape[-1] != w.shape[0]:
        raise ValueError(f"w: expected {x.shape[-1]} input features to match x {tuple(x.shape)}, got {tuple(w.shape)}")
    check_bias(b, (w.shape[1],), "D_out")
    return _add_bias(jnp.matmul(x, w), b)
