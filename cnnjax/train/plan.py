"""When things happen, in steps: the run's durations resolved once (`resolve`), and what to do after each step
(`actions`, a pure function of the step and the plan).

Every duration of the config is converted here and nowhere else: the run's length (num_epochs | num_steps), the
warm-up (warmup_fraction of the run | warmup_epochs | warmup_steps), the step schedule's decay boundaries
(decay_epochs | decay_steps), and the evaluation, logging and checkpoint intervals.
"""

from __future__ import annotations

import dataclasses

import ml_collections


@dataclasses.dataclass(frozen=True)
class Plan:
    """A run's durations in steps. checkpoint_every_steps 0: at the end of every epoch; eval_every_epochs 0: only
    at the end; stop_after_step 0: off."""

    steps_per_epoch: int
    total_steps: int
    warmup_steps: int = 0
    decay_boundaries: tuple[int, ...] = ()
    log_every_steps: int = 100
    eval_every_epochs: int = 1
    checkpoint_every_steps: int = 0
    stop_after_step: int = 0
    steps_per_call: int = 1


@dataclasses.dataclass(frozen=True)
class Actions:
    """What the loop does after a step: write a record (log), evaluate, save a checkpoint, stop."""

    log: bool = False
    evaluate: bool = False
    checkpoint: bool = False
    stop: bool = False


def resolve(config: ml_collections.ConfigDict, steps_per_epoch: int, steps_per_call: int = 1) -> Plan:
    """The plan of a validated config (one unit per duration) with `steps_per_epoch` batches per epoch and
    `steps_per_call` training steps per call of the compiled step (`cnnjax.train.step.steps_per_call`).

    Raises ValueError when the warm-up is not shorter than the run.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch: expected a positive number of batches, got {steps_per_epoch!r}")
    if steps_per_call < 1:
        raise ValueError(f"steps_per_call: expected a positive number of steps, got {steps_per_call!r}")
    total = config.num_steps or config.num_epochs * steps_per_epoch
    s = config.schedule
    if s.warmup_fraction:
        warmup, given = int(round(s.warmup_fraction * total)), f"warmup_fraction {s.warmup_fraction!r} of the run"
    elif s.warmup_epochs:
        warmup, given = int(round(s.warmup_epochs * steps_per_epoch)), f"warmup_epochs {s.warmup_epochs!r}"
    else:
        warmup, given = s.warmup_steps, f"warmup_steps {s.warmup_steps!r}"
    if not 0 <= warmup < total:
        raise ValueError(
            f"config.schedule: expected a warm-up shorter than the run ({total} steps), got {given} = {warmup} "
            "steps (e.g. --config.schedule.warmup_fraction=0.1 for a tenth of any run)"
        )
    boundaries = [int(e * steps_per_epoch) for e in s.decay_epochs] or [int(b) for b in s.decay_steps]
    return Plan(
        steps_per_epoch=steps_per_epoch, total_steps=total, warmup_steps=warmup, decay_boundaries=tuple(boundaries),
        log_every_steps=config.log_every_steps, eval_every_epochs=config.eval_every_epochs,
        checkpoint_every_steps=config.checkpoint_every_steps, stop_after_step=config.stop_after_step,
        steps_per_call=steps_per_call,
    )


def actions(step: int, plan: Plan, *, interrupted: bool = False) -> Actions:
    """What to do after `step` (the number of steps taken).

    Stop at the end of the run, at stop_after_step, or when interrupted (a signal). Evaluate at the end and at the
    end of every eval_every_epochs-th epoch. Log when evaluating, at the end of every epoch, and every
    log_every_steps. Checkpoint when stopping, and every checkpoint_every_steps (or at the end of every epoch).
    """
    end_of_epoch = step % plan.steps_per_epoch == 0
    epoch = step // plan.steps_per_epoch
    stop = interrupted or step == plan.stop_after_step or step == plan.total_steps
    every_epochs = plan.eval_every_epochs
    evaluate = step == plan.total_steps or (end_of_epoch and every_epochs > 0 and epoch % every_epochs == 0)
    log = evaluate or end_of_epoch or step % plan.log_every_steps == 0
    every = plan.checkpoint_every_steps
    checkpoint = stop or (step % every == 0 if every > 0 else end_of_epoch)
    return Actions(log=log, evaluate=evaluate, checkpoint=checkpoint, stop=stop)


# Unrolling several training steps into one compiled call pays when a step is short: measured by benchmarks/run.py
# (README, "Performance"). 0 = auto picks AUTO_STEPS_PER_CALL for steps under AUTO_MAX_GFLOP per device.
AUTO_STEPS_PER_CALL = 8
AUTO_MAX_GFLOP = 2.0


def auto_steps_per_call(macs_per_example: int, device_batch: int) -> int:
    """config.steps_per_call = 0: AUTO_STEPS_PER_CALL when a training step (forward and backward, ~6 x MACs x the
    per-device batch FLOPs) is under AUTO_MAX_GFLOP, else 1."""
    gflop = 6 * macs_per_example * device_batch / 1e9
    return AUTO_STEPS_PER_CALL if gflop < AUTO_MAX_GFLOP else 1


def steps_in_call(step: int, plan: Plan) -> int:
    """How many steps the call after `step` takes: plan.steps_per_call, or 1 when something happens inside that
    group (a record, an evaluation, a checkpoint, a stop) or the epoch ends inside it, so that every action still
    follows the step it is planned for."""
    k = plan.steps_per_call
    end_of_epoch = (step // plan.steps_per_epoch + 1) * plan.steps_per_epoch
    if k == 1 or step + k > end_of_epoch:
        return 1
    return 1 if any(actions(s, plan) != Actions() for s in range(step + 1, step + k)) else k
