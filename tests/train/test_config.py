"""The schema, config files and recipes, typed settings, and the validation of every value (one error table)."""

from __future__ import annotations

import pytest

from cnnjax.train import config as configlib
from cnnjax.train import recipes
from cnnjax.train.config import loading

from .helpers import REPO

CONFIGS = sorted(p for p in (REPO / "experiments" / "configs").glob("*.py") if p.stem != "paper_sgd")
IMAGENET = sorted(
    p
    for p in (REPO / "experiments" / "imagenet").glob("*.py")
    if p.stem not in ("__init__", "imagenet_common", "throughput", "eval_memory", "loader_speed")
)
RECIPES = sorted(p for p in (REPO / "cnnjax" / "train" / "recipes").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_experiment_configs_load_and_document_their_command(path):
    config = configlib.validate(configlib.load_config(str(path)))
    tiny = configlib.validate(configlib.load_config(f"{path}:runlocal"))
    assert config.model and config.dataset
    assert tiny.limit_train == 8 * tiny.batch_size and tiny.num_epochs == 1 and tiny.num_steps == 0
    assert f"cnnjax train --config experiments/configs/{path.name}" in path.read_text()


@pytest.mark.parametrize("path", IMAGENET, ids=lambda p: p.stem)
def test_imagenet_configs_load_and_document_their_commands(path):
    """Each ImageNet config: every argument loads and validates, and its docstring gives the commands (one GPU and
    one 8-GPU host, a pod slice, runlocal)."""
    module_args = loading._import(path).ARGS
    for arg in (None, *module_args):
        config = configlib.validate(configlib.load_config(str(path) if arg is None else f"{path}:{arg}"))
        assert config.dataset == "imagenet2012"
        assert (config.limit_train == 8 * config.batch_size) == ("runlocal" in (arg or ""))
    text = path.read_text()
    for line in (
        f"cnnjax train --config experiments/imagenet/{path.name} --data-dir DIR --workdir runs/",
        "8-GPU host",
        "--coordinator-address auto",
        f"experiments/imagenet/{path.name}:",
    ):
        assert line in text, line


def test_a_config_file_imports_a_helper_next_to_it(tmp_path):
    (tmp_path / "my_helper_module_xyz.py").write_text("LR = 0.25\n")
    (tmp_path / "c.py").write_text(
        "from my_helper_module_xyz import LR\nfrom cnnjax.train.config import "
        "default_config\n\ndef get_config():\n    c = default_config()\n"
        "    c.optimizer.lr = LR\n    c.num_epochs = 1\n    return c\n"
    )
    import sys

    assert configlib.load_config(str(tmp_path / "c.py")).optimizer.lr == 0.25
    assert str(tmp_path) not in sys.path


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_packaged_recipes_load_validate_and_document_their_command(path):
    config = configlib.validate(configlib.load_config(str(path)))
    tiny = configlib.validate(configlib.load_config(f"{path}:runlocal"))
    assert tiny.num_epochs == 1 and tiny.limit_train == 8 * tiny.batch_size
    assert f"cnnjax train --model {config.model}" in path.read_text()
    assert recipes.recipe_file(config.model) == path


def test_the_schema_is_neutral_and_recipes_state_only_their_changes():
    schema = configlib.default_config()
    assert (schema.optimizer.name, schema.optimizer.weight_decay, schema.schedule.name) == ("sgd", 0.0, "constant")
    assert schema.label_smoothing == 0.0 and schema.regularization.l2 == 0.0 and schema.augment.crop_padding == 0
    assert not (schema.schedule.warmup_fraction or schema.schedule.warmup_epochs or schema.schedule.warmup_steps)
    lenet = recipes.recipe("lenet5")  # today's main job: AdamW, cosine, a tenth of the run warming up, smoothing
    assert (lenet.optimizer.name, lenet.optimizer.lr, lenet.optimizer.weight_decay) == ("adamw", 3e-3, 5e-4)
    assert (lenet.schedule.name, lenet.schedule.warmup_fraction, lenet.label_smoothing) == ("cosine", 0.1, 0.1)
    assert (lenet.num_epochs, lenet.batch_size, lenet.model, lenet.dataset) == (10, 128, "lenet5", "fashion_mnist")
    assert recipes.recipe("resnet20").model == "resnet20"  # classifiers without a recipe take LeNet-5's
    assert recipes.recipe("autoencoder").loss == "l2" and recipes.recipe("unet").pad_to == 32
    changed = {k for k, v in configlib.flatten(lenet).items() if configlib.flatten(schema)[k] != v}
    assert changed == {
        "num_epochs",
        "optimizer.name",
        "optimizer.lr",
        "optimizer.weight_decay",
        "schedule.name",
        "schedule.warmup_fraction",
        "label_smoothing",
    }


def test_paper_recipes():
    resnet = configlib.load_config(str(REPO / "experiments/configs/resnet20_cifar10.py"))
    assert (resnet.optimizer.name, resnet.optimizer.lr, resnet.optimizer.momentum) == ("momentum", 0.1, 0.9)
    assert (list(resnet.schedule.decay_steps), resnet.num_steps) == ([32_000, 48_000], 64_000)
    assert (resnet.regularization.l2, resnet.batch_size, resnet.label_smoothing) == (1e-4, 128, 0.0)
    alexnet = configlib.load_config(str(REPO / "experiments/imagenet/alexnet.py"))
    assert (alexnet.optimizer.lr, alexnet.regularization.l2, alexnet.schedule.name) == (0.01, 5e-4, "plateau")
    assert alexnet.optimizer.weight_decay == 0.0 and alexnet.schedule.warmup_epochs == 0.0


def test_settings_are_typed_by_configdict_with_errors_naming_the_key():
    config = configlib.default_config()
    configlib.set_value(config, "optimizer.lr", 1)  # an int where a float is expected is fine
    assert config.optimizer.lr == 1.0 and isinstance(config.optimizer.lr, float)
    configlib.set_value(config, "schedule.decay_epochs", (1, 2))
    configlib.set_value(config, "model_options.dropout", 0.5)  # free-form
    configlib.set_value(config, "limit_train", 640)
    assert list(config.schedule.decay_epochs) == [1, 2] and config.model_options.dropout == 0.5
    with pytest.raises(AttributeError):
        config.optimizer.lrr = 1.0  # the schema is locked


@pytest.mark.parametrize(
    "key, value, error, words",
    [
        ("optimizer.lrr", 0.1, ValueError, ["optimizer.lrr", "'lr'", "'momentum'"]),
        ("nosuch", 1, ValueError, ["nosuch", "'optimizer'", "'seed'"]),
        ("optimizer.lr", "fast", TypeError, ["config.optimizer.lr", "float", "'fast'"]),
        ("num_epochs", 2.5, TypeError, ["config.num_epochs", "int", "2.5"]),
        ("augment.flip", 1, TypeError, ["config.augment.flip", "bool", "1"]),
        ("seed", True, TypeError, ["config.seed", "int", "True"]),
        ("optimizer", "adam", ValueError, ["config.optimizer", "'lr'"]),
    ],
)
def test_bad_settings_name_the_key_and_the_valid_choices(key, value, error, words):
    with pytest.raises(error) as info:
        configlib.set_value(configlib.default_config(), key, value)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"limit_train": 0}, ["config.limit_train", "positive number of examples", "got 0"]),
        ({"limit_train": -5}, ["config.limit_train", "got -5"]),
        ({"limit_test": -1}, ["config.limit_test", "got -1"]),
        ({"checkpoint_every_steps": -1}, ["config.checkpoint_every_steps", ">= 0", "got -1"]),
        ({"eval_every_epochs": -2}, ["config.eval_every_epochs", ">= 0", "got -2"]),
        ({"log_every_steps": 0}, ["config.log_every_steps", "positive", "got 0"]),
        ({"eval_batch_size": 0}, ["config.eval_batch_size", "positive batch size", "got 0"]),
        ({"batch_size": -128}, ["config.batch_size", "got -128"]),
        ({"optimizer.lr": float("nan")}, ["config.optimizer.lr", "positive learning rate", "nan"]),
        ({"label_smoothing": 1.0}, ["config.label_smoothing", "[0, 1)", "1.0"]),
        ({"schedule.warmup_fraction": 1.5}, ["config.schedule.warmup_fraction", "[0, 1)", "1.5"]),
        ({"checkpoint_keep": 0}, ["config.checkpoint_keep", "got 0"]),
        ({"num_epochs": 0}, ["num_epochs / num_steps", "run's length", "0 / 0"]),
        ({"num_steps": 100}, ["num_epochs, num_steps", "num_epochs=10", "num_steps=100"]),
        ({"schedule.warmup_steps": 5}, ["warmup_fraction", "warmup_steps=5"]),
        ({"model": "lenet6"}, ["config.model", "'lenet5'", "'lenet6'"]),
        ({"dataset": "mnist2"}, ["config.dataset", "'fashion_mnist'", "'mnist2'"]),
        ({"parallel": "pmap"}, ["config.parallel", "'jit'", "'pmap'"]),
        ({"loss": "l2"}, ["config.loss", "classification", "'multiclass_hinge'", "'l2'"]),
        ({"loss": "hinge"}, ["config.loss", "'multiclass_hinge'", "'hinge'"]),
        ({"loss": "multiclass_hinge"}, ["config.label_smoothing", "'multiclass_hinge'", "0.1"]),
        (
            {"model": "autoencoder", "loss": "multiclass_hinge", "label_smoothing": 0.0},
            ["config.loss", "reconstruction", "['l2']", "'multiclass_hinge'"],
        ),
        ({"model_options.widht": 3}, ["options", "'lenet5'", "widht"]),
        ({"augment.inception_crop": True}, ["config.augment.inception_crop", "crop_size > 0"]),
        ({"augment.color_jitter": 1.0}, ["config.augment.color_jitter", "[0, 1)", "1.0"]),
        ({"augment.scale_max": 40}, ["config.augment.scale_min / scale_max", "crop_size > 0", "crop_size=0"]),
        (
            {"augment.crop_size": 24, "augment.scale_min": 20, "augment.scale_max": 40},
            ["scale_min / scale_max", "crop_size=24 <= scale_min <= scale_max", "20 / 40"],
        ),
        (
            {"augment.crop_size": 24, "augment.scale_min": 28, "augment.scale_max": 40, "augment.inception_crop": True},
            ["scale_min / scale_max", "inception_crop False", "inception_crop=True"],
        ),
        ({"eval_crops": "twelve"}, ["config.eval_crops", "'center_flip'", "'twelve'"]),
        ({"eval_crops": "ten"}, ["config.eval_crops", "crop_size > 0", "got 0"]),
        ({"augment.crop_size": 24, "eval_scales": [28, 20]}, ["config.eval_scales", "crop_size=24", "[28, 20]"]),
        ({"eval_scales": [28, 28]}, ["config.eval_scales", "distinct", "[28, 28]"]),
        ({"seed": -1}, ["config.seed", "[0, 2**31)", "wrap around", "-1"]),
        ({"seed": 2**32}, ["config.seed", "[0, 2**31)", "4294967296"]),
        ({"schedule.decay_epochs": [30, 60]}, ["config.schedule.decay_epochs", "'step' schedule", "'cosine'"]),
        (
            {"schedule.name": "step", "schedule.final_lr_fraction": 0.1},
            ["config.schedule.final_lr_fraction", "'cosine' / 'polynomial' schedules", "'step'"],
        ),
        (
            {"distributed.coordinator_address": "localhost:notaport"},
            ["config.distributed.coordinator_address", "'host:port'", "'localhost:notaport'"],
        ),
        ({"distributed.process_id": 1}, ["config.distributed.process_id", "num_processes=1", "got 1"]),
        ({"distributed.num_processes": 2}, ["config.distributed.coordinator_address", "num_processes=2"]),
        (
            {"model": "autoencoder", "label_smoothing": 0.0, "eval_crops": "center_flip"},
            ["config.eval_crops / eval_scales", "averaging 2 views", "reconstruction", "'center_flip'"],
        ),
        ({"optimizer.b1": 1.5}, ["config.optimizer.b1", "[0, 1)", "1.5"]),
        ({"optimizer.b2": -0.1}, ["config.optimizer.b2", "[0, 1)", "-0.1"]),
        ({"optimizer.eps": -1.0}, ["config.optimizer.eps", "positive epsilon", "-1.0"]),
        ({"optimizer.momentum": 1.0}, ["config.optimizer.momentum", "[0, 1)", "1.0"]),
        (
            {"optimizer.name": "rmsprop", "optimizer.weight_decay": 0.0, "optimizer.decay": 1.0},
            ["config.optimizer.decay", "[0, 1)", "1.0"],
        ),
        (
            {"optimizer.momentum": 0.5},
            ["config.optimizer.momentum", "'momentum' / 'nesterov' / 'rmsprop' optimizers", "'adamw'", "0.5"],
        ),
        ({"image_size": 64}, ["config.image_size", "['imagenet2012', 'imagenette']", "'fashion_mnist'", "got 64"]),
        (
            {"optimizer.name": "sgd", "optimizer.weight_decay": 0.0, "optimizer.b2": 0.5},
            ["config.optimizer.b2", "'adam' / 'adamw'", "'sgd'", "0.5"],
        ),
        (
            {"optimizer.name": "momentum", "optimizer.weight_decay": 0.0, "optimizer.decay": 0.5},
            ["config.optimizer.decay", "'rmsprop' optimizer reads it", "'momentum'"],
        ),
        ({"schedule.decay_factor": 0.5}, ["config.schedule.decay_factor", "'step' / 'plateau' schedules", "'cosine'"]),
        ({"schedule.plateau_rtol": -1.0}, ["config.schedule.plateau_rtol", ">= 0", "-1.0"]),
        (
            {"schedule.plateau_cooldown": 5},
            ["config.schedule.plateau_cooldown", "'plateau' schedule reads it", "'cosine'", "left at 0"],
        ),
        (
            {"schedule.name": "plateau", "schedule.final_lr_fraction": 0.0, "schedule.decay_factor": 2.0},
            ["config.schedule.decay_factor", "plateau", "(0, 1)", "2.0"],
        ),
        (
            {"schedule.name": "step", "schedule.final_lr_fraction": 0.0, "schedule.decay_steps": [1.7, 3]},
            ["config.schedule.decay_steps", "ints", "[1.7, 3]"],
        ),
        (
            {"schedule.name": "step", "schedule.final_lr_fraction": 0.0, "schedule.decay_epochs": ["a", "b"]},
            ["config.schedule.decay_epochs", "numbers", "['a', 'b']"],
        ),
        (
            {"schedule.name": "step", "schedule.final_lr_fraction": 0.0, "schedule.decay_epochs": [0, 5]},
            ["config.schedule.decay_epochs", "> 0", "[0, 5]"],
        ),
    ],
)
def test_every_bad_value_is_refused_by_validate(settings, words):
    config = recipes.recipe("lenet5")
    for key, value in settings.items():
        configlib.set_value(config, key, value)
    with pytest.raises(ValueError) as info:
        configlib.validate(config)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize(
    "model, key, value, error, pattern",
    [
        (
            "lenet5",
            "num_classes",
            "10",
            TypeError,
            r"config.model_options.num_classes: expected an int >= 1 \(an option of 'lenet5'\), got str '10'",
        ),
        (
            "vgg11",
            "batch_norm",
            "false",
            TypeError,
            r"config.model_options.batch_norm: expected a bool .* got str 'false'",
        ),
        ("resnet20", "bn_momentum", 1.5, ValueError, r"config.model_options.bn_momentum: expected a float in \[0, 1\]"),
    ],
)
def test_model_options_of_another_type_or_out_of_bounds_name_the_config_key(model, key, value, error, pattern):
    config = recipes.recipe("lenet5")
    configlib.set_value(config, "model", model)
    configlib.set_value(config, f"model_options.{key}", value)
    with pytest.raises(error, match=pattern):
        configlib.validate(config)


def test_validate_fills_defaults_and_rejects_unknown_keys():
    full = configlib.validate({"seed": 3, "num_epochs": 1, "optimizer": {"lr": 0.5}})
    assert full.seed == 3 and full.optimizer.lr == 0.5 and full.optimizer.name == "sgd"
    with pytest.raises(ValueError, match=r"'optimiser\.lr'.*valid keys of config: \[.*'optimizer'"):
        configlib.validate({"optimiser": {"lr": 0.5}})
    with pytest.raises(TypeError, match=r"config\.batch_size"):
        configlib.validate({"batch_size": "big"})


@pytest.mark.parametrize(
    "text, arg, words",
    [
        ("def get_config(arg=None):\n    return None\n", None, ["f.py", "returned NoneType", "ConfigDict"]),
        ("x = 1\n", None, ["f.py", "defines no get_config"]),
        ("def get_config(:\n", None, ["f.py:1", "syntax error"]),
        ("import os\nimport not_a_module_xyz\n", None, ["f.py:2", "ModuleNotFoundError", "not_a_module_xyz"]),
        ("def get_config(arg=None):\n    return 1 / 0\n", None, ["f.py:2", "ZeroDivisionError"]),
        (
            "ARGS = ('runlocal',)\ndef get_config(arg=None):\n    return {}\n",
            "runlcoal",
            ["f.py:runlcoal", "['runlocal']", "'runlcoal'"],
        ),
        ("def get_config():\n    return {}\n", "runlocal", ["f.py:runlocal", "[]", "ARGS"]),
        ("import sys\ndef get_config(arg=None):\n    sys.exit(3)\n", None, ["f.py:3", "SystemExit", "3"]),
        (
            "ARGS = ('small', 'big')\ndef get_config(arg):\n    return {}\n",
            None,
            ["f.py: get_config needs an argument", "['small', 'big']", "f.py:small"],
        ),
    ],
)
def test_bad_config_files_give_one_line_naming_the_file(tmp_path, text, arg, words):
    path = tmp_path / "f.py"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        configlib.load_config(str(path) + (f":{arg}" if arg else ""))
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    with pytest.raises(ValueError, match=r"missing\.py': no such file"):
        configlib.load_config(str(tmp_path / "missing.py"))
    with pytest.raises(ValueError, match="expected a Python file"):
        configlib.load_config(str(tmp_path / "config.txt"))
