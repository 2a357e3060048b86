"""Model options: checked against, and parsed by, the types the zoo's modules declare for them.

A model's options are the dataclass fields of its Flax module (`registry.options(name)`), and their annotations are
their types: `bool`, `int`, `float`, `str`, None, unions of these and tuples of them. `Annotated` adds bounds,
checked with the type, through the aliases below (`Count` for class counts and layer widths, say):

    check(name, module, key, value)  `value` as the option's declared type, else a TypeError (another type: a str
                                     for a bool, a bool for an int) or a ValueError (out of bounds: latent_dim=0)
    parse(name, module, key, text)   text from a command line, read by the declared type: bools as true/false,
                                     yes/no, 1/0 (any case), ints, floats, None as none, tuples as Python literals
                                     ('(16, 32)' or '16,32'), strs as they are; then `check`ed

`cnnjax.models.create` checks every option it is given with `check`; `cnnjax.models.parse_option` is `parse`, used
by `cnnjax summary --set` and by the trainer's --config.model_options.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Union

import numpy as np

from cnnjax.functional.checks import is_int


@dataclasses.dataclass(frozen=True)
class Bounds:
    """Bounds on a number option, or on each element of a tuple option (which must then be non-empty)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = True

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


Count = Annotated[int, Bounds(1)]  # a number of classes, channels, units, layers: >= 1
Counts = Annotated[tuple[int, ...], Bounds(1)]  # one count per stage or level: non-empty, each >= 1
Size = Annotated[int, Bounds(0)]  # a padding: >= 0
ImageSize = Annotated[tuple[int, int], Bounds(1)]  # (H, W)
Rate = Annotated[float, Bounds(0.0, 1.0)]  # a dropout rate: [0, 1)
Fraction = Annotated[float, Bounds(0.0, 1.0, high_open=False)]  # a momentum: [0, 1]
Positive = Annotated[float, Bounds(0.0, low_open=True)]  # a width multiplier, an epsilon: > 0

_NAMES = {bool: "bool", int: "int", float: "float", str: "str"}


def declared_types(module: type) -> dict[str, Any]:
    """The annotation of every field of `module`, `Annotated` bounds included."""
    return typing.get_type_hints(module, include_extras=True)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _is_tuple(tp: Any) -> bool:
    return typing.get_origin(tp) in (tuple, list, Sequence)


def _is_variadic(tp: Any) -> bool:
    """tuple[T, ...] or Sequence[T] (any length), as opposed to tuple[A, B]."""
    args = typing.get_args(tp)
    return len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis)


def describe(tp: Any, *, plural: bool = False) -> str:
    """Words for a declared type: 'a bool', 'an int >= 1 or None', 'a non-empty tuple of ints >= 1'."""
    if typing.get_origin(tp) is Annotated:
        base, *meta = typing.get_args(tp)
        bounds = " ".join(str(m) for m in meta if isinstance(m, Bounds))
        if _is_tuple(base) and _is_variadic(base):
            return f"{describe(base, plural=plural).replace('a tuple', 'a non-empty tuple', 1)} {bounds}".strip()
        return f"{describe(base, plural=plural)} {bounds}".strip()
    if _is_union(tp):
        return " or ".join(describe(member, plural=plural) for member in typing.get_args(tp))
    if tp is type(None):
        return "None"
    if _is_tuple(tp):
        args = typing.get_args(tp)
        if _is_variadic(tp):
            return f"a tuple of {describe(args[0], plural=True)}"
        if args and len(set(args)) == 1:
            return f"a tuple of {len(args)} {describe(args[0], plural=True)}"
        return "a tuple"
    name = _NAMES.get(tp, getattr(tp, "__name__", str(tp)))
    if plural:
        return f"{name}s"
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


class _OutOfBounds(ValueError):
    """A value of the declared type outside its bounds (or a tuple of the wrong length)."""


def _convert(value: Any, tp: Any) -> Any:
    """`value` as the type `tp` (a list for a tuple becomes a tuple; NumPy scalars become Python ones); TypeError
    when it is not of the type, _OutOfBounds when it is but lies outside the bounds."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        value = _convert(value, args[0])
        items = value if isinstance(value, tuple) else (value,)
        for bounds in (m for m in args[1:] if isinstance(m, Bounds)):
            if not items or not all(v in bounds for v in items):
                raise _OutOfBounds(value)
        return value
    if _is_union(tp):
        out_of_bounds = None
        for member in args:
            try:
                return _convert(value, member)
            except _OutOfBounds as e:
                out_of_bounds = e
            except TypeError:
                pass
        raise out_of_bounds or TypeError(value)
    if tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
    elif tp is int:
        if is_int(value):
            return int(value)
    elif tp is float:
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif _is_tuple(tp):
        if isinstance(value, (tuple, list)):
            if _is_variadic(tp):
                return tuple(_convert(v, args[0]) for v in value)
            if args and len(value) != len(args):
                raise _OutOfBounds(value)
            return tuple(_convert(v, a) for v, a in zip(value, args, strict=True)) if args else tuple(value)
    else:
        return value  # a type the zoo does not declare for an option (a callable, say): as given
    raise TypeError(value)


def check(name: str, module: type, key: str, value: Any) -> Any:
    """`value` for the option `key` of the model `name` (whose module is `module`), as its declared type.

    Raises:
      TypeError: `value` is not of the declared type (a str 'false' for a bool, True for an int).
      ValueError: it is, but outside the declared bounds (latent_dim=0, features=()).
    """
    tp = declared_types(module)[key]
    try:
        return _convert(value, tp)
    except _OutOfBounds:
        raise ValueError(f"{key}: expected {describe(tp)} (an option of {name!r}), got {value!r}") from None
    except TypeError:
        hint = ""
        if isinstance(value, str):
            hint = f"; to read command-line text, use cnnjax.models.parse_option({name!r}, {key!r}, {value!r})"
        raise TypeError(
            f"{key}: expected {describe(tp)} (an option of {name!r}), got {type(value).__name__} {value!r}{hint}"
        ) from None


_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def _read(text: str, tp: Any) -> Any:
    """Text as a value of the type `tp`, before `check`; ValueError when it cannot be one."""
    text = text.strip()
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        return _read(text, args[0])
    if _is_union(tp):  # str last: it reads any text
        for member in sorted(args, key=lambda member: member is str):
            try:
                return _read(text, member)
            except ValueError:
                pass
        raise ValueError(text)
    if tp is type(None):
        if text.lower() in ("none", "null"):
            return None
        raise ValueError(text)
    if tp is bool:
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ValueError(text)
    if tp is int:
        return int(text)
    if tp is float:
        return float(text)
    if tp is str:
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(text) from None
    if _is_tuple(tp) and not isinstance(value, (tuple, list)):
        raise ValueError(text)
    return value


def parse(name: str, module: type, key: str, text: str) -> Any:
    """The value of command-line `text` for the option `key` of the model `name`, read by its declared type and
    checked with `check`.

    Raises:
      ValueError: the text does not read as the declared type, or the value lies outside its bounds.
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected the option's command-line text, a str, got {type(text).__name__} {text!r}")
    tp = declared_types(module)[key]
    try:
        value = _read(text, tp)
    except ValueError:
        words = " (true/false, yes/no or 1/0)" if tp is bool else ""
        raise ValueError(f"{key}: expected {describe(tp)}{words} (an option of {name!r}), got {text!r}") from None
    try:
        return check(name, module, key, value)
    except TypeError:  # e.g. a tuple literal of strs for a tuple of ints
        raise ValueError(f"{key}: expected {describe(tp)} (an option of {name!r}), got {text!r}") from None
