"""A run's durations in steps, resolved once from the config (`resolve`); the trainer's "is it time to ..."
predicates read them.

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


def resolve(config: ml_collections.ConfigDict, steps_per_epoch: int) -> Plan:
    """The plan of a validated config (one unit per duration) with `steps_per_epoch` batches per epoch.

    Raises ValueError for a warm-up not shorter than the run, decay boundaries outside the run or at one step, and
    a stop_after_step at or after the run's end.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch: expected a positive number of batches, got {steps_per_epoch!r}")
    total = config.num_steps or config.num_epochs * steps_per_epoch
    s = config.schedule
    if s.warmup_fraction:
        warmup, given = round(s.warmup_fraction * total), f"warmup_fraction {s.warmup_fraction!r} of the run"
    elif s.warmup_epochs:
        warmup, given = round(s.warmup_epochs * steps_per_epoch), f"warmup_epochs {s.warmup_epochs!r}"
    else:
        warmup, given = s.warmup_steps, f"warmup_steps {s.warmup_steps!r}"
    if not 0 <= warmup < total:
        raise ValueError(
            f"config.schedule: expected a warm-up shorter than the run ({total} steps), got {given} = {warmup} "
            "steps (e.g. --config.schedule.warmup_fraction=0.1 for a tenth of any run)"
        )
    boundaries = [int(e * steps_per_epoch) for e in s.decay_epochs] or [int(b) for b in s.decay_steps]
    given = f"decay_epochs {list(s.decay_epochs)}" if s.decay_epochs else f"decay_steps {list(s.decay_steps)}"
    late = [b for b in boundaries if not 0 < b < total]
    if late:
        raise ValueError(
            f"config.schedule: expected decay boundaries inside the run (steps 1..{total - 1}), got "
            f"{given} = steps {boundaries}: a boundary at or after the end changes nothing"
        )
    if len(set(boundaries)) != len(boundaries):
        raise ValueError(
            f"config.schedule: expected distinct decay boundaries, got {given} = steps {boundaries} "
            f"({steps_per_epoch} steps per epoch): the rate decays once at a repeated step"
        )
    if config.stop_after_step >= total:
        raise ValueError(
            f"config.stop_after_step: expected a step before the run's end (1..{total - 1}, or 0: off), "
            f"got {config.stop_after_step}: the run ends at step {total} first"
        )
    return Plan(
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        warmup_steps=warmup,
        decay_boundaries=tuple(boundaries),
        log_every_steps=config.log_every_steps,
        eval_every_epochs=config.eval_every_epochs,
        checkpoint_every_steps=config.checkpoint_every_steps,
        stop_after_step=config.stop_after_step,
    )
