"""Argument checks shared by the functional ops and the `cnnjax.nn` modules (public: `cnnjax.functional.checks`),
and `named_op`, the decorator that declares each functional op (its name scope, array arguments and window).

Every check raises before tracing, in Python, with the argument's name, what was expected and what was received,
so a user never meets an XLA error from deep inside a compiled function.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]
Fn = TypeVar("Fn", bound=Callable)


class Window(NamedTuple):
    """The sliding window of a windowed op (convolution, pooling) over the spatial axes of (N, *spatial, C), one
    entry per spatial axis: each output unit reads `size` taps `dilation` input positions apart, neighbouring units
    are `stride` positions apart, and `input_dilation` - 1 zeros are inserted between input pixels first (a
    transposed convolution's stride). Padding moves the window but does not change these."""

    size: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    input_dilation: tuple[int, ...]


WindowObserver = Callable[[jax.Array, jax.Array, Window], jax.Array]
"""(x, y, window) -> y': sees the input and output of each windowed op and returns the output to use."""

_WINDOW_OBSERVER: contextvars.ContextVar[WindowObserver | None] = contextvars.ContextVar(
    "cnnjax_window_observer", default=None
)


@contextlib.contextmanager
def observe_windows(observer: WindowObserver) -> Iterator[None]:
    """Within the block, each windowed op returns `observer(x, y, window)` in place of its output y.

    Why: a tool that follows receptive fields through a trace (`cnnjax.summary`) reads each op's window from its
    declaration instead of from the primitives of whichever formulation computed it (a non-overlapping max-pool
    runs as a reshape + max, which looks like neither a window nor a flatten)."""
    token = _WINDOW_OBSERVER.set(observer)
    try:
        yield
    finally:
        _WINDOW_OBSERVER.reset(token)


def named_op(
    name: str, *, arrays: Sequence[str] = (), window: Callable[..., Window] | None = None
) -> Callable[[Fn], Fn]:
    """Declares a functional op: runs it under `jax.named_scope('cnnjax/<name>')`, so that profiles and HLO show
    it; checks each argument named in `arrays` with `check_array` before JAX sees it (None passes where it is the
    default) and hands it to the op as a JAX array; and for a windowed op, `window(**arguments)` gives its
    `Window`, shown to an `observe_windows` observer with the op's input `x` and its output."""

    def decorate(fn: Fn) -> Fn:
        signature = inspect.signature(fn)
        optional = {a for a in arrays if signature.parameters[a].default is None}

        @functools.wraps(fn)
        def op(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for a in arrays:
                value = bound.arguments[a]
                if not (value is None and a in optional):
                    check_array(value, a)
                    bound.arguments[a] = jnp.asarray(value)
            with jax.named_scope(f"cnnjax/{name}"):
                y = fn(*bound.args, **bound.kwargs)
            observer = _WINDOW_OBSERVER.get()
            if window is not None and observer is not None:
                y = observer(bound.arguments["x"], y, window(**bound.arguments))
            return y

        return op  # type: ignore[return-value]

    return decorate


def check_array(value: object, name: str) -> None:
    """An array argument must be a JAX or NumPy array (a tracer under jit) or a number; lists, strings and None
    are refused here rather than deep inside JAX."""
    if isinstance(value, (jax.Array, numbers.Number)):
        return
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.kind in "biufc":
            return
        raise TypeError(f"{name}: expected a numeric array, got a NumPy array of dtype {value.dtype}")
    hint = f"; convert it first: jnp.asarray({name})" if isinstance(value, (list, tuple)) else ""
    raise TypeError(
        f"{name}: expected an array (jax.Array or numpy.ndarray) or a number, got "
        f"{type(value).__name__} {_short_repr(value)}{hint}"
    )


def _short_repr(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_concrete(value: object) -> bool:
    """True unless `value` is traced (an abstract value under jit, grad or vmap): only then can it be inspected."""
    return not isinstance(value, jax.core.Tracer)


def _scalar(value: object, name: str, expected: str, kinds: str) -> object:
    """A Python scalar from a Python or NumPy number or a concrete 0-d array whose dtype kind is in `kinds`."""
    if isinstance(value, (jax.Array, np.ndarray)) and value.shape == () and value.dtype.kind in kinds:
        if not is_concrete(value):
            raise TypeError(
                f"{name}: expected {expected} known before tracing, got a traced value; pass a Python "
                f"number (under jax.jit, mark the argument static)"
            )
        return value.item()
    raise TypeError(f"{name}: expected {expected}, got {type(value).__name__} {_short_repr(value)}")


def as_real(value: object, name: str, expected: str) -> float:
    """A real hyper-parameter as a Python float: a Python or NumPy real number, or a 0-d array of one
    (jnp.float32(0.5)); bools are refused. `expected` words the TypeError, e.g. 'a drop probability in [0, 1)'.

    A traced value is refused: the op's checks and structure depend on the number, so it must be known before
    tracing (static under jit)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return float(_scalar(value, name, expected, "iuf"))


def as_int(value: object, name: str, expected: str) -> int:
    """An integer hyper-parameter as a Python int: a Python or NumPy integer, or a 0-d integer array; bools and
    floats are refused (`as_real` otherwise)."""
    if is_int(value):
        return int(value)
    return int(_scalar(value, name, expected, "iu"))


def as_bool(value: object, name: str) -> bool:
    """A flag as a Python bool: a Python or NumPy bool, or a concrete 0-d bool array; anything else (the str 'no',
    the int 1, a traced value) is refused, since a truthy stand-in would silently mean True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return bool(_scalar(value, name, "a bool (True or False)", "b"))


def is_int(value: object) -> bool:
    """True for Python and NumPy integers, False for bools and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _items(value: object) -> tuple | None:
    """The elements of a non-string iterable, or None."""
    if isinstance(value, (str, bytes)):
        return None
    try:
        return tuple(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def as_tuple(value: int | Sequence[int], n: int, name: str, *, minimum: int = 1) -> tuple[int, ...]:
    """Returns `value` as an n-tuple of ints >= `minimum` (an int is repeated n times)."""
    message = f"{name}: expected an int or a sequence of {n} ints, got {value!r}"
    if is_int(value):
        values = (int(value),) * n
    else:
        items = _items(value)
        if items is None or not all(is_int(v) for v in items):
            raise TypeError(message)
        values = tuple(int(v) for v in items)
        if len(values) != n:
            raise ValueError(f"{name}: expected {n} values (one per spatial dimension), got {len(values)}: {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{name}: expected values >= {minimum}, got {value!r}")
    return values


class RankError(ValueError):
    """An array of another rank than the op takes; `shape` and `rank` say which, so that a caller that made the
    array (`cnnjax.summary` from an input_shape) can word the error in its own terms."""

    def __init__(self, message: str, shape: tuple[int, ...], rank: int):
        super().__init__(message)
        self.shape, self.rank = shape, rank


def check_rank(x_shape: Sequence[int], rank: int, name: str, layout: str, hint: str = "") -> None:
    """Checks that an array has `rank` dimensions, e.g. rank 4 for NHWC; `hint` says how else to call the op."""
    if len(x_shape) != rank:
        batch = f"; if it is one example, add a batch axis: {name}[None]" if len(x_shape) == rank - 1 else ""
        raise RankError(
            f"{name}: expected a rank-{rank} array ({layout}), got shape {tuple(x_shape)}{batch}{hint}",
            tuple(x_shape),
            rank,
        )


def check_float_operands(**arrays: jax.Array | None) -> None:
    """Operands of a weighted sum (x, w, b) must share one floating-point dtype: integers would overflow (int8
    2700 -> -116) and mixed dtypes would be promoted silently or refused deep inside lax."""
    given = {name: jnp.result_type(a) for name, a in arrays.items() if a is not None}
    for name, dtype in given.items():
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"{name}: expected a floating-point array (integer sums of products overflow), got dtype {dtype}; "
                f"cast first, e.g. {name}.astype(jnp.float32)"
            )
    if len(set(given.values())) > 1:
        listed = ", ".join(f"{name} {dtype}" for name, dtype in given.items())
        first = next(iter(given))
        raise TypeError(f"{first}: expected {', '.join(given)} of one dtype, got {listed}; cast one to the other's")


def check_bias(b: jax.Array | None, shape: tuple[int, ...], layout: str) -> None:
    """A bias must have exactly `shape` (no silent broadcasting of a wrong one)."""
    if b is not None and tuple(jnp.shape(b)) != tuple(shape):
        raise ValueError(f"b: expected shape {tuple(shape)} ({layout}), got {tuple(jnp.shape(b))}")


def padding_pairs(
    padding: Padding, spatial: Sequence[int], window: Sequence[int], stride: Sequence[int], name: str = "padding"
) -> list[tuple[int, int]]:
    """Resolves 'SAME' | 'VALID' | int | per-dimension ints | explicit (lo, hi) pairs to explicit pairs.

    `window` is the effective (dilated) window size. 'SAME' follows XLA/TensorFlow: output = ceil(n / stride),
    the extra padding going to the high side.
    """
    nd = len(spatial)
    expected = f"{name}: expected 'SAME', 'VALID', an int or (low, high) pairs, got {padding!r}"
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return [(0, 0)] * nd
        if mode == "SAME":
            pairs = []
            for n, k, s in zip(spatial, window, stride):
                out = -(-n // s)
                total = max((out - 1) * s + k - n, 0)
                pairs.append((total // 2, total - total // 2))
            return pairs
        raise ValueError(expected)
    if is_int(padding):
        pairs = [(int(padding), int(padding))] * nd
    elif (items := _items(padding)) is not None:
        if len(items) != nd:
            raise ValueError(f"{name}: expected {nd} entries (one per spatial dimension), got {padding!r}")
        pairs = []
        for p in items:
            if is_int(p):
                pairs.append((int(p), int(p)))
            elif (pair := _items(p)) is not None and all(is_int(v) for v in pair):
                if len(pair) != 2:
                    raise ValueError(f"{name}: expected (low, high) pairs, got {padding!r}")
                pairs.append((int(pair[0]), int(pair[1])))
            else:
                raise TypeError(expected)
    else:
        raise TypeError(expected)
    if any(lo < 0 or hi < 0 for lo, hi in pairs):
        raise ValueError(f"{name}: expected non-negative padding, got {padding!r}")
    return pairs


class WindowTooLarge(ValueError):
    """A window (kernel or pool) larger than its padded input: the map would vanish. Models catch it to name the
    smallest input that works."""


def check_window_fits(
    spatial: Sequence[int], window: Sequence[int], pairs: Sequence[tuple[int, int]], name: str
) -> None:
    """Raises when a (dilated) window is larger than the padded input."""
    for n, k, (lo, hi) in zip(spatial, window, pairs):
        if k > n + lo + hi:
            raise WindowTooLarge(
                f"{name}: expected a window no larger than the padded input, got window {tuple(window)} "
                f"for spatial size {tuple(spatial)} with padding {list(pairs)}"
            )
