"""config.ema_decay: a moving average of the weights, updated after every step, evaluated, checkpointed with the
state (so a resumed run continues it exactly) and returned by restore_run."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from cnnjax.train import Checkpointer, restore_run, train_and_evaluate

from .helpers import tiny_config, tiny_dataset

pytestmark = pytest.mark.slow  # every test trains a run

DECAY = 0.75


def _run(workdir, **overrides):
    """A registered model (restore_run rebuilds it by name): an MLP 64 - 8 - 4 with dropout."""
    settings = {
        "model": "mlp",
        "model_options.hidden": (8,),
        "model_options.dropout": 0.1,
        "model_options.num_classes": 4,
    }
    config = tiny_config(ema_decay=DECAY, checkpoint_every_steps=1, checkpoint_keep=20, **settings, **overrides)
    return train_and_evaluate(config, workdir, dataset=tiny_dataset())


def test_the_average_follows_each_step_and_is_what_restore_run_returns(tmp_path):
    _run(tmp_path, num_epochs=0, num_steps=3)
    checkpoints = Checkpointer(tmp_path / "checkpoints", keep=20)
    states = {step: checkpoints.read(step)[0] for step in (2, 3)}
    expected = jax.tree.map(
        lambda ema, params: DECAY * ema + (1 - DECAY) * params, states[2]["ema_params"], states[3]["params"]
    )
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), states[3]["ema_params"], expected)
    assert not np.allclose(states[3]["ema_params"]["fc2"]["kernel"], states[3]["params"]["fc2"]["kernel"])
    _, _, variables = restore_run(tmp_path)
    jax.tree.map(np.testing.assert_array_equal, variables["params"], states[3]["ema_params"])


def test_a_resumed_run_continues_the_average_exactly(tmp_path):
    final = _run(tmp_path / "whole")
    _run(tmp_path / "resumed", stop_after_step=5)
    resumed = _run(tmp_path / "resumed")
    assert resumed["test_accuracy"] == final["test_accuracy"] and resumed["test_loss"] == final["test_loss"]
    a = Checkpointer(tmp_path / "whole" / "checkpoints", keep=20).read()[0]["ema_params"]
    b = Checkpointer(tmp_path / "resumed" / "checkpoints", keep=20).read()[0]["ema_params"]
    jax.tree.map(np.testing.assert_array_equal, a, b)
