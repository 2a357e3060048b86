"""oneDNN's NHWC convolutions behind `cnnjax.functional.conv` on CPU, as `jax.ffi` custom calls.

Three JAX primitives, each bilinear in its two operands, that transpose into one another as lax's convolution
does, so `grad`, `jvp`, `hessian` and `vmap` compose with them:

  conv_p(x, w)                   y  = conv(x, w)           forward
  backward_data_p(dy, w)         dx = conv(., w)^T dy      the input gradient
  backward_weights_p(x, dy)      dw = conv(x, .)^T dy      the kernel gradient

(conv's transpose in x is backward_data, in w backward_weights; backward_data's in dy is conv, in w
backward_weights; backward_weights's in x is backward_data, in dy conv.) On CPU each lowers to a custom call of
`onednn_conv.cc` (built by scripts/setup.sh into `_build/onednn_conv.so` next to this file); on any other platform to
the lax formulation, which is also the reference the tests compare with. vmap folds a batched activation operand
into the convolution's batch when the other operand is unbatched, else maps the primitive over the batch
(`lax.map`: per-example kernel gradients, a batched kernel).

The library is loaded on first use (`available()`), not on import; when it is missing or does not load, cnnjax
warns once and `cnnjax.functional.conv` keeps its lax formulation. Which convolutions take this route:
`supports` and `cnnjax.backend.onednn_conv`; whether it is available: `status()`, which
`cnnjax.backend.configuration()` reports.
"""

from __future__ import annotations

import ctypes
import functools
import pathlib
import threading
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

LIBRARY = pathlib.Path(__file__).parent / "_build" / "onednn_conv.so"  # not importable: no module
SOURCE = pathlib.Path(__file__).with_name("onednn_conv.cc")
_TARGETS = {
    "forward": "cnnjax_onednn_conv_forward",
    "backward_data": "cnnjax_onednn_conv_backward_data",
    "backward_weights": "cnnjax_onednn_conv_backward_weights",
}
_SYMBOLS = {
    "forward": "CnnjaxOnednnConvForward",
    "backward_data": "CnnjaxOnednnConvBackwardData",
    "backward_weights": "CnnjaxOnednnConvBackwardWeights",
}
_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")

_lock = threading.Lock()
_loaded: bool | None = None  # None: not tried yet
_version: str | None = None
_error: str | None = None


def available(warn: bool = True) -> bool:
    """Whether the custom calls are registered: loads `LIBRARY` and registers its three targets on the
    first call; when that fails, warns once (what is missing, how to build it; unless `warn` is False) and returns
    False from then on."""
    global _loaded, _version, _error
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        try:
            if not LIBRARY.exists():
                raise OSError(f"{LIBRARY} is not built")
            library = ctypes.CDLL(str(LIBRARY))
            for name, symbol in _SYMBOLS.items():
                jax.ffi.register_ffi_target(_TARGETS[name], jax.ffi.pycapsule(getattr(library, symbol)), platform="cpu")
            library.cnnjax_onednn_version.restype = ctypes.c_char_p
            _version = library.cnnjax_onednn_version().decode()
            _loaded = True
        except (OSError, AttributeError) as error:
            _error = str(error)
            _loaded = False
            if warn:
                warnings.warn(
                    f"cnnjax: the oneDNN convolution is unavailable ({_error}); conv runs its lax formulation. "
                    "Build it with `bash scripts/setup.sh` (needs g++ and the onednn-devel-cpu-gomp wheel)",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return _loaded


def status() -> dict[str, Any]:
    """{'built': the library file exists, 'loaded': True / False / None (not tried yet), 'version': oneDNN's,
    'error': why it did not load}."""
    return {"built": LIBRARY.exists(), "loaded": _loaded, "version": _version, "error": _error}


def supports(x: jax.Array, w: jax.Array, pairs: Sequence[tuple[int, int]], groups: int) -> bool:
    """Whether the primitives take this convolution: 2-D, float32 operands, padding >= 0 and no empty axis (the
    rest -- 1-D and 3-D, float16 / bfloat16 / float64, negative padding -- keeps the lax formulation)."""
    return (
        w.ndim == 4
        and x.ndim == 4
        and x.dtype == jnp.float32
        and w.dtype == jnp.float32
        and all(lo >= 0 and hi >= 0 for lo, hi in pairs)
        and min(x.shape) > 0
        and min(w.shape) > 0
        and x.shape[-1] == w.shape[-2] * groups
    )


def conv(
    x: jax.Array,
    w: jax.Array,
    strides: Sequence[int],
    padding: Sequence[tuple[int, int]],
    dilations: Sequence[int],
    groups: int,
) -> jax.Array:
    """conv(x, w) on the primitives: NHWC x, HWIO w, float32 (see `supports`)."""
    return conv_p.bind(x, w, **_geometry(strides, padding, dilations, groups))


def _geometry(strides, padding, dilations, groups) -> dict[str, Any]:
    return {
        "strides": tuple(int(s) for s in strides),
        "padding": tuple((int(lo), int(hi)) for lo, hi in padding),
        "dilations": tuple(int(d) for d in dilations),
        "groups": int(groups),
    }


def _output_shape(x_shape, w_shape, strides, padding, dilations) -> tuple[int, ...]:
    spatial = (
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, k, s, (lo, hi), d in zip(x_shape[1:3], w_shape[:2], strides, padding, dilations)
    )
    return (x_shape[0], *spatial, w_shape[3])


# The lax formulations: the lowering on platforms other than CPU, and the reference.


def lax_forward(x, w, *, strides, padding, dilations, groups):
    return lax.conv_general_dilated(
        x,
        w,
        window_strides=strides,
        padding=padding,
        rhs_dilation=dilations,
        dimension_numbers=_DIMENSION_NUMBERS,
        feature_group_count=groups,
    )


def lax_backward_data(dy, w, *, x_shape, **geometry):
    (dx,) = jax.linear_transpose(
        lambda x: lax_forward(x, w, **geometry), jax.ShapeDtypeStruct(tuple(x_shape), dy.dtype)
    )(dy)
    return dx


def lax_backward_weights(x, dy, *, w_shape, **geometry):
    (dw,) = jax.linear_transpose(
        lambda w: lax_forward(x, w, **geometry), jax.ShapeDtypeStruct(tuple(w_shape), dy.dtype)
    )(dy)
    return dw


def _ffi(name, out_shape, a, b, *, strides, padding, dilations, groups):
    (pt, pb), (pl, pr) = padding
    return jax.ffi.ffi_call(_TARGETS[name], jax.ShapeDtypeStruct(tuple(out_shape), jnp.float32))(
        a,
        b,
        stride_h=np.int64(strides[0]),
        stride_w=np.int64(strides[1]),
        pad_top=np.int64(pt),
        pad_bottom=np.int64(pb),
        pad_left=np.int64(pl),
        pad_right=np.int64(pr),
        dilation_h=np.int64(dilations[0]),
        dilation_w=np.int64(dilations[1]),
        groups=np.int64(groups),
    )


def _cpu_forward(x, w, **geometry):
    shape = _output_shape(x.shape, w.shape, geometry["strides"], geometry["padding"], geometry["dilations"])
    return _ffi("forward", shape, x, w, **geometry)


def _cpu_backward_data(dy, w, *, x_shape, **geometry):
    return _ffi("backward_data", x_shape, dy, w, **geometry)


def _cpu_backward_weights(x, dy, *, w_shape, **geometry):
    return _ffi("backward_weights", w_shape, x, dy, **geometry)


def _primitive(name: str, cpu, reference, shape) -> Primitive:
    primitive = Primitive(f"onednn_conv_{name}")

    @functools.lru_cache(maxsize=256)
    def compiled(params):
        return jax.jit(functools.partial(primitive.bind, **dict(params)))

    primitive.def_impl(lambda a, b, **params: compiled(tuple(sorted(params.items())))(a, b))
    primitive.def_abstract_eval(lambda a, b, **params: jax.core.ShapedArray(shape(a, b, **params), a.dtype))
    mlir.register_lowering(primitive, mlir.lower_fun(cpu, multiple_results=False), platform="cpu")
    mlir.register_lowering(primitive, mlir.lower_fun(reference, multiple_results=False))
    return primitive


conv_p = _primitive(
    "forward",
    _cpu_forward,
    lax_forward,
    lambda x, w, *, strides, padding, dilations, groups: _output_shape(x.shape, w.shape, strides, padding, dilations),
)
backward_data_p = _primitive(
    "backward_data", _cpu_backward_data, lax_backward_data, lambda dy, w, *, x_shape, **_: tuple(x_shape)
)
backward_weights_p = _primitive(
    "backward_weights", _cpu_backward_weights, lax_backward_weights, lambda x, dy, *, w_shape, **_: tuple(w_shape)
)


def _geometry_of(params):
    return {key: params[key] for key in ("strides", "padding", "dilations", "groups")}


# Transposes: each primitive is bilinear; its transpose in one operand is another of the three.
ad.defbilinear(
    conv_p,
    lambda ct, x, w, **p: backward_data_p.bind(ct, w, x_shape=tuple(x.aval.shape), **p),
    lambda ct, x, w, **p: backward_weights_p.bind(x, ct, w_shape=tuple(w.aval.shape), **p),
)
ad.defbilinear(
    backward_data_p,
    lambda ct, dy, w, **p: conv_p.bind(ct, w, **_geometry_of(p)),
    lambda ct, dy, w, **p: backward_weights_p.bind(ct, dy, w_shape=tuple(w.aval.shape), **_geometry_of(p)),
)
ad.defbilinear(
    backward_weights_p,
    lambda ct, x, dy, **p: backward_data_p.bind(dy, ct, x_shape=tuple(x.aval.shape), **_geometry_of(p)),
    lambda ct, x, dy, **p: conv_p.bind(x, ct, **_geometry_of(p)),
)


def _fold(x, dim):
    """x with its batch axis `dim` merged into the convolution's batch axis (axis 0 after the move)."""
    x = jnp.moveaxis(x, dim, 0)
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]), x.shape[0]


def _batch(primitive, shape_param=None, foldable=True):
    """vmap: with only the first (activation) operand batched and `foldable`, one call on the batch merged into N
    (`shape_param`, the output's shape parameter, scaled to match); otherwise `lax.map` over the batch (one call
    per batch element: per-example kernel gradients, batched kernels)."""

    def rule(args, dims, **params):
        if foldable and dims[1] is None:
            operand, size = _fold(args[0], dims[0])
            if shape_param is not None:
                shape = params[shape_param]
                params = {**params, shape_param: (size * shape[0], *shape[1:])}
            out = primitive.bind(operand, args[1], **params)
            return out.reshape(size, out.shape[0] // size, *out.shape[1:]), 0
        mapped = [d is not None for d in dims]
        moved = [jnp.moveaxis(v, d, 0) if m else v for v, d, m in zip(args, dims, mapped)]

        def one(sliced):
            it = iter(sliced)
            return primitive.bind(*(next(it) if m else v for v, m in zip(moved, mapped)), **params)

        return lax.map(one, [v for v, m in zip(moved, mapped) if m]), 0

    batching.primitive_batchers[primitive] = rule


_batch(conv_p)
_batch(backward_data_p, "x_shape")
_batch(backward_weights_p, foldable=False)
