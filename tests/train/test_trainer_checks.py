"""What the trainer refuses before training on it: model options the data do not fit, a resumption on data
files other than those the run started with; and a damaged config.json read back by restore_run."""

from __future__ import annotations

import re

import pytest

from cnnjax import data
from cnnjax.train import build, restore_run, train_and_evaluate, validate

from .helpers import tiny_arrays, tiny_config, write_fake_fashion_mnist


def _ten_class_dataset() -> data.Dataset:
    images, labels = tiny_arrays(64, size=28, classes=10)
    return data.from_arrays(images, labels, test_images=images[:16], test_labels=labels[:16], num_classes=10)


def test_a_model_with_other_classes_than_the_data_is_refused():
    config = validate(tiny_config(**{"model_options.num_classes": 7}), dataset_given=True)
    with pytest.raises(
        ValueError,
        match=r"config.model_options.num_classes: the arrays data need 10 "
        r"\(classification\), got 7; leave it unset",
    ):
        build(config, _ten_class_dataset())
    config = validate(tiny_config(**{"model_options.num_classes": 10}), dataset_given=True)
    assert build(config, _ten_class_dataset()).model.num_classes == 10  # stating the right number is fine


@pytest.mark.parametrize(
    "settings, words",
    [
        (
            {"model": "lenet5_classic", "model_options.pad_input": 0},
            [
                "config.pad_to: lenet5_classic refuses the run's 28x28x1 inputs",
                "pad_to=0",
                "the smallest square input that works is 32x32x1",
                "--config.pad_to=N",
            ],
        ),
        ({"model": "unet"}, ["config.pad_to: unet refuses", "divisible by 16", "got (28, 28)"]),
        ({"augment.crop_padding": 28}, ["config.augment.crop_padding", "below the images' side 28", "got 28"]),
        (
            {"steps_per_call": 100},
            ["config.steps_per_call: expected at most 2", "2 steps per epoch", "got 100", "never run"],
        ),
    ],
)
def test_settings_the_run_cannot_use_are_refused_by_build(settings, words):
    config = validate(tiny_config(**settings), dataset_given=True)
    with pytest.raises(ValueError) as info:
        build(config, _ten_class_dataset())
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.slow
def test_resuming_on_other_data_files_is_refused(tmp_path, monkeypatch):
    folder = write_fake_fashion_mnist(tmp_path / "idx", n_train=64, n_test=16)
    config = tiny_config(data_dir=str(folder), num_epochs=2, stop_after_step=2)
    assert train_and_evaluate(config, tmp_path / "run")["stopped"]
    images, _ = tiny_arrays(64, size=28, classes=10, seed=7)  # other images under the same file names
    data.write_idx(folder / "train-images-idx3-ubyte", images[..., 0])
    with pytest.raises(
        ValueError,
        match=r"data: the fashion_mnist files loaded are not the run's: "
        r"train-images-idx3-ubyte: .*manifest.json records sha256",
    ):
        train_and_evaluate(config.copy_and_resolve_references(), tmp_path / "run")


@pytest.mark.parametrize(
    "text, words",
    [
        ("{", ["config.json: not valid JSON"]),
        ("[1]", ["config.json: expected a JSON object", "got list"]),
        ('{"optimizer": {"lr": "fast"}}', ["config.json: not a valid config", "config.optimizer.lr"]),
    ],
)
def test_restore_run_names_a_damaged_config_json(tmp_path, text, words):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ValueError) as info:
        restore_run(tmp_path)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.slow
def test_restore_run_refuses_a_config_json_its_checkpoint_was_not_written_with_and_an_unsaved_step(tmp_path):
    train_and_evaluate(tiny_config(), tmp_path, dataset=_ten_class_dataset())
    steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    step = steps[-1]
    for wrong in (step + 1, -1, str(step), True):
        with pytest.raises(
            ValueError,
            match=rf"step: expected the step of a saved checkpoint, one of "
            rf"{re.escape(str(steps))} .*got {wrong!r}",
        ):
            restore_run(tmp_path, step=wrong)
    path = tmp_path / "config.json"
    path.write_text(path.read_text().replace('"model": "lenet5"', '"model": "resnet20"'))
    with pytest.raises(
        ValueError,
        match=rf"config.json: expected the config its checkpoint of step {step} was "
        r"written with, got other settings .*\[\"model: 'lenet5' -> 'resnet20'\"\]; "
        r"put the run's config.json back",
    ):
        restore_run(tmp_path)
