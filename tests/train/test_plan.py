"""Durations resolved once (steps | epochs | fraction of the run) and the after-step actions, as pure functions."""

from __future__ import annotations

import pytest

from cnnjax.train import config as configlib
from cnnjax.train import recipe
from cnnjax.train.plan import Actions, Plan, actions, auto_steps_per_call, resolve, steps_in_call


def _config(**settings):
    config = configlib.default_config()
    for key, value in settings.items():
        configlib.set_value(config, key, value)
    return config


def test_the_main_jobs_warmup_fraction_is_its_old_one_epoch():
    plan = resolve(recipe("lenet5"), steps_per_epoch=468)  # 60,000 // 128
    assert (plan.total_steps, plan.warmup_steps) == (4680, 468)  # the 1-epoch warm-up of 10 epochs, same steps
    one_epoch = resolve(_config(num_epochs=1, **{"schedule.warmup_fraction": 0.1}), steps_per_epoch=468)
    assert (one_epoch.total_steps, one_epoch.warmup_steps) == (468, 47)  # any run length works


@pytest.mark.parametrize("settings, total, warmup, boundaries", [
    ({"num_epochs": 3}, 30, 0, ()),
    ({"num_steps": 25}, 25, 0, ()),
    ({"num_epochs": 2, "schedule.warmup_epochs": 0.5}, 20, 5, ()),
    ({"num_epochs": 2, "schedule.warmup_steps": 3}, 20, 3, ()),
    ({"num_steps": 64, "schedule.warmup_fraction": 0.25}, 64, 16, ()),
    ({"num_epochs": 10, "schedule.decay_epochs": [3, 6.5]}, 100, 0, (30, 65)),
    ({"num_steps": 64, "schedule.decay_steps": [32, 48]}, 64, 0, (32, 48)),
])
def test_durations_in_any_unit_resolve_to_steps(settings, total, warmup, boundaries):
    plan = resolve(_config(**settings), steps_per_epoch=10)
    assert (plan.total_steps, plan.warmup_steps, plan.decay_boundaries) == (total, warmup, boundaries)


@pytest.mark.parametrize("settings, words", [
    ({"num_epochs": 1, "schedule.warmup_epochs": 1.0}, ["shorter than the run (10 steps)", "warmup_epochs 1.0"]),
    ({"num_steps": 5, "schedule.warmup_steps": 9}, ["(5 steps)", "warmup_steps 9 = 9 steps"]),
])
def test_an_explicit_warmup_longer_than_the_run_is_an_error(settings, words):
    with pytest.raises(ValueError) as info:
        resolve(_config(**settings), steps_per_epoch=10)
    for word in words:
        assert word in str(info.value)


PLAN = Plan(steps_per_epoch=8, total_steps=24, log_every_steps=3, eval_every_epochs=2, checkpoint_every_steps=0)


@pytest.mark.parametrize("step, plan, interrupted, expected", [
    (1, PLAN, False, Actions()),
    (3, PLAN, False, Actions(log=True)),
    (8, PLAN, False, Actions(log=True, checkpoint=True)),  # end of epoch 1: record + checkpoint, no evaluation
    (16, PLAN, False, Actions(log=True, evaluate=True, checkpoint=True)),  # every 2nd epoch
    (24, PLAN, False, Actions(log=True, evaluate=True, checkpoint=True, stop=True)),  # the end
    (5, PLAN, True, Actions(checkpoint=True, stop=True)),  # a signal: checkpoint and stop, no record
    (10, Plan(8, 24, log_every_steps=100, checkpoint_every_steps=5), False, Actions(checkpoint=True)),
    (8, Plan(8, 24, log_every_steps=100, checkpoint_every_steps=5), False, Actions(log=True, evaluate=True)),
    (6, Plan(8, 24, log_every_steps=100, stop_after_step=6), False, Actions(checkpoint=True, stop=True)),
    (16, Plan(8, 24, eval_every_epochs=0), False, Actions(log=True, checkpoint=True)),  # only at the end
])
def test_after_step_actions(step, plan, interrupted, expected):
    assert actions(step, plan, interrupted=interrupted) == expected


@pytest.mark.parametrize("step, expected", [
    (0, 4),  # steps 1-3 do nothing, step 4 logs: one call of 4
    (4, 4),
    (8, 1),  # step 10 logs inside 9..11
    (9, 1),
    (10, 4),  # 11..13 quiet, 14 is whatever it is
    (18, 1),  # the epoch (20 steps) ends at 20, inside 19..22
    (16, 4),  # 17..19 quiet, 20 the epoch's end
])
def test_steps_in_call_groups_only_where_no_action_falls_inside(step, expected):
    plan = Plan(steps_per_epoch=20, total_steps=60, log_every_steps=10, steps_per_call=4)
    assert steps_in_call(step, plan) == expected


def test_steps_in_call_of_one_step_per_call_is_one():
    assert steps_in_call(0, Plan(steps_per_epoch=100, total_steps=100, log_every_steps=50)) == 1


def test_auto_steps_per_call_unrolls_only_short_steps():
    assert auto_steps_per_call(420_000, 256) == 8  # LeNet-5: 0.6 GFLOP per step
    assert auto_steps_per_call(41_000_000, 128) == 1  # ResNet-20: 32 GFLOP per step
