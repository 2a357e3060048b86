"""The optimiser and schedule factory, regularisers, and the named random streams."""

from __future__ import annotations

import subprocess
import sys
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import functional as F
from cnnjax.train import config as configlib
from cnnjax.train import optim
from cnnjax.train import rng as rnglib
from cnnjax.train.plan import resolve

PARAMS = {"conv": {"kernel": jnp.ones((3, 3, 1, 2)), "bias": jnp.ones((2,))}, "bn": {"scale": jnp.ones((2,))}}


def _config(**settings):
    config = configlib.default_config()
    config.optimizer.lr = 3e-3
    for key, value in settings.items():
        configlib.set_value(config, key, value)
    return config


def _schedule(config, *, steps_per_epoch, total_steps):
    config.num_steps = total_steps
    return optim.make_schedule(config, resolve(config, steps_per_epoch))


def test_constant_and_step_schedules():
    constant = _schedule(_config(**{"schedule.name": "constant"}), steps_per_epoch=10, total_steps=100)
    assert float(constant(0)) == float(constant(99)) == pytest.approx(3e-3)
    step = _schedule(
        _config(**{"schedule.name": "step", "optimizer.lr": 0.1, "schedule.decay_epochs": [3, 6]}),
        steps_per_epoch=10,
        total_steps=100,
    )
    lrs = [float(step(s)) for s in (0, 29, 30, 59, 60, 99)]
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)
    by_steps = _schedule(
        _config(**{"schedule.name": "step", "optimizer.lr": 0.1, "schedule.decay_steps": [32, 48]}),
        steps_per_epoch=10,
        total_steps=64,
    )
    np.testing.assert_allclose([float(by_steps(s)) for s in (31, 32, 48)], [0.1, 0.01, 0.001], rtol=1e-6)


def test_cosine_with_linear_warmup():
    config = _config(
        **{
            "schedule.name": "cosine",
            "optimizer.lr": 1.0,
            "schedule.warmup_epochs": 2.0,
            "schedule.final_lr_fraction": 0.1,
        }
    )
    schedule = _schedule(config, steps_per_epoch=5, total_steps=110)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 5, 10)], [0.0, 0.5, 1.0], atol=1e-6)
    np.testing.assert_allclose(float(schedule(60)), 0.1 + 0.9 * 0.5, rtol=1e-5)  # halfway through the cosine
    np.testing.assert_allclose(float(schedule(110)), 0.1, rtol=1e-5)


def test_warmup_composes_with_step_decay_at_absolute_boundaries():
    config = _config(
        **{"schedule.name": "step", "optimizer.lr": 1.0, "schedule.warmup_epochs": 1.0, "schedule.decay_epochs": [2]}
    )
    schedule = _schedule(config, steps_per_epoch=10, total_steps=40)
    np.testing.assert_allclose([float(schedule(s)) for s in (5, 10, 19, 20)], [0.5, 1.0, 1.0, 0.1], rtol=1e-6)


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"schedule.name": "linear"}, "config.schedule.name: expected one of"),
        ({"schedule.warmup_epochs": 20.0}, "warm-up shorter than the run"),
        ({"optimizer.lr": -1.0}, "positive learning rate"),
        ({"schedule.name": "step", "schedule.decay_epochs": [1], "schedule.decay_steps": [5]}, "decay_epochs, "),
    ],
)
def test_schedule_errors(settings, match):
    """Caught by the config's validation (names, ranges, units) or the plan (a warm-up longer than the run)."""
    with pytest.raises(ValueError, match=match):
        config = configlib.validate(_config(num_steps=100, **settings))
        _schedule(config, steps_per_epoch=10, total_steps=100)


@pytest.mark.parametrize(
    "name, reference",
    [
        ("sgd", lambda: optax.sgd(0.1)),
        ("momentum", lambda: optax.sgd(0.1, momentum=0.9)),
        ("nesterov", lambda: optax.sgd(0.1, momentum=0.9, nesterov=True)),
        ("adam", lambda: optax.adam(0.1)),
        ("rmsprop", lambda: optax.rmsprop(0.1, decay=0.9, momentum=0.9)),
    ],
)
def test_optimizers_match_optax(name, reference):
    config = _config(**{"optimizer.name": name, "optimizer.weight_decay": 0.0})
    tx, ref = optim.make_optimizer(config, lambda step: 0.1, steps_per_epoch=10), reference()
    state, ref_state = tx.init(PARAMS), ref.init(PARAMS)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), PARAMS)
    for _ in range(3):
        updates, state = tx.update(grads, state, PARAMS, value=jnp.asarray(1.0))
        ref_updates, ref_state = ref.update(grads, ref_state, PARAMS)
        jax.tree.map(np.testing.assert_allclose, updates, ref_updates)


def test_adamw_decays_kernels_only_and_other_optimizers_refuse_decoupled_decay():
    config = _config(**{"optimizer.name": "adamw", "optimizer.weight_decay": 0.1})
    tx = optim.make_optimizer(config, lambda step: 1.0, steps_per_epoch=10)
    zero = jax.tree.map(jnp.zeros_like, PARAMS)
    updates, _ = tx.update(zero, tx.init(PARAMS), PARAMS, value=jnp.asarray(0.0))
    np.testing.assert_allclose(updates["conv"]["kernel"], -0.1 * np.ones((3, 3, 1, 2)))
    np.testing.assert_array_equal(updates["conv"]["bias"], 0.0)
    np.testing.assert_array_equal(updates["bn"]["scale"], 0.0)
    with pytest.raises(ValueError, match=r"config\.regularization\.l2"):
        configlib.validate(_config(num_epochs=1, **{"optimizer.name": "sgd", "optimizer.weight_decay": 5e-4}))
    with pytest.raises(ValueError, match=r"expected one of .*'rmsprop'"):
        configlib.validate(_config(num_epochs=1, **{"optimizer.name": "lbfgs"}))


def test_gradient_clipping():
    config = _config(**{"optimizer.name": "sgd", "optimizer.weight_decay": 0.0, "grad_clip_norm": 1.0})
    tx = optim.make_optimizer(config, lambda step: 1.0, steps_per_epoch=10)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 10.0), PARAMS)
    updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS, value=jnp.asarray(0.0))
    assert float(optax.tree.norm(updates)) == pytest.approx(1.0, rel=1e-5)


def test_reduce_on_plateau_divides_the_lr_after_patience_epochs_without_improvement():
    config = _config(
        **{
            "optimizer.name": "sgd",
            "optimizer.weight_decay": 0.0,
            "schedule.name": "plateau",
            "schedule.plateau_patience": 2,
        }
    )
    tx = optim.make_optimizer(config, lambda step: 1.0, steps_per_epoch=3)
    state = tx.init(PARAMS)
    grads = jax.tree.map(jnp.ones_like, PARAMS)
    update = jax.jit(lambda state: tx.update(grads, state, PARAMS, value=jnp.asarray(1.0))[1])
    scales = []
    for _ in range(4 * 3):  # 4 epochs of 3 steps at a constant loss: epoch 1 sets the best, 2 and 3 plateau
        state = update(state)
        scales.append(float(optim.plateau_scale(state)))
    assert scales[:8] == [1.0] * 8 and scales[8] == pytest.approx(0.1)
    assert float(optim.plateau_scale(optax.adam(0.1).init(PARAMS))) == 1.0  # PARAMS has a BatchNorm 'scale'


def test_regularization_loss_covers_kernels_only():
    config = _config(**{"regularization.l2": 0.5, "regularization.l1": 0.25})
    expected = 0.5 * F.l2_penalty(PARAMS) + 0.25 * F.l1_penalty(PARAMS)
    assert float(optim.regularization_loss(PARAMS, config)) == pytest.approx(float(expected))
    assert float(expected) == pytest.approx(0.5 * 0.5 * 18 + 0.25 * 18)  # 18 kernel entries, biases and BN left out


def test_regularization_loss_with_biases_covers_every_parameter():
    config = _config(**{"regularization.l2": 0.5, "regularization.l1": 0.25, "regularization.biases": True})
    assert float(optim.regularization_loss(PARAMS, config)) == pytest.approx(0.5 * 0.5 * 22 + 0.25 * 22)  # 18 + 2 + 2


def test_streams_are_stable_and_independent():
    assert rnglib.stable_hash("dropout") == zlib.crc32(b"dropout")
    root = rnglib.root_key(0)
    keys = {name: jax.random.key_data(rnglib.stream(root, name)) for name in rnglib.STREAMS}
    assert len({tuple(np.asarray(k)) for k in keys.values()}) == len(rnglib.STREAMS)
    np.testing.assert_array_equal(keys["params"], jax.random.key_data(jax.random.fold_in(root, zlib.crc32(b"params"))))
    step_keys = [jax.random.key_data(rnglib.step_key(rnglib.stream(root, "augment"), s)) for s in (0, 1)]
    assert not np.array_equal(*step_keys)
    code = "from cnnjax.train import rng; print(rng.shuffle_seed(rng.root_key(0)), rng.stable_hash('params'))"
    salt = str(1 + hash("params") % 1000)  # a hash salt other than this process's
    output = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": salt, "JAX_PLATFORMS": "cpu"},
    ).stdout
    assert output == f"{rnglib.shuffle_seed(root)} {zlib.crc32(b'params')}\n"  # Python's hash salt plays no part
    with pytest.raises(TypeError, match="seed"):
        rnglib.root_key(1.5)


def test_polynomial_decay_falls_as_a_power_of_the_remaining_run():
    config = _config(**{"schedule.name": "polynomial", "optimizer.lr": 0.08, "schedule.power": 0.5})
    poly = _schedule(config, steps_per_epoch=10, total_steps=100)
    np.testing.assert_allclose([float(poly(s)) for s in (0, 75, 100)], [0.08, 0.08 * 0.25**0.5, 0.0], rtol=1e-6)


def test_plateau_reductions_stop_at_the_cap():
    config = _config(
        **{
            "optimizer.name": "sgd",
            "optimizer.weight_decay": 0.0,
            "schedule.name": "plateau",
            "schedule.plateau_patience": 1,
            "schedule.plateau_max_reductions": 2,
        }
    )
    tx = optim.make_optimizer(config, lambda step: 1.0, steps_per_epoch=1)
    state = tx.init(PARAMS)
    update = jax.jit(lambda state: tx.update(jax.tree.map(jnp.ones_like, PARAMS), state, PARAMS, value=1.0)[1])
    scales = []
    for _ in range(12):  # a constant loss: a plateau after every epoch of patience
        state = update(state)
        scales.append(float(optim.plateau_scale(state)))
    assert scales[-1] == pytest.approx(0.01) and min(scales) == pytest.approx(0.01)  # 0.1 ** 2, never lower


def test_a_plateau_watching_a_validation_metric_changes_only_when_it_is_fed_one():
    config = _config(
        **{
            "optimizer.name": "sgd",
            "schedule.name": "plateau",
            "schedule.plateau_metric": "validation_loss",
            "schedule.plateau_patience": 1,
            "validation_examples": 10,
        }
    )
    tx = optim.make_optimizer(config, lambda step: 1.0, steps_per_epoch=3)
    state = tx.init(PARAMS)
    grads = jax.tree.map(jnp.ones_like, PARAMS)
    for _ in range(10):  # training steps leave the plateau's state alone, whatever loss they pass
        updates, state = tx.update(grads, state, PARAMS, value=jnp.asarray(5.0))
    assert float(optim.plateau_scale(state)) == 1.0
    watch = jax.jit(lambda state, value: optim.watch_plateau(state, value, optim.make_plateau(config, 1)))
    scales = []
    for value in (1.0, 0.5, 0.6, 0.5):  # improves, improves, then two evaluations without improvement
        state = watch(state, value)
        scales.append(float(optim.plateau_scale(state)))
    assert scales == pytest.approx([1.0, 1.0, 0.1, 0.01])  # patience 1: each evaluation without improvement
    updates, _ = tx.update(grads, state, PARAMS, value=jnp.asarray(0.0))
    assert float(updates["conv"]["kernel"][0, 0, 0, 0]) == pytest.approx(-0.01)  # sgd: -lr * scale * grad
