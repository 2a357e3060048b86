"""Durations resolved once (steps | epochs | fraction of the run), and the trainer's "is it time to ..." predicates
and grouping of steps into calls, as pure functions."""

from __future__ import annotations

import pytest

from cnnjax.train import config as configlib
from cnnjax.train import recipe
from cnnjax.train.plan import Plan, resolve
from cnnjax.train.trainer import is_time_to_checkpoint, is_time_to_evaluate, is_time_to_log, steps_in_call


def _config(**settings):
    config = configlib.default_config()
    for key, value in settings.items():
        configlib.set_value(config, key, value)
    return config


def test_the_main_jobs_warmup_fraction_is_one_epoch_of_ten():
    plan = resolve(recipe("lenet5"), steps_per_epoch=468)  # 60,000 // 128
    assert (plan.total_steps, plan.warmup_steps) == (4680, 468)  # one epoch of ten
    one_epoch = resolve(_config(num_epochs=1, **{"schedule.warmup_fraction": 0.1}), steps_per_epoch=468)
    assert (one_epoch.total_steps, one_epoch.warmup_steps) == (468, 47)  # any run length works


@pytest.mark.parametrize(
    "settings, total, warmup, boundaries",
    [
        ({"num_epochs": 3}, 30, 0, ()),
        ({"num_steps": 25}, 25, 0, ()),
        ({"num_epochs": 2, "schedule.warmup_epochs": 0.5}, 20, 5, ()),
        ({"num_epochs": 2, "schedule.warmup_steps": 3}, 20, 3, ()),
        ({"num_steps": 64, "schedule.warmup_fraction": 0.25}, 64, 16, ()),
        ({"num_epochs": 10, "schedule.decay_epochs": [3, 6.5]}, 100, 0, (30, 65)),
        ({"num_steps": 64, "schedule.decay_steps": [32, 48]}, 64, 0, (32, 48)),
    ],
)
def test_durations_in_any_unit_resolve_to_steps(settings, total, warmup, boundaries):
    plan = resolve(_config(**settings), steps_per_epoch=10)
    assert (plan.total_steps, plan.warmup_steps, plan.decay_boundaries) == (total, warmup, boundaries)


def test_a_decay_boundary_at_or_after_the_end_is_an_error():
    with pytest.raises(
        ValueError, match=r"decay boundaries inside the run \(steps 1\.\.9\), got decay_epochs \[30, 60\]"
    ):
        resolve(_config(num_epochs=1, **{"schedule.name": "step", "schedule.decay_epochs": [30, 60]}), 10)


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"num_epochs": 1, "schedule.warmup_epochs": 1.0}, ["shorter than the run (10 steps)", "warmup_epochs 1.0"]),
        ({"num_steps": 5, "schedule.warmup_steps": 9}, ["(5 steps)", "warmup_steps 9 = 9 steps"]),
        (
            {"num_epochs": 2, "schedule.name": "step", "schedule.decay_epochs": [0.5, 0.55]},
            ["distinct decay boundaries", "decay_epochs [0.5, 0.55] = steps [5, 5]", "10 steps per epoch"],
        ),
        ({"num_steps": 9, "schedule.name": "step", "schedule.decay_steps": [4, 4]}, ["distinct", "steps [4, 4]"]),
        ({"num_epochs": 1, "stop_after_step": 10}, ["config.stop_after_step", "1..9", "got 10", "ends at step 10"]),
        ({"num_steps": 5, "stop_after_step": 100}, ["config.stop_after_step", "got 100"]),
    ],
)
def test_durations_that_change_nothing_or_not_as_written_are_errors(settings, words):
    with pytest.raises(ValueError) as info:
        resolve(_config(**settings), steps_per_epoch=10)
    for word in words:
        assert word in str(info.value)


PLAN = Plan(steps_per_epoch=8, total_steps=24, log_every_steps=3, eval_every_epochs=2, checkpoint_every_steps=0)


@pytest.mark.parametrize(
    "step, plan, expected",
    [
        (1, PLAN, (False, False, False)),
        (3, PLAN, (True, False, False)),
        (8, PLAN, (True, False, True)),  # end of epoch 1: record + checkpoint, no evaluation
        (16, PLAN, (True, True, True)),  # every 2nd epoch
        (24, PLAN, (True, True, True)),  # the end
        (10, Plan(8, 24, log_every_steps=100, checkpoint_every_steps=5), (False, False, True)),
        (8, Plan(8, 24, log_every_steps=100, checkpoint_every_steps=5), (True, True, False)),
        (16, Plan(8, 24, eval_every_epochs=0), (True, False, True)),  # evaluation only at the end
    ],
)
def test_is_it_time_to_log_evaluate_checkpoint(step, plan, expected):
    assert (is_time_to_log(step, plan), is_time_to_evaluate(step, plan), is_time_to_checkpoint(step, plan)) == expected


@pytest.mark.parametrize(
    "step, expected",
    [
        (0, 4),  # steps 1-3 do nothing, step 4 logs: one call of 4
        (4, 4),
        (8, 1),  # step 10 logs inside 9..11
        (9, 1),
        (10, 4),  # 11..13 quiet, 14 is whatever it is
        (18, 1),  # the epoch (20 steps) ends at 20, inside 19..22
        (16, 4),  # 17..19 quiet, 20 the epoch's end
    ],
)
def test_steps_in_call_groups_only_where_nothing_happens_inside(step, expected):
    plan = Plan(steps_per_epoch=20, total_steps=60, log_every_steps=10)
    assert steps_in_call(step, 4, plan) == expected


def test_steps_in_call_stops_a_group_before_stop_after_step():
    plan = Plan(steps_per_epoch=100, total_steps=100, log_every_steps=50, stop_after_step=6)
    assert steps_in_call(4, 4, plan) == 1 and steps_in_call(6, 4, plan) == 4


def test_one_step_per_call_is_one():
    assert steps_in_call(0, 1, Plan(steps_per_epoch=100, total_steps=100, log_every_steps=50)) == 1
