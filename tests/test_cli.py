"""`cnnjax train` argument handling: file or packaged recipe -> flags -> --config.* overrides, all validated."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cnnjax import cli

REPO = Path(__file__).resolve().parents[1]


def _train_args(argv):
    parser = argparse.ArgumentParser(allow_abbrev=False)
    cli.add_train_parser(parser.add_subparsers(dest="command"))
    return parser.parse_known_args(["train", *argv])


def _config(argv):
    return cli.build_train_config(*_train_args(argv))


def test_command_line_builds_the_config_file_then_flags_then_dotted_overrides():
    config = _config(
        [
            "--config",
            str(REPO / "experiments/configs/resnet20_fashion_mnist.py:runlocal"),
            "--epochs",
            "2",
            "--batch-size",
            "64",
            "--seed",
            "5",
            "--checkpoint-every",
            "10",
            "--limit-train",
            "640",
            "--data-dir",
            "/data",
            "--config.optimizer.lr=0.05",
            "--config.schedule.name",
            "constant",
            "--config.batch_size=32",
        ]
    )
    assert (config.model, config.num_epochs, config.seed, config.checkpoint_every_steps) == ("resnet20", 2, 5, 10)
    assert (config.limit_train, config.data_dir, config.optimizer.lr) == (640, "/data", 0.05)
    assert config.schedule.name == "constant" and config.batch_size == 32  # dotted overrides win


def test_overrides_are_parsed_for_the_type_of_the_field():
    config = _config(
        [
            "--config.optimizer.lr=1",
            "--config.num_epochs=3",
            "--config.augment.flip=true",
            "--config.optimizer.name=sgd",
            "--config.optimizer.weight_decay=0",
            "--config.schedule.name=step",
            "--config.schedule.decay_epochs=1,2",
            "--config.model_options.num_classes=10",
            "--config.limit_test=2000",
        ]
    )
    assert config.optimizer.lr == 1.0 and isinstance(config.optimizer.lr, float)
    assert config.num_epochs == 3 and config.augment.flip is True and config.optimizer.name == "sgd"
    assert list(config.schedule.decay_epochs) == [1, 2] and config.limit_test == 2000
    assert config.model_options.num_classes == 10


def test_model_options_are_parsed_by_the_type_the_model_declares():
    vgg = _config(["--model", "vgg11", "--config.model_options.batch_norm=false"])
    assert vgg.model_options.batch_norm is False
    alexnet = _config(["--model", "alexnet", "--config.model_options.lrn=no"])
    assert alexnet.model_options.lrn is False
    with pytest.raises((ValueError, TypeError), match="batch_norm"):
        _config(["--model", "vgg11", "--config.model_options.batch_norm=maybe"])


def test_without_config_the_models_packaged_recipe_runs():
    lenet = _config(["--model", "lenet5", "--dataset", "fashion_mnist", "--epochs", "1"])
    assert (lenet.optimizer.name, lenet.schedule.warmup_fraction, lenet.num_epochs) == ("adamw", 0.1, 1)
    steps = _config(["--steps", "60"])
    assert (steps.num_steps, steps.num_epochs) == (60, 0)
    autoencoder = _config(["--model", "autoencoder", "--loss", "l2"])
    assert (autoencoder.model, autoencoder.loss, autoencoder.label_smoothing) == ("autoencoder", "l2", 0.0)
    assert _config(["--model", "unet"]).pad_to == 32


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--epoch", "3"], ["unrecognized argument '--epoch'"]),
        (["--config.optimizer.lrr=1"], ["valid keys of config.optimizer", "'lr'"]),
        (["--config.optimizer.lr=fast"], ["config.optimizer.lr", "float", "'fast'"]),
        (["--config.augment.flip=maybe"], ["config.augment.flip", "'maybe'"]),
        (["--config.optimizer=adam"], ["config.optimizer", "'lr'"]),
        (["--limit-train", "0"], ["config.limit_train", "got 0"]),
        (["--limit-train", "-3"], ["config.limit_train", "got -3"]),
        (["--checkpoint-every", "-1"], ["config.checkpoint_every_steps", "got -1"]),
        (["--config.limit_test=-1"], ["config.limit_test", "got -1"]),
        (["--config.eval_every_epochs=-1"], ["config.eval_every_epochs", "got -1"]),
        (["--config.log_every_steps=0"], ["config.log_every_steps", "got 0"]),
        (["--config.eval_batch_size=0"], ["config.eval_batch_size", "got 0"]),
        (["--epochs", "2", "--steps", "5"], ["--epochs / --steps", "both"]),
        (["--loss", "l2"], ["config.loss", "classification", "'l2'"]),
        (["--model", "autoencoder", "--loss", "multiclass_hinge"], ["config.loss", "reconstruction", "['l2']"]),
        (
            ["--config", "experiments/configs/lenet5_fashion_mnist.py:runlcoal"],
            ["lenet5_fashion_mnist.py:runlcoal", "['runlocal']"],
        ),
    ],
)
def test_bad_command_lines_fail_before_anything_runs(argv, words, capsys, tmp_path):
    assert cli.main(["train", *argv, "--workdir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, (word, err)
    assert not (tmp_path / "run").exists()


def test_output_into_a_closed_pipe_ends_quietly_with_status_1():
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "cnnjax.cli", "summary", "lenet5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    process.stdout.close()  # as `cnnjax summary lenet5 | head -c 0` does, before anything is written
    stderr = process.stderr.read().decode()
    assert process.wait() == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
