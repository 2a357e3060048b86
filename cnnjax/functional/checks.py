"""Argument checks shared by the functional ops and the `cnnjax.nn` modules (public: `cnnjax.functional.checks`).

Every check raises before tracing, in Python, with the argument's name, what was expected and what was received,
so a user never meets an XLA error from deep inside a compiled function.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from typing import TypeVar

import jax
import jax.numpy as jnp

Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]
Fn = TypeVar("Fn", bound=Callable)


def named_op(name: str) -> Callable[[Fn], Fn]:
    """Runs the decorated op under `jax.named_scope('cnnjax/<name>')`, so that profiles and HLO show it."""

    def decorate(fn: Fn) -> Fn:
        @functools.wraps(fn)
        def op(*args, **kwargs):
            with jax.named_scope(f"cnnjax/{name}"):
                return fn(*args, **kwargs)

        return op  # type: ignore[return-value]

    return decorate


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


def check_rank(x_shape: Sequence[int], rank: int, name: str, layout: str) -> None:
    """Checks that an array has `rank` dimensions, e.g. rank 4 for NHWC."""
    if len(x_shape) != rank:
        raise ValueError(f"{name}: expected a rank-{rank} array ({layout}), got shape {tuple(x_shape)}")


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
