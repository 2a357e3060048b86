"""Optimisers and learning-rate schedules from a config (optax).

`make_schedule` turns `config.schedule` + `config.optimizer.lr` into a step -> lr function; `make_optimizer`
chains gradient clipping, the optimiser and, for the 'plateau' schedule, optax's reduce_on_plateau (which scales
the updates; fed the training loss through `value=`, or a validation metric after each evaluation through
`watch_plateau`), and for float16 puts the chain behind
`dynamic_loss_scale`. Loss-side regularisers (L1, L2) and the max-norm
projection live in the training step, over `cnnjax.functional`'s penalties with `weight_mask`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from cnnjax import functional as F
from cnnjax.train.plan import Plan

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "polynomial", "plateau")
PLATEAU_METRICS = ("train_loss", "validation_error", "validation_loss")  # what the plateau schedule watches

Schedule = Callable[[jax.Array | int], jax.Array]


def make_schedule(config: ml_collections.ConfigDict, plan: Plan) -> Schedule:
    """The learning rate of each step: `config.schedule.name` after an optional linear warm-up.

    constant / plateau: `lr` (plateau's reductions are applied by the optimiser, see `make_optimizer`);
    step: `lr * decay_factor ** (number of the plan's decay boundaries passed)`; cosine: from `lr` down to
    `final_lr_fraction * lr` at the plan's last step; polynomial: `lr * (1 - t / T) ** power` down to the same
    end (T the steps after the warm-up). The warm-up rises linearly from 0 to `lr` over the plan's
    `warmup_steps`, and the schedule after it starts at its own step 0, except `step`, whose boundaries stay at
    their absolute steps. The config is validated (`config.validate`) and the durations resolved (`plan.resolve`).
    """
    s, lr = config.schedule, float(config.optimizer.lr)
    warmup = plan.warmup_steps
    if s.name == "step":
        base = optax.piecewise_constant_schedule(lr, dict.fromkeys(plan.decay_boundaries, s.decay_factor))
        if warmup:
            return lambda step: jnp.where(step < warmup, lr * step / warmup, base(step))
        return base
    if s.name == "cosine":
        base = optax.cosine_decay_schedule(lr, decay_steps=plan.total_steps - warmup, alpha=s.final_lr_fraction)
    elif s.name == "polynomial":
        end = lr * s.final_lr_fraction
        base = optax.polynomial_schedule(lr, end, power=s.power, transition_steps=plan.total_steps - warmup)
    else:
        base = optax.constant_schedule(lr)
    if warmup:
        return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), base], [warmup])
    return base


def scaled_lr(base_lr: float, batch_size: int, base_batch_size: int = 256, rule: str = "linear") -> float:
    """The learning rate for `batch_size` of one tuned at `base_batch_size`: 'linear' (Goyal et al. 2017:
    lr x batch / base, with a warm-up for large batches) or 'sqrt' (lr x sqrt(batch / base), used with Adam).
    With gradient accumulation `batch_size` is the batch of one update, config.batch_size."""
    rules = {"linear": lambda r: r, "sqrt": lambda r: r**0.5}
    if rule not in rules:
        raise ValueError(f"rule: expected one of {list(rules)}, got {rule!r}")
    for name, value in (("batch_size", batch_size), ("base_batch_size", base_batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return base_lr * rules[rule](batch_size / base_batch_size)


def make_optimizer(
    config: ml_collections.ConfigDict, schedule: Schedule, *, steps_per_epoch: int
) -> optax.GradientTransformationExtraArgs:
    """clip (optional) -> the optimiser of `config.optimizer.name` with `schedule` -> reduce_on_plateau (optional).

    The chain's `update` takes `value=<the step's training loss>` (used by reduce_on_plateau when
    `schedule.plateau_metric` is 'train_loss', ignored otherwise).
    AdamW's decoupled `weight_decay` applies to kernels only (`functional.weight_mask`).
    """
    o = config.optimizer
    optimizers = {
        "sgd": lambda: optax.sgd(schedule),
        "momentum": lambda: optax.sgd(schedule, momentum=o.momentum),
        "nesterov": lambda: optax.sgd(schedule, momentum=o.momentum, nesterov=True),
        "adam": lambda: optax.adam(schedule, b1=o.b1, b2=o.b2, eps=o.eps),
        "adamw": lambda: optax.adamw(
            schedule, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=o.weight_decay, mask=F.weight_mask
        ),
        "rmsprop": lambda: optax.rmsprop(schedule, decay=o.decay, eps=o.eps, momentum=o.momentum or None),
    }
    chain = []
    if config.grad_clip_norm > 0:
        chain.append(optax.clip_by_global_norm(config.grad_clip_norm))
    chain.append(optimizers[o.name]())
    if config.schedule.name == "plateau" and config.schedule.plateau_metric == "train_loss":
        chain.append(make_plateau(config, accumulation_size=steps_per_epoch))
    elif config.schedule.name == "plateau":  # the state changes after each evaluation (`watch_plateau`)
        chain.append(scale_by_plateau(make_plateau(config, accumulation_size=1)))
    if config.precision == "float16":  # a step whose gradients overflowed changes nothing but the scale
        return optax.chain(dynamic_loss_scale(), optax.apply_if_finite(optax.chain(*chain), NEVER_APPLY_NONFINITE))
    return optax.chain(*chain)


def make_plateau(config: ml_collections.ConfigDict, accumulation_size: int) -> optax.GradientTransformationExtraArgs:
    """optax's reduce_on_plateau with `config.schedule`'s factor, patience, tolerance, cooldown and cap; it decides
    once per `accumulation_size` values (the mean of the values it was fed)."""
    s = config.schedule
    return optax.contrib.reduce_on_plateau(
        factor=s.decay_factor,
        patience=s.plateau_patience,
        rtol=s.plateau_rtol,
        cooldown=s.plateau_cooldown,
        accumulation_size=accumulation_size,
        # after max_reductions the scale stays at factor ** max_reductions
        min_scale=s.decay_factor**s.plateau_max_reductions if s.plateau_max_reductions else 0.0,
    )


def scale_by_plateau(plateau: optax.GradientTransformationExtraArgs) -> optax.GradientTransformationExtraArgs:
    """Multiplies the updates by `plateau`'s current scale and leaves its state as it is: the state changes only
    through `watch_plateau`, fed a validation metric after each evaluation rather than every step's loss."""

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        return optax.tree.scale(state.scale, updates), state

    return optax.GradientTransformationExtraArgs(plateau.init, update)


def watch_plateau(
    opt_state: optax.OptState, value: jax.Array, plateau: optax.GradientTransformationExtraArgs
) -> optax.OptState:
    """`opt_state` with its reduce_on_plateau state advanced by one observation `value` (a validation loss or
    error; lower is better) under `plateau` (`make_plateau(config, accumulation_size=1)`). Pure: jit it."""

    def observe(x):
        return plateau.update({}, x, value=value)[1] if _is_plateau(x) else x

    return jax.tree.map(observe, opt_state, is_leaf=_is_plateau)


NEVER_APPLY_NONFINITE = 2**30  # apply_if_finite's count of rejected steps after which it would apply one anyway


class LossScaleState(NamedTuple):
    """scale: float32 (), what the step multiplies the loss by; good_steps: int32 (), finite steps since the
    scale last changed."""

    scale: jax.Array
    good_steps: jax.Array


def dynamic_loss_scale(
    initial: float = 2.0**15, period: int = 2000, factor: float = 2.0
) -> optax.GradientTransformation:
    """float16's dynamic loss scaling (Micikevicius et al. 2018), as a transformation that only keeps the scale.

    The training step multiplies the loss by `loss_scale(opt_state)` and divides the gradients by it, so that small
    gradients survive float16. The gradients pass unchanged; when one is not finite the scale is divided by
    `factor` (not below 1), after `period` finite steps in a row it is multiplied by `factor`. Chain it before
    `optax.apply_if_finite(optimiser)`, which skips the update of a non-finite step.
    """

    def init(params) -> LossScaleState:
        del params
        return LossScaleState(jnp.asarray(initial, jnp.float32), jnp.zeros((), jnp.int32))

    def update(updates, state: LossScaleState, params=None):
        del params
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(u)) for u in jax.tree.leaves(updates)]))
        grow = state.good_steps + 1 >= period
        scale = jnp.where(
            finite, jnp.where(grow, state.scale * factor, state.scale), jnp.maximum(state.scale / factor, 1.0)
        )
        good_steps = jnp.where(finite & ~grow, state.good_steps + 1, 0)
        return updates, LossScaleState(scale, good_steps)

    return optax.GradientTransformation(init, update)


def loss_scale(opt_state: optax.OptState) -> jax.Array:
    """`dynamic_loss_scale`'s current scale in an optimiser state (1.0 when the chain has none)."""
    states = [x for x in jax.tree.leaves(opt_state, is_leaf=_is_loss_scale) if _is_loss_scale(x)]
    return states[0].scale if states else jnp.asarray(1.0)


def _is_loss_scale(x) -> bool:
    return isinstance(x, LossScaleState)


def plateau_scale(opt_state: optax.OptState) -> jax.Array:
    """reduce_on_plateau's current factor on the learning rate (1.0 when the chain has none)."""
    states = [x for x in jax.tree.leaves(opt_state, is_leaf=_is_plateau) if _is_plateau(x)]
    return states[0].scale if states else jnp.asarray(1.0)


def _is_plateau(x) -> bool:
    return isinstance(x, optax.contrib.ReduceLROnPlateauState)


def regularization_loss(params, config: ml_collections.ConfigDict) -> jax.Array:
    """config.regularization's l2 * 1/2 ||W||^2 + l1 * ||W||_1 over the kernels, or over every parameter (biases and
    normalisation scales/offsets too) with `biases`."""
    r = config.regularization
    mask = jax.tree.map(lambda _: True, params) if r.biases else F.weight_mask(params)
    total = jnp.zeros((), jnp.float32)
    if r.l2:
        total += r.l2 * F.l2_penalty(params, mask)
    if r.l1:
        total += r.l1 * F.l1_penalty(params, mask)
    return total
