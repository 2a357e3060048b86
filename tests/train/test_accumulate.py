"""config.accumulate_steps: K micro-batches of B / K update as one batch of B; what cannot split is refused."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from cnnjax.train import Checkpointer, train_and_evaluate

from .helpers import TinyNet, tiny_config, tiny_dataset

# No augmentation and no dropout: the batch's gradient is then the same function of the same examples.
PLAIN = {"augment.crop_padding": 0, "num_epochs": 0, "num_steps": 3, "log_every_steps": 1}


def _final_state(workdir, model=None, **settings):
    model = model or TinyNet()
    train_and_evaluate(tiny_config(**{**PLAIN, **settings}), workdir, dataset=tiny_dataset(), model=model)
    return Checkpointer(workdir / "checkpoints", keep=1).read()[0]


@pytest.mark.slow
def test_micro_batches_give_the_update_of_the_whole_batch(tmp_path):
    whole = _final_state(tmp_path / "whole")["params"]
    accumulated = _final_state(tmp_path / "four", accumulate_steps=4)["params"]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6), whole, accumulated)


@pytest.mark.slow
def test_batch_norm_updates_its_running_averages_once_per_micro_batch(tmp_path):
    model = TinyNet(batch_norm=True)
    whole = _final_state(tmp_path / "whole", model, num_steps=1)["batch_stats"]["bn"]["var"]
    accumulated = _final_state(tmp_path / "four", model, num_steps=1, accumulate_steps=4)["batch_stats"]["bn"]["var"]
    # momentum 0.9 from var 1: one update moves 1 - var by 0.1 of (1 - the batch's variance), four by
    # 1 - 0.9**4 = 0.3439 of (1 - the micro-batches' variances), which are close to the batch's
    ratio = (1 - np.asarray(accumulated)) / (1 - np.asarray(whole))
    np.testing.assert_allclose(ratio, 0.3439 / 0.1, rtol=0.15)


def test_a_batch_that_does_not_split_into_the_micro_batches_is_refused(tmp_path):
    config = tiny_config(accumulate_steps=5)  # batch 32
    with pytest.raises(ValueError, match=r"config\.accumulate_steps: expected a divisor of the per-device batch 32"):
        train_and_evaluate(config, tmp_path, dataset=tiny_dataset(), model=TinyNet())


def test_a_ghost_batch_that_does_not_divide_what_a_device_normalises_is_refused(tmp_path):
    config = tiny_config(model="resnet20", accumulate_steps=2)
    config.model_options.ghost_batch_size = 12
    with pytest.raises(ValueError, match=r"config\.model_options\.ghost_batch_size: .* normalises, 16 .* got 12"):
        train_and_evaluate(config, tmp_path, dataset=tiny_dataset())


def test_the_learning_rate_scales_with_the_batch_of_one_update():
    from cnnjax.train import scaled_lr

    assert scaled_lr(0.1, 1024) == pytest.approx(0.4)  # Goyal et al.: 0.1 per 256
    assert scaled_lr(1e-3, 64, base_batch_size=16, rule="sqrt") == pytest.approx(2e-3)
    with pytest.raises(ValueError, match=r"rule: expected one of \['linear', 'sqrt'\], got 'log'"):
        scaled_lr(0.1, 512, rule="log")
