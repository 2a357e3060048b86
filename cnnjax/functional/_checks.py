"""Argument checks shared by the functional ops.

Every check raises before tracing, in Python, with the argument's name, what was expected and what was received,
so a user never meets an XLA error from deep inside a compiled function.
"""

from __future__ import annotations

from collections.abc import Sequence

Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]


def as_tuple(value: int | Sequence[int], n: int, name: str, *, minimum: int = 1) -> tuple[int, ...]:
    """Returns `value` as an n-tuple of ints >= `minimum` (an int is repeated n times)."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected an int or a sequence of {n} ints, got {value!r}")
    if isinstance(value, int):
        values = (value,) * n
    else:
        try:
            values = tuple(int(v) for v in value)
        except TypeError:
            raise TypeError(f"{name}: expected an int or a sequence of {n} ints, got {value!r}") from None
        if len(values) != n:
            raise ValueError(f"{name}: expected {n} values (one per spatial dimension), got {len(values)}: {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{name}: expected values >= {minimum}, got {value!r}")
    return values


def check_rank(x_shape: Sequence[int], rank: int, name: str, layout: str) -> None:
    """Checks that an array has `rank` dimensions, e.g. rank 4 for NHWC."""
    if len(x_shape) != rank:
        raise ValueError(f"{name}: expected a rank-{rank} array ({layout}), got shape {tuple(x_shape)}")


def padding_pairs(
    padding: Padding, spatial: Sequence[int], window: Sequence[int], stride: Sequence[int], name: str = "padding"
) -> list[tuple[int, int]]:
    """Resolves 'SAME' | 'VALID' | int | per-dimension ints | explicit (lo, hi) pairs to explicit pairs.

    `window` is the effective (dilated) window size. 'SAME' follows XLA/TensorFlow: output = ceil(n / stride),
    the extra padding going to the high side.
    """
    nd = len(spatial)
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
        raise ValueError(f"{name}: expected 'SAME', 'VALID', an int or (low, high) pairs, got {padding!r}")
    if isinstance(padding, bool):
        raise TypeError(f"{name}: expected 'SAME', 'VALID', an int or (low, high) pairs, got {padding!r}")
    if isinstance(padding, int):
        pairs = [(padding, padding)] * nd
    else:
        items = list(padding)
        if len(items) != nd:
            raise ValueError(f"{name}: expected {nd} entries (one per spatial dimension), got {padding!r}")
        pairs = [(p, p) if isinstance(p, int) else tuple(p) for p in items]
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"{name}: expected (low, high) pairs, got {padding!r}")
    if any(lo < 0 or hi < 0 for lo, hi in pairs):
        raise ValueError(f"{name}: expected non-negative padding, got {padding!r}")
    return [(int(lo), int(hi)) for lo, hi in pairs]


def check_window_fits(
    spatial: Sequence[int], window: Sequence[int], pairs: Sequence[tuple[int, int]], name: str
) -> None:
    """Raises when a (dilated) window is larger than the padded input."""
    for n, k, (lo, hi) in zip(spatial, window, pairs):
        if k > n + lo + hi:
            raise ValueError(
                f"{name}: expected a window no larger than the padded input, got window {tuple(window)} "
                f"for spatial size {tuple(spatial)} with padding {list(pairs)}"
            )
