"""Config files, dotted overrides with type checks, the config hash, and the `cnnjax train` argument handling."""

from __future__ import annotations

import argparse

import pytest

from cnnjax import cli
from cnnjax.train import config as configlib

from .helpers import REPO

CONFIGS = sorted((REPO / "experiments" / "configs").glob("*.py"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_experiment_configs_load_and_document_their_command(path):
    config = configlib.load_config(str(path))
    tiny = configlib.load_config(f"{path}:runlocal")
    assert config.model and config.dataset
    assert tiny.limit_train == 8 * tiny.batch_size and tiny.num_epochs == 1 and tiny.num_steps == 0
    assert f"cnnjax train --config experiments/configs/{path.name}" in path.read_text()


def test_paper_recipes():
    resnet = configlib.load_config(str(REPO / "experiments/configs/resnet20_cifar10.py"))
    assert (resnet.optimizer.name, resnet.optimizer.lr, resnet.optimizer.momentum) == ("momentum", 0.1, 0.9)
    assert (list(resnet.schedule.decay_steps), resnet.num_steps) == ([32_000, 48_000], 64_000)
    assert (resnet.regularization.l2, resnet.batch_size) == (1e-4, 128)
    alexnet = configlib.load_config(str(REPO / "experiments/configs/alexnet_imagenet.py"))
    assert (alexnet.optimizer.lr, alexnet.regularization.l2, alexnet.schedule.name) == (0.01, 5e-4, "plateau")


def test_overrides_are_typed_against_the_existing_field():
    config = configlib.default_config()
    configlib.apply_overrides(config, [
        ("optimizer.lr", "0.05"), ("num_epochs", "3"), ("augment.flip", "true"), ("optimizer.name", "sgd"),
        ("schedule.decay_epochs", "[1, 2]"), ("model_options.dropout", "0.5"),
    ])
    assert config.optimizer.lr == 0.05 and isinstance(config.optimizer.lr, float)
    assert config.num_epochs == 3 and config.augment.flip is True and config.optimizer.name == "sgd"
    assert list(config.schedule.decay_epochs) == [1, 2] and config.model_options.dropout == 0.5
    configlib.apply_overrides(config, [("optimizer.lr", "1")])  # an int where a float is expected is fine
    assert config.optimizer.lr == 1.0 and isinstance(config.optimizer.lr, float)


@pytest.mark.parametrize("key, text, error, words", [
    ("optimizer.lrr", "0.1", ValueError, ["optimizer.lrr", "'lr'", "'momentum'"]),
    ("nosuch", "1", ValueError, ["nosuch", "'optimizer'", "'seed'"]),
    ("optimizer.lr", "fast", TypeError, ["config.optimizer.lr", "float", "'fast'"]),
    ("num_epochs", "2.5", TypeError, ["config.num_epochs", "int", "2.5"]),
    ("augment.flip", "maybe", TypeError, ["config.augment.flip", "'maybe'"]),
    ("optimizer", "adam", ValueError, ["config.optimizer", "'lr'"]),
])
def test_bad_overrides_name_the_key_and_the_valid_choices(key, text, error, words):
    with pytest.raises(error) as info:
        configlib.apply_overrides(configlib.default_config(), [(key, text)])
    for word in words:
        assert word in str(info.value)


def test_validate_fills_defaults_and_rejects_unknown_keys():
    full = configlib.validate({"seed": 3, "optimizer": {"lr": 0.5}})
    assert full.seed == 3 and full.optimizer.lr == 0.5 and full.optimizer.name == "adamw"
    with pytest.raises(ValueError, match="'optimiser'.*valid keys here"):
        configlib.validate({"optimiser": {"lr": 0.5}})
    with pytest.raises(TypeError, match="config.batch_size"):
        configlib.validate({"batch_size": "big"})


def test_config_hash_ignores_run_only_keys_and_changes_with_the_recipe():
    base = configlib.default_config()
    same = configlib.default_config()
    same.log_every_steps, same.checkpoint_every_steps, same.stop_after_step, same.data_dir = 7, 9, 3, "/x"
    other = configlib.default_config()
    other.optimizer.lr = 0.1
    assert configlib.config_hash(base) == configlib.config_hash(same)
    assert configlib.config_hash(base) != configlib.config_hash(other)
    changed = configlib.differences(configlib.hashed_settings(base), configlib.hashed_settings(other))
    assert changed == ["optimizer.lr: 0.003 -> 0.1"]


def test_load_config_errors(tmp_path):
    with pytest.raises(ValueError, match="expected a Python file"):
        configlib.load_config(str(tmp_path / "missing.py"))
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ValueError, match="defines no get_config"):
        configlib.load_config(str(empty))


def _train_args(argv):
    parser = argparse.ArgumentParser(allow_abbrev=False)
    cli.add_train_parser(parser.add_subparsers(dest="command"))
    return parser.parse_known_args(["train", *argv])


def test_command_line_builds_the_config_file_then_flags_then_dotted_overrides():
    args, extra = _train_args([
        "--config", str(REPO / "experiments/configs/resnet20_fashion_mnist.py:runlocal"), "--epochs", "2",
        "--batch-size", "64", "--seed", "5", "--checkpoint-every", "10", "--limit-train", "640",
        "--data-dir", "/data", "--config.optimizer.lr=0.05", "--config.schedule.name", "constant",
        "--config.batch_size=32",
    ])
    config = cli.build_train_config(args, extra)
    assert (config.model, config.num_epochs, config.seed, config.checkpoint_every_steps) == ("resnet20", 2, 5, 10)
    assert (config.limit_train, config.data_dir, config.optimizer.lr) == (640, "/data", 0.05)
    assert config.schedule.name == "constant" and config.batch_size == 32  # dotted overrides win


def test_command_line_rejects_stray_arguments(capsys):
    assert cli.main(["train", "--epoch", "3"]) == 2
    assert "unrecognized argument '--epoch'" in capsys.readouterr().err
    assert cli.main(["train", "--config.optimizer.lrr=1"]) == 2
    assert "valid keys of config.optimizer" in capsys.readouterr().err
