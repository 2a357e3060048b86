"""Per-layer summary of a model: output shape, parameters, MACs and receptive field, computed without allocating
or computing anything.

    >>> s = cnnjax.summary(cnnjax.models.create("alexnet"), (227, 227, 3))
    >>> s.params, s.macs
    (60965224, 724406816)
    >>> print(s)  # one row per module call, then the totals

How it works: the model's `init` is traced once with `jax.make_jaxpr` on abstract inputs (as `jax.eval_shape` does,
so nothing is allocated), while `flax.linen.intercept_methods` records every module call in call order (path,
type, input and output shapes) and tags its output in the trace. Parameter shapes come from the traced variables.

Conventions:
  rows: one per module call, in call order, named by the '/'-joined Flax module path (`Layer.path`, unique in the
    zoo: the key under which `capture_intermediates` stores that module's output); a module called again gets
    `Layer.call` = 1, 2, ... and the name 'path[k]'.
  params: the trainable 'params' collection of each module (its own variables, not its children's). BatchNorm's
    running statistics ('batch_stats') are counted separately. A module called twice counts its parameters once.
  MACs: multiply-accumulates per example of the weight layers, as in the published figures:
    Conv = out_positions * C_out * kh * kw * C_in / groups (any module owning a 'kernel' shared over its output
    positions counts this way, e.g. LeNet's C3 with its partial connection table: only the connected kernels),
    Dense = D_in * D_out (per leading position), ConvTranspose = in_positions * kh * kw * C_in * C_out,
    LocallyConnected = out_positions * C_out * patch, LeNet's trainable subsampling = one per input unit.
    Pooling, normalisation, activations, additions and biases count 0.
  units, connections (LeCun et al.'s counting): the units of a weight layer (MACs > 0) are its output elements
    per example; its connections are its MACs plus one bias connection per unit when it has a bias
    (C1 of LeNet-5: 28 * 28 * 6 * (25 + 1) = 122,304). Both are 0 for the other layers.
  receptive field (`rf_size`, `rf_jump`, one value per spatial dimension, in input pixels): propagated through the
    traced dataflow graph from the input (size 1, jump 1), so branches are followed exactly. A window of k taps
    with dilation d and stride s (convolution, pooling) gives size + (k - 1) * d * jump and jump * s (an input
    dilation s, as in a transposed convolution, first divides the jump by s). cnnjax's windowed ops (convolutions
    and pooling in `cnnjax.functional`) count by the window they declare (`functional.checks.Window`), whatever
    formulation computes them (a non-overlapping max-pool may run as a reshape + max); other primitives count
    one by one: an elementwise op (residual addition) or a concatenation (inception) takes the largest field of
    its operands; a reduction over a spatial axis (global pooling), a contraction over it (a Dense layer after
    flatten) or a reshape that merges it with other axes (flatten) covers the whole axis: size + (n - 1) * jump.
    The size counts padded positions too, so it can exceed the image.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import math
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.extend.core import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Primitive

from cnnjax.functional.checks import RankError, Window, observe_windows
from cnnjax.nn.base import MacsRule

Shape = tuple[int, ...]


def _default_macs(params: Mapping[str, Shape], x: Shape, y: Shape) -> int:
    """A module owning a 'kernel' uses each kernel weight once per output position."""
    kernel = params.get("kernel")
    return 0 if kernel is None else math.prod(kernel) * math.prod(y[1:-1])


def macs_rule(module: nn.Module, rules: Mapping[type, MacsRule]) -> MacsRule:
    """The MACs rule of a module: from `rules` by type (its class or a base), else the class's own `macs`
    attribute (`cnnjax.nn.Module.macs`, e.g. ConvTranspose's, LeNet's TrainableSubsampling's), else the default."""
    for t in type(module).__mro__:
        if t in rules:
            return rules[t]
    return getattr(type(module), "macs", None) or _default_macs


@dataclasses.dataclass(frozen=True)
class Layer:
    """One module call. Shapes include the batch axis; counts are per example."""

    path: str  # '/'-joined Flax module path, e.g. 'layer2_0/conv1': the key of its captured intermediates
    call: int  # 0, or k for the k-th repeated call of the same module (intermediates[path]['__call__'][call])
    type: str  # the module's class name
    depth: int  # nesting depth, 0 for the model's direct submodules
    input_shape: Shape | None
    output_shape: Shape | None
    params: int
    batch_stats: int
    macs: int
    units: int
    connections: int
    rf_size: tuple[float, ...] | None  # receptive field of one output unit, in input pixels per spatial dimension
    rf_jump: tuple[float, ...] | None  # distance in input pixels between neighbouring output units

    @property
    def name(self) -> str:
        """The row's unique name: the module path, with '[k]' for a repeated call (never in the zoo)."""
        return f"{self.path}[{self.call}]" if self.call else self.path


@dataclasses.dataclass(frozen=True)
class Summary:
    """The layers of a model in call order and its totals (see the module docstring for the conventions)."""

    model: str
    input_shape: Shape  # (batch_size, *input_shape)
    layers: list[Layer]
    params: int  # every trainable parameter of the model
    batch_stats: int
    macs: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict: the totals, the input shape and one dict per layer."""
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "params": self.params,
            "batch_stats": self.batch_stats,
            "macs": self.macs,
            "layers": [
                {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(layer).items()}
                for layer in self.layers
            ],
        }

    def __str__(self) -> str:
        header = ("layer", "type", "output", "params", "MACs", "RF", "jump")
        rows = [
            (
                layer.name or self.model,
                layer.type,
                "-" if layer.output_shape is None else str(layer.output_shape),
                f"{layer.params:,}" if layer.params else "",
                f"{layer.macs:,}" if layer.macs else "",
                _format_field(layer.rf_size),
                _format_field(layer.rf_jump),
            )
            for layer in self.layers
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        numeric = (False, False, False, True, True, True, True)

        def line(row: Sequence[str]) -> str:
            cells = (c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric))
            return "  ".join(cells).rstrip()

        rule = "-" * len(line(["-" * w for w in widths]))
        totals = (
            f"{self.model}, input {self.input_shape}: {self.params:,} params, {self.batch_stats:,} batch_stats, "
            f"{self.macs:,} MACs per example ({_si(self.macs)})"
        )
        return "\n".join([line(header), rule, *map(line, rows), rule, totals])


def summary(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    batch_size: int = 1,
    macs_rules: Mapping[type, MacsRule] | None = None,
) -> Summary:
    """Summarises `model` on inputs of shape (batch_size, *input_shape) without allocating its parameters.

    Args:
      model: an unbound flax.linen.Module whose `__call__(x, *, train=False)` takes NHWC inputs (e.g. from
        `cnnjax.models.create`); `train` is passed when the signature has it.
      input_shape: one example's shape, (H, W, C) (or (W, C), (D, H, W, C)).
      batch_size: the batch axis of the traced input; counts stay per example.
      macs_rules: MACs rules by module type, over the modules' own `macs` attributes and the default.

    Returns:
      A `Summary`: `.layers` in call order, `.params`, `.batch_stats`, `.macs`, `str()` a table, `.to_dict()`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model: expected a Flax module, e.g. cnnjax.models.create('lenet5'), got "
            f"{type(model).__name__} {model!r:.60}"
        )
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise TypeError(f"input_shape: expected a sequence of ints such as (224, 224, 3), got {input_shape!r}")
    if len(input_shape) < 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in input_shape):
        raise ValueError(f"input_shape: expected (*spatial, channels) positive ints, got {tuple(input_shape)!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    x = jax.ShapeDtypeStruct((batch_size, *input_shape), jnp.float32)
    calls: list[_Call] = []
    try:
        closed, (_, variables) = jax.make_jaxpr(_traced_init(model, calls), return_shape=True)(x)
    except RankError as e:
        if e.shape != x.shape:  # an array the model made, not its input
            raise
        raise ValueError(
            f"input_shape: {type(model).__name__} takes inputs of rank {e.rank}, batch axis first; "
            f"expected one example's shape, {e.rank - 1} sizes (summary adds the batch axis), got "
            f"{tuple(input_shape)}"
        ) from None

    nd = len(input_shape) - 1
    fields: dict[int, _Field] = {}
    image = _Field(axes=(None, *range(nd), None), size=(1.0,) * nd, jump=(1.0,) * nd)
    _propagate(closed.jaxpr, [image], fields)

    params, stats = variables.get("params", {}), variables.get("batch_stats", {})
    layers, seen = [], collections.Counter()
    for index, call in enumerate(calls):
        own = _own(params, call.path)
        if not call.path and not own and len(calls) > 1:
            continue  # the model itself: its submodules are the rows
        repeat = seen[call.path]
        seen[call.path] += 1
        first = repeat == 0
        rule = macs_rule(call.module, macs_rules or {})
        known = call.input_shape is not None and call.output_shape is not None
        macs = int(rule(own, call.input_shape, call.output_shape)) if known else 0
        units = math.prod(call.output_shape[1:]) if macs else 0
        field = fields.get(index)
        layers.append(
            Layer(
                path="/".join(call.path),
                call=repeat,
                type=type(call.module).__name__,
                depth=max(len(call.path) - 1, 0),
                input_shape=call.input_shape,
                output_shape=call.output_shape,
                params=sum(map(math.prod, own.values())) if first else 0,
                batch_stats=sum(map(math.prod, _own(stats, call.path).values())) if first else 0,
                macs=macs,
                units=units,
                connections=macs + units if "bias" in own else macs,
                rf_size=None if field is None else tuple(map(_number, field.size)),
                rf_jump=None if field is None else tuple(map(_number, field.jump)),
            )
        )
    return Summary(
        model=type(model).__name__,
        input_shape=tuple(x.shape),
        layers=layers,
        params=_count(params),
        batch_stats=_count(stats),
        macs=sum(layer.macs for layer in layers),
    )


# ---------------------------------------------------------------------------------------------------------------------
# Recording module calls.


@dataclasses.dataclass
class _Call:
    module: nn.Module
    path: tuple[str, ...]
    input_shape: Shape | None
    output_shape: Shape | None = None


_tag_p = Primitive("cnnjax_summary_tag")  # identity; marks a module output in the trace with the call's index
_tag_p.def_impl(lambda x, *, index: x)
_tag_p.def_abstract_eval(lambda x, *, index: x)


_window_p = Primitive("cnnjax_summary_window")  # returns y; marks y as computed from x by a declared window
_window_p.def_impl(lambda x, y, *, window: y)
_window_p.def_abstract_eval(lambda x, y, *, window: y)


def _first_shape(tree: Any) -> Shape | None:
    arrays = [leaf for leaf in jax.tree.leaves(tree) if isinstance(leaf, jax.Array)]
    return tuple(arrays[0].shape) if arrays else None


def _traced_init(model: nn.Module, calls: list[_Call]) -> Callable:
    """The function traced by `summary`: `model.init_with_output` on x with every module call recorded and tagged."""
    takes_train = "train" in inspect.signature(model.__call__).parameters

    def interceptor(next_fun, args, kwargs, context):
        if context.method_name != "__call__":
            return next_fun(*args, **kwargs)
        index = len(calls)
        call = _Call(context.module, tuple(context.module.path), _first_shape(args))
        calls.append(call)
        out = next_fun(*args, **kwargs)
        call.output_shape = _first_shape(out)
        return jax.tree.map(lambda a: _tag_p.bind(a, index=index) if isinstance(a, jax.Array) else a, out)

    def declare(x: jax.Array, y: jax.Array, window: Window) -> jax.Array:
        return _window_p.bind(x, y, window=window)

    def init(x: jax.Array):
        with nn.intercept_methods(interceptor), observe_windows(declare):
            return model.init_with_output(jax.random.key(0), x, **({"train": False} if takes_train else {}))

    return init


def _own(tree: Mapping, path: tuple[str, ...]) -> dict[str, Shape]:
    """The shapes of the variables that the module at `path` declares itself."""
    for name in path:
        tree = tree.get(name, {})
    return {k: tuple(v.shape) for k, v in tree.items() if not isinstance(v, Mapping)}


def _count(tree: Mapping) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


# ---------------------------------------------------------------------------------------------------------------------
# Receptive fields through the traced graph.


@dataclasses.dataclass(frozen=True)
class _Field:
    """The receptive field of every element of one traced array."""

    axes: tuple[int | None, ...]  # per array axis: the input spatial dimension it runs along, or None
    size: tuple[float, ...]  # per input spatial dimension
    jump: tuple[float, ...]


def _merge(fields: Sequence[_Field], axes: tuple[int | None, ...]) -> _Field:
    """The union of fields: the largest size and jump per spatial dimension."""
    size = tuple(map(max, zip(*(f.size for f in fields))))
    return _Field(axes, size, tuple(map(max, zip(*(f.jump for f in fields)))))


def _window(field: _Field, windows: Mapping[int, tuple[int, int, int, int]]) -> _Field:
    """Applies {axis: (taps, stride, dilation, input dilation)}; axes that are not spatial are left alone."""
    size, jump = list(field.size), list(field.jump)
    for axis, (taps, stride, dilation, input_dilation) in windows.items():
        d = field.axes[axis]
        if d is not None:
            step = jump[d] / input_dilation
            size[d] += (taps - 1) * dilation * step
            jump[d] = step * stride
    return _Field(field.axes, tuple(size), tuple(jump))


def _cover(field: _Field, shape: Shape, axes: Sequence[int]) -> _Field:
    """The field once every position along `axes` is combined (global pooling, flatten + Dense)."""
    size, new_axes = list(field.size), list(field.axes)
    for axis in axes:
        d = field.axes[axis]
        if d is not None:
            size[d] += (shape[axis] - 1) * field.jump[d]
            new_axes[axis] = None
    return _Field(tuple(new_axes), tuple(size), field.jump)


def _drop(axes: tuple[int | None, ...], removed: Sequence[int]) -> tuple[int | None, ...]:
    return tuple(d for a, d in enumerate(axes) if a not in removed)


def _shape(var) -> Shape:
    return tuple(getattr(var.aval, "shape", ()))


# Receptive-field rules by primitive: (eqn params, input fields (None where independent of the image), input shapes,
# output shapes) -> output fields. Primitives not in the table are treated as elementwise (`_elementwise`).
FieldRule = Callable[[Mapping[str, Any], list, list[Shape], list[Shape]], list]


def _live(ins: list, shapes: list[Shape]) -> list[tuple[_Field, Shape]]:
    return [(f, s) for f, s in zip(ins, shapes) if f is not None]


def _conv(p, ins, shapes, outs):
    if ins[0] is None:  # only the kernel depends on the image: treat as elementwise
        return _elementwise(p, ins, shapes, outs)
    lhs, rhs, out = p["dimension_numbers"]
    kernel = shapes[1]
    windows = {
        lhs[2 + i]: (kernel[rhs[2 + i]], p["window_strides"][i], p["rhs_dilation"][i], p["lhs_dilation"][i])
        for i in range(len(lhs) - 2)
    }
    field = _window(ins[0], windows)
    axes = [None] * len(outs[0])
    for i, a in zip(out, lhs):
        axes[i] = field.axes[a]
    return [_Field(tuple(axes), field.size, field.jump)]


def _declared_window(p, ins, shapes, outs):
    """A cnnjax windowed op's output from its input x (N, *spatial, C), by the op's declared `Window`."""
    x, y = ins
    if x is None:  # only the weights depend on the image
        return [y]
    w: Window = p["window"]
    windows = dict(enumerate(zip(w.size, w.stride, w.dilation, w.input_dilation, strict=True), start=1))
    return [_window(x, windows)]


def _reduce_window(p, ins, shapes, outs):
    (first, in_shape), *_ = _live(ins, shapes)
    names = ("window_dimensions", "window_strides", "window_dilation", "base_dilation")
    windows = {a: tuple(p[k][a] for k in names) for a in range(len(in_shape))}
    return [_window(first, windows)] * len(outs)


def _reduce(p, ins, shapes, outs):
    (first, in_shape), *_ = _live(ins, shapes)
    field = _cover(first, in_shape, p["axes"])
    return [_Field(_drop(field.axes, p["axes"]), field.size, field.jump)] * len(outs)


def _dot_general(p, ins, shapes, outs):
    """Output axes: batch, then lhs free, then rhs free; contracted axes are covered."""
    contract, batch = p["dimension_numbers"]
    free = [[a for a in range(len(s)) if a not in (*c, *b)] for s, c, b in zip(shapes, contract, batch)]
    starts = (len(batch[0]), len(batch[0]) + len(free[0]))
    parts = []
    for f, s, c, b, fr, start in zip(ins, shapes, contract, batch, free, starts):
        if f is not None:
            f = _cover(f, s, c)
            axes = [None] * len(outs[0])
            for o, a in [*enumerate(b), *enumerate(fr, start)]:
                axes[o] = f.axes[a]
            parts.append(_Field(tuple(axes), f.size, f.jump))
    return [_merge(parts, parts[0].axes)]


def _reshape(p, ins, shapes, outs):
    """Axes kept whole stay spatial; a spatial axis merged with others (flatten) is covered."""
    (first, in_shape), *_ = _live(ins, shapes)
    out, mapped, covered = outs[0], [None] * len(outs[0]), []
    starts = {math.prod(out[:o]): o for o in range(len(out)) if out[o] != 1}
    for a, d in enumerate(first.axes):
        o = starts.get(math.prod(in_shape[:a]))
        if d is not None and in_shape[a] > 1:
            if o is not None and out[o] == in_shape[a]:
                mapped[o] = d
            else:
                covered.append(a)
    field = _cover(first, in_shape, covered)
    return [_Field(tuple(mapped), field.size, field.jump)]


def _broadcast_in_dim(p, ins, shapes, outs):
    (first, in_shape), *_ = _live(ins, shapes)
    axes = [None] * len(outs[0])
    for a, o in enumerate(p["broadcast_dimensions"]):
        if in_shape[a] == outs[0][o]:
            axes[o] = first.axes[a]
    return [_Field(tuple(axes), first.size, first.jump)]


def _transpose(p, ins, shapes, outs):
    (first, _), *_ = _live(ins, shapes)
    return [_Field(tuple(first.axes[a] for a in p["permutation"]), first.size, first.jump)]


def _squeeze(p, ins, shapes, outs):
    (first, _), *_ = _live(ins, shapes)
    return [_Field(_drop(first.axes, p["dimensions"]), first.size, first.jump)]


def _slice(p, ins, shapes, outs):
    (first, _), *_ = _live(ins, shapes)
    if p.get("strides"):  # a strided slice subsamples (option A shortcuts)
        return [_window(first, {a: (1, s, 1, 1) for a, s in enumerate(p["strides"])})]
    return [first]


def _pad(p, ins, shapes, outs):
    """Interior padding dilates the input (a jump divided by i + 1)."""
    (first, _), *_ = _live(ins, shapes)
    return [_window(first, {a: (1, 1, 1, i + 1) for a, (_, _, i) in enumerate(p["padding_config"])})]


def _union(p, ins, shapes, outs):
    """Concatenation, dynamic slices, splits: the union of the operands, axis by axis."""
    live = _live(ins, shapes)
    return [_merge([f for f, _ in live], live[0][0].axes)] * len(outs)


def _elementwise(p, ins, shapes, outs):
    """The union of the operands, kept per axis where the shape is unchanged, else covering every axis."""
    live = _live(ins, shapes)
    results = []
    for out in outs:
        same = [f for f, s in live if s == out]
        if same:
            results.append(_merge([f for f, _ in live], same[0].axes))
        else:
            covered = [_cover(f, s, range(len(s))) for f, s in live]
            results.append(_merge(covered, (None,) * len(out)))
    return results


_REDUCTIONS = ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and", "reduce_or", "argmax", "argmin")
FIELD_RULES: Mapping[str, FieldRule] = {
    _window_p.name: _declared_window,
    "conv_general_dilated": _conv,
    **dict.fromkeys(("reduce_window", "reduce_window_sum", "reduce_window_max", "reduce_window_min"), _reduce_window),
    **dict.fromkeys(_REDUCTIONS, _reduce),
    "dot_general": _dot_general,
    "reshape": _reshape,
    "broadcast_in_dim": _broadcast_in_dim,
    "transpose": _transpose,
    "squeeze": _squeeze,
    "slice": _slice,
    "pad": _pad,
    **dict.fromkeys(("concatenate", "dynamic_slice", "split"), _union),
}


def _rule(eqn: JaxprEqn, ins: list[_Field | None], fields: dict[int, _Field]) -> list[_Field | None]:
    """The fields of `eqn`'s outputs from those of its inputs (None: does not depend on the input image)."""
    shapes, outs = [_shape(v) for v in eqn.invars], [_shape(v) for v in eqn.outvars]
    if eqn.primitive is _tag_p:
        first = next(f for f in ins if f is not None)
        fields[eqn.params["index"]] = first
        return [first]
    for sub in eqn.params.values():  # jit, custom_jvp/vjp, remat: follow the inner graph
        jaxpr = sub.jaxpr if isinstance(sub, ClosedJaxpr) else sub
        is_call = isinstance(jaxpr, Jaxpr) and len(jaxpr.invars) == len(eqn.invars)
        if is_call and [_shape(v) for v in jaxpr.outvars] == outs:
            return _propagate(jaxpr, ins, fields)
    return FIELD_RULES.get(eqn.primitive.name, _elementwise)(eqn.params, ins, shapes, outs)


def _propagate(jaxpr: Jaxpr, ins: Sequence[_Field | None], fields: dict[int, _Field]) -> list[_Field | None]:
    """Fields of `jaxpr`'s outputs; records the field of every tagged module output in `fields`."""
    env: dict[Any, _Field] = {}

    def read(v) -> _Field | None:
        return None if isinstance(v, Literal) else env.get(v)

    for var, field in zip(jaxpr.invars, ins):
        if field is not None:
            env[var] = field
    for eqn in jaxpr.eqns:
        fields_in = [read(v) for v in eqn.invars]
        if any(f is not None for f in fields_in):
            for var, field in zip(eqn.outvars, _rule(eqn, fields_in, fields)):
                if field is not None:
                    env[var] = field
    return [read(v) for v in jaxpr.outvars]


# ---------------------------------------------------------------------------------------------------------------------
# Formatting.


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _format_field(values: tuple[float, ...] | None) -> str:
    if values is None:
        return "-"
    text = [f"{v:g}" for v in values]
    return text[0] if len(set(text)) == 1 else "x".join(text)


def _si(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return str(n)


class _CallableModule(types.ModuleType):
    """Lets `cnnjax.summary(model, shape)` call `summary`: the package root imports this module lazily, and once
    imported the name `cnnjax.summary` is the module, so the module is callable as its main function."""

    def __call__(self, *args: Any, **kwargs: Any) -> Summary:
        return summary(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
