"""config.validation_examples: the last N training examples are held out, trained without and evaluated on instead
of the test split (validation_* metrics); its rule and the split itself."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnjax import data
from cnnjax.train import split_data, train_and_evaluate, validate

from .helpers import TinyNet, tiny_config, tiny_dataset


def test_split_holds_out_the_last_examples_and_limits_apply_after():
    dataset = tiny_dataset(n_train=256)
    config = validate(tiny_config(validation_examples=64, limit_train=100, limit_test=40), dataset_given=True)
    train, held_out, split = split_data(config, dataset)
    assert split == "validation"
    np.testing.assert_array_equal(train.images, dataset.train.images[:100])
    np.testing.assert_array_equal(held_out.images, dataset.train.images[192:232])
    np.testing.assert_array_equal(held_out.labels, dataset.train.labels[192:232])
    train, test, split = split_data(validate(tiny_config(), dataset_given=True), dataset)
    assert split == "test" and len(train) == 256 and len(test) == 100


@pytest.mark.slow
def test_validation_run_reports_validation_metrics_only(tmp_path):
    metrics = train_and_evaluate(
        tiny_config(validation_examples=64, num_epochs=1), tmp_path / "run", dataset=tiny_dataset(), model=TinyNet()
    )
    assert 0.0 <= metrics["validation_accuracy"] <= 1.0 and "validation_loss" in metrics
    assert not any(key.startswith("test_") for key in metrics)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert "validation_accuracy" in records[-1] and "test_accuracy" not in records[-1]
    assert metrics["step"] == (256 - 64) // 32  # one epoch of the 192 kept examples


def test_validation_examples_rules():
    with pytest.raises(
        ValueError,
        match=r"config.validation_examples: expected 0 \(evaluate on the test split\) or "
        r"a number of training examples to hold out, got -1",
    ):
        validate(tiny_config(validation_examples=-1), dataset_given=True)
    config = validate(tiny_config(validation_examples=256), dataset_given=True)
    with pytest.raises(
        ValueError,
        match=r"config.validation_examples: expected fewer than the 256 training "
        r"examples, got 256",
    ):
        split_data(config, tiny_dataset(n_train=256))


def test_skip_is_the_complement_of_take():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
    source = data.ArraySource(images, np.arange(10))
    assert [int(e["label"]) for e in (data.skip(source, 7)[i] for i in range(3))] == [7, 8, 9]
    assert data.skip(source, 0) is source and len(data.skip(source, 10)) == 0
    with pytest.raises(ValueError, match="count: expected at most the source's 10 examples, got 11"):
        data.skip(source, 11)


@pytest.mark.slow
def test_plateau_on_the_validation_error_reduces_after_each_evaluation_without_improvement(tmp_path):
    # rtol 1: no error is below (1 - 1) * best, so every evaluation is a plateau of patience 1 and divides the rate.
    settings = {
        "validation_examples": 64,
        "num_epochs": 3,
        "schedule.name": "plateau",
        "schedule.plateau_metric": "validation_error",
        "schedule.plateau_patience": 1,
        "schedule.plateau_rtol": 1.0,
        "schedule.plateau_max_reductions": 3,
        "schedule.warmup_fraction": 0.0,
        "log_every_steps": 100,
    }
    run = tmp_path / "run"
    final = train_and_evaluate(tiny_config(**settings, test_at_end=True), run, dataset=tiny_dataset(), model=TinyNet())
    assert {"validation_accuracy", "test_accuracy", "test_loss"} <= set(final)  # chosen on one, reported on the other
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rates = [r["learning_rate"] for r in records]  # the rate of each epoch's last step, logged at its end
    np.testing.assert_allclose(rates, [0.02, 0.002, 0.0002], rtol=1e-5)
    # Resuming after the first epoch continues from the checkpointed plateau state: the same records.
    resumed = tmp_path / "resumed"
    for stop in (6, 0):
        config = tiny_config(**settings, test_at_end=True, stop_after_step=stop)
        resumed_final = train_and_evaluate(config, resumed, dataset=tiny_dataset(), model=TinyNet())
    again = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [r["learning_rate"] for r in again] == rates
    assert again[-1]["validation_loss"] == records[-1]["validation_loss"]
    assert resumed_final["test_loss"] == final["test_loss"]


def test_plateau_on_a_validation_metric_needs_a_validation_split():
    plateau = {"schedule.name": "plateau", "schedule.plateau_metric": "validation_loss"}
    with pytest.raises(ValueError, match=r"config.schedule.plateau_metric: 'validation_loss' .* expected "):
        validate(tiny_config(**plateau), dataset_given=True)
    with pytest.raises(ValueError, match=r"config.eval_every_epochs: .* got 0"):
        validate(tiny_config(**plateau, validation_examples=64, eval_every_epochs=0), dataset_given=True)
    with pytest.raises(ValueError, match=r"config.schedule.plateau_metric: expected one of .*got 'test_error'"):
        validate(tiny_config(**{**plateau, "schedule.plateau_metric": "test_error"}), dataset_given=True)
    with pytest.raises(ValueError, match=r"config.test_at_end: .* expected config.validation_examples > 0"):
        validate(tiny_config(test_at_end=True), dataset_given=True)
