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
