"""Config validation: `fill` (a config onto the schema, typed by ConfigDict), `override` (command-line style
`--config.KEY=VALUE` settings, parsed by ml_collections' config_flags), and `validate` (every value's range and
choice, one unit per duration) — the checks of config values, in one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ml_collections

from cnnjax import backend
from cnnjax import data as datalib
from cnnjax import models as modellib
from cnnjax.models.outputs import output_spec
from cnnjax.train import optim, rng, tasks
from cnnjax.train.config.schema import INPUT_SCALINGS, MATMUL_PRECISIONS, PARALLEL, PRECISIONS, default_config


def fill(config: ml_collections.ConfigDict | Mapping[str, Any]) -> ml_collections.ConfigDict:
    """The schema with the settings of `config` (a ConfigDict or nested dict) applied: unknown keys and values of
    the wrong type are refused, keys `config` lacks keep the schema's value."""
    full = default_config()
    for key, value in flatten(config).items():
        set_value(full, key, value)
    return full


def key_holder(config: ml_collections.ConfigDict, key: str) -> tuple[ml_collections.ConfigDict, str]:
    """(the ConfigDict holding the dotted `key`, its last name). Raises ValueError for an unknown key (naming the
    valid ones) and for a group of settings; a new key is allowed only in a free-form group (model_options)."""
    *parents, leaf = key.split(".")
    node = config
    for depth, name in enumerate(parents):
        if not isinstance(node, ml_collections.ConfigDict) or name not in node:
            _unknown(key, node, parents[:depth])
        node = node[name]
    if not isinstance(node, ml_collections.ConfigDict) or (leaf not in node and node.is_locked):
        _unknown(key, node, parents)
    if isinstance(node.get(leaf), ml_collections.ConfigDict):
        raise ValueError(f"config.{key}: is a group of settings {sorted(node[leaf].keys())}; set one of them")
    return node, leaf


def set_value(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
    """config[key] = value for a dotted key, through ConfigDict's own checks, with errors that name the key."""
    node, leaf = key_holder(config, key)
    kind = node.get_type(leaf) if leaf in node else None
    if isinstance(value, bool) and kind in (int, float):  # ConfigDict would take True as 1
        raise TypeError(f"config.{key}: expected {_a(kind)} like {node[leaf]!r}, got {value!r}")
    try:
        node[leaf] = value
    except TypeError:
        raise TypeError(f"config.{key}: expected {_a(kind)} like {node[leaf]!r}, got {value!r}") from None


def _a(kind: type) -> str:
    return ("an " if kind.__name__[0] in "aeiou" else "a ") + kind.__name__


def _unknown(key: str, node: Any, path: list[str]) -> None:
    where = "config." + ".".join(path) if path else "config"
    valid = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
    raise ValueError(f"config: unknown key {key!r}; valid keys of {where}: {valid}")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'optimizer.lr': 0.003, ...}: the leaves of a (nested) config under dotted keys."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, (Mapping, ml_collections.ConfigDict)):
            flat.update(flatten(value, prefix + key + "."))
        else:
            flat[prefix + key] = list(value) if isinstance(value, tuple) else value  # JSON's and the hash's form
    return flat


def _at_least(minimum: float) -> Callable[[Any], bool]:
    return lambda v: v >= minimum


# (key, test, what is expected): the range of every numeric setting.
RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("limit_train", lambda v: v is None or v >= 1, "a positive number of examples, or None for all"),
    ("limit_test", lambda v: v is None or v >= 1, "a positive number of examples, or None for all"),
    (
        "validation_examples",
        _at_least(0),
        "0 (evaluate on the test split) or a number of training examples to hold out",
    ),
    ("num_epochs", _at_least(0), "a number of epochs >= 0"),
    ("num_steps", _at_least(0), "a number of steps >= 0"),
    ("batch_size", _at_least(1), "a positive batch size"),
    ("eval_batch_size", _at_least(1), "a positive batch size"),
    ("eval_views_per_pass", _at_least(0), "0 (all views at once) or a number of views"),
    ("accumulate_steps", _at_least(1), "a positive number of micro-batches per step (1: off)"),
    ("data_workers", _at_least(0), "0 (threads in this process) or a number of worker processes"),
    ("pad_to", _at_least(0), "0 (off) or a size in pixels"),
    ("image_size", _at_least(0), "0 (the dataset's own) or a size in pixels"),
    ("augment.crop_padding", _at_least(0), "0 (off) or a padding in pixels"),
    ("augment.crop_size", _at_least(0), "0 (off) or a size in pixels"),
    ("augment.pca_jitter", _at_least(0), "a standard deviation >= 0"),
    ("augment.scale_min", _at_least(0), "0 (off) or a shorter side in pixels"),
    ("augment.scale_max", _at_least(0), "0 (off) or a shorter side in pixels"),
    ("augment.color_jitter", lambda v: 0 <= v < 1, "a strength in [0, 1) (0 = off)"),
    ("optimizer.lr", lambda v: v > 0, "a positive learning rate"),
    ("optimizer.momentum", lambda v: 0 <= v < 1, "a momentum in [0, 1)"),
    ("optimizer.b1", lambda v: 0 <= v < 1, "a decay rate of the first moment in [0, 1)"),
    ("optimizer.b2", lambda v: 0 <= v < 1, "a decay rate of the second moment in [0, 1)"),
    ("optimizer.eps", lambda v: v > 0, "a positive epsilon (it keeps the update's denominator above 0)"),
    ("optimizer.decay", lambda v: 0 <= v < 1, "a decay rate of the squared-gradient average in [0, 1)"),
    ("optimizer.weight_decay", _at_least(0), "a weight decay >= 0"),
    ("schedule.warmup_fraction", lambda v: 0 <= v < 1, "a fraction of the run in [0, 1)"),
    ("schedule.warmup_epochs", _at_least(0), "a number of epochs >= 0"),
    ("schedule.warmup_steps", _at_least(0), "a number of steps >= 0"),
    ("schedule.decay_factor", lambda v: v > 0, "a positive factor"),
    ("schedule.final_lr_fraction", _at_least(0), "a fraction >= 0"),
    ("schedule.plateau_patience", _at_least(0), "a number of epochs or evaluations >= 0"),
    ("schedule.plateau_rtol", _at_least(0), "a relative tolerance >= 0"),
    ("schedule.plateau_cooldown", _at_least(0), "a number of epochs >= 0"),
    ("schedule.plateau_max_reductions", _at_least(0), "0 (no cap) or a number of reductions"),
    ("schedule.power", lambda v: v > 0, "a positive power"),
    ("regularization.l2", _at_least(0), "a weight >= 0"),
    ("regularization.l1", _at_least(0), "a weight >= 0"),
    ("regularization.max_norm", _at_least(0), "0 (off) or a positive norm"),
    ("regularization.filter_rms", _at_least(0), "0 (off) or a positive RMS"),
    ("grad_clip_norm", _at_least(0), "0 (off) or a positive norm"),
    ("ema_decay", lambda v: 0 <= v < 1, "0 (off) or a decay per step in (0, 1)"),
    ("label_smoothing", lambda v: 0 <= v < 1, "a value in [0, 1)"),
    ("log_every_steps", _at_least(1), "a positive number of steps"),
    ("eval_every_epochs", _at_least(0), "a number of epochs >= 0 (0: only at the end)"),
    ("checkpoint_every_steps", _at_least(0), "a number of steps >= 0 (0: every epoch)"),
    ("checkpoint_keep", _at_least(1), "a positive number of checkpoints"),
    ("stop_after_step", _at_least(0), "a step >= 0 (0: off)"),
    ("steps_per_call", _at_least(0), "a number of steps >= 0 (0: auto)"),
    ("distributed.num_processes", _at_least(1), "a positive number of processes"),
    (
        "seed",
        lambda v: 0 <= v < rng.SEED_LIMIT,
        "a seed in [0, 2**31) (`cnnjax.train.rng.check_seed`: a larger or "
        "negative one would wrap around onto another run's)",
    ),
)
# Durations given in several units: at most one of each group may be set.
ONE_OF = (
    ("num_epochs", "num_steps"),
    ("schedule.warmup_fraction", "schedule.warmup_epochs", "schedule.warmup_steps"),
    ("schedule.decay_epochs", "schedule.decay_steps"),
)


def validate(
    config: ml_collections.ConfigDict | Mapping[str, Any], *, model: object | None = None, dataset_given: bool = False
) -> ml_collections.ConfigDict:
    """The full config (`fill`), after checking every value: ranges, choices, one unit per duration. Needs no
    model and no data: run before anything else. (Whether the loss and the evaluation views fit the model's task
    is checked where the model is created, `trainer.create_model`.)

    Args:
      model: the Flax module that will be trained instead of `config.model` (its declared outputs are checked).
      dataset_given: a Dataset is passed in, so config.dataset is not looked up.
    """
    config = fill(config)
    flat = flatten(config)
    _check_ranges(flat)
    _check_durations(flat)
    choices = [
        ("optimizer.name", optim.OPTIMIZERS),
        ("schedule.name", optim.SCHEDULES),
        ("schedule.plateau_metric", optim.PLATEAU_METRICS),
        ("parallel", PARALLEL),
        ("precision", PRECISIONS),
        ("input_scaling", INPUT_SCALINGS),
        ("matmul_precision", MATMUL_PRECISIONS),
        ("numerics", ["", *backend.PROFILES]),
    ]
    if model is None:
        choices.append(("model", modellib.list_models()))
    if not dataset_given:
        choices.append(("dataset", datalib.list_datasets()))
    for key, valid in choices:
        if flat[key] not in valid:
            raise ValueError(f"config.{key}: expected one of {list(valid)}, got {flat[key]!r}")
    if config.image_size and not dataset_given and config.dataset not in datalib.resized_datasets():
        raise ValueError(
            f"config.image_size: only {list(datalib.resized_datasets())} are read at a chosen size; expected 0 for "
            f"{config.dataset!r}, got {config.image_size!r}"
        )
    if config.optimizer.weight_decay and config.optimizer.name != "adamw":
        raise ValueError(
            f"config.optimizer.weight_decay: decoupled weight decay is AdamW's; for {config.optimizer.name!r} set "
            f"config.regularization.l2 (an L2 penalty in the loss) instead, got weight_decay="
            f"{config.optimizer.weight_decay!r}"
        )
    if config.augment.inception_crop and not config.augment.crop_size:
        raise ValueError(
            "config.augment.inception_crop: expected config.augment.crop_size > 0 (the output size), got 0"
        )
    _check_scales_and_views(config)
    _check_read(flat)
    _check_decay_points(config.schedule)
    _check_plateau_watch(config)
    _check_test_at_end(config)
    _check_distributed(config.distributed)
    if config.init_from and not Path(init_from_path(config)).is_file():
        raise ValueError(
            f"config.init_from: expected a .npz file of parameters, got {init_from_path(config)!r}: no such file"
        )
    if model is not None:
        check_task(config, output_spec(model).task)
    else:  # the options and the task are the model class's: nothing is built here
        unknown = sorted(set(config.model_options) - set(modellib.options(config.model)))
        if unknown:
            raise ValueError(
                f"config.model_options: {config.model!r} accepts {modellib.options(config.model)}, got "
                f"unknown {unknown}"
            )
        for key, value in config.model_options.items():  # each of the type the model declares (a module: no params)
            try:
                modellib.create(config.model, **{key: value})
            except (TypeError, ValueError) as e:
                raise type(e)(f"config.model_options.{e}") from None
        check_task(config, modellib.task(config.model))
    return config


def init_from_path(config: ml_collections.ConfigDict) -> str:
    """config.init_from with '{seed}' replaced by config.seed."""
    return config.init_from.replace("{seed}", str(config.seed))


def check_task(config: ml_collections.ConfigDict, task: str) -> None:
    """The loss and the evaluation views fit the model's task."""
    tasks.check_loss(task, config.loss, config.label_smoothing)
    views = datalib.EVAL_CROPS[config.eval_crops] * max(1, len(config.eval_scales))
    if views > 1 and task != "classification":
        raise ValueError(
            f"config.eval_crops / eval_scales: averaging {views} views is the classification task's; "
            f"the model's task is {task}, expected eval_crops='center' and at most one scale, got "
            f"{config.eval_crops!r} and {list(config.eval_scales)}"
        )


def _check_scales_and_views(config: ml_collections.ConfigDict) -> None:
    """Scale augmentation and evaluation views: their settings fit each other and the crop size."""
    augment, crop = config.augment, config.augment.crop_size
    scales = (augment.scale_min, augment.scale_max)
    if any(scales):
        if not crop or augment.inception_crop:
            raise ValueError(
                f"config.augment.scale_min / scale_max: scale augmentation crops crop_size windows; "
                f"expected crop_size > 0 and inception_crop False, got crop_size={crop!r}, "
                f"inception_crop={augment.inception_crop!r}"
            )
        if not crop <= scales[0] <= scales[1]:
            raise ValueError(
                f"config.augment.scale_min / scale_max: expected crop_size={crop} <= scale_min <= "
                f"scale_max, got {scales[0]!r} / {scales[1]!r}"
            )
    if config.eval_crops not in datalib.EVAL_CROPS:
        raise ValueError(f"config.eval_crops: expected one of {list(datalib.EVAL_CROPS)}, got {config.eval_crops!r}")
    if config.eval_crops == "ten" and not crop:
        raise ValueError(
            "config.eval_crops: 'ten' crops crop_size windows; expected config.augment.crop_size > 0, got 0"
        )
    eval_scales = list(config.eval_scales)
    if any(isinstance(q, bool) or not isinstance(q, int) or q < max(crop, 1) for q in eval_scales):
        raise ValueError(
            f"config.eval_scales: expected shorter sides in pixels (ints >= crop_size={crop}), got {eval_scales!r}"
        )
    if len(set(eval_scales)) != len(eval_scales):
        raise ValueError(f"config.eval_scales: expected distinct scales, got {eval_scales!r}")


# Settings read by some optimisers or schedules only: set (away from the schema's value) for another, they would
# do nothing. (optimizer.weight_decay has its own message: the others' weight decay is regularization.l2.)
READ_ONLY_BY = {
    "optimizer.momentum": ("optimizer.name", ("momentum", "nesterov", "rmsprop")),
    "optimizer.b1": ("optimizer.name", ("adam", "adamw")),
    "optimizer.b2": ("optimizer.name", ("adam", "adamw")),
    "optimizer.eps": ("optimizer.name", ("adam", "adamw", "rmsprop")),
    "optimizer.decay": ("optimizer.name", ("rmsprop",)),
    "schedule.decay_epochs": ("schedule.name", ("step",)),
    "schedule.decay_steps": ("schedule.name", ("step",)),
    "schedule.decay_factor": ("schedule.name", ("step", "plateau")),
    "schedule.final_lr_fraction": ("schedule.name", ("cosine", "polynomial")),
    "schedule.power": ("schedule.name", ("polynomial",)),
    "schedule.plateau_max_reductions": ("schedule.name", ("plateau",)),
    "schedule.plateau_metric": ("schedule.name", ("plateau",)),
    "schedule.plateau_patience": ("schedule.name", ("plateau",)),
    "schedule.plateau_rtol": ("schedule.name", ("plateau",)),
    "schedule.plateau_cooldown": ("schedule.name", ("plateau",)),
}


def _check_read(flat: dict[str, Any]) -> None:
    """Refuses a setting changed from the schema's value that the chosen optimiser or schedule does not read."""
    schema = flatten(default_config())
    for key, (chooser, readers) in READ_ONLY_BY.items():
        if flat[key] != schema[key] and flat[chooser] not in readers:
            kind = chooser.split(".")[0]
            names = " / ".join(repr(r) for r in readers)
            raise ValueError(
                f"config.{key}: only the {names} {kind}{'s' * (len(readers) > 1)} read{'s' * (len(readers) == 1)} "
                f"it, and config.{chooser} is {flat[chooser]!r}; expected it left at {schema[key]!r}, got "
                f"{flat[key]!r} (or set --config.{chooser}={readers[0]})"
            )


def _check_decay_points(schedule: ml_collections.ConfigDict) -> None:
    """The step schedule's decay points: epochs (numbers) or steps (ints), each > 0, and the plateau schedule's
    factor below 1 (it reduces the rate)."""
    for key, test, expected in (
        ("decay_epochs", lambda v: isinstance(v, (int, float)) and math.isfinite(v), "epochs (numbers) > 0"),
        ("decay_steps", lambda v: isinstance(v, int), "steps (ints) > 0"),
    ):
        points = list(schedule[key])
        if any(isinstance(v, bool) or not test(v) or v <= 0 for v in points):
            raise ValueError(
                f"config.schedule.{key}: expected {expected}, e.g. --config.schedule.{key}=30,60, got {points!r}"
            )
    if schedule.name == "plateau" and not schedule.decay_factor < 1:
        raise ValueError(
            f"config.schedule.decay_factor: the plateau schedule multiplies the rate by it; expected a "
            f"factor in (0, 1), got {schedule.decay_factor!r}"
        )


def _check_test_at_end(config: ml_collections.ConfigDict) -> None:
    if config.test_at_end and not config.validation_examples:
        raise ValueError(
            "config.test_at_end: without a validation split the run evaluates the test split already; expected "
            "config.validation_examples > 0 or test_at_end False, got test_at_end True with validation_examples 0"
        )


def _check_plateau_watch(config: ml_collections.ConfigDict) -> None:
    """A plateau schedule that watches a validation metric needs a validation split and an evaluation per epoch."""
    watched = config.schedule.plateau_metric
    if config.schedule.name != "plateau" or not watched.startswith("validation_"):
        return
    if not config.validation_examples:
        raise ValueError(
            f"config.schedule.plateau_metric: {watched!r} is measured on examples held out of the training split; "
            "expected config.validation_examples > 0 (e.g. --config.validation_examples=10000), got 0"
        )
    if config.eval_every_epochs < 1:
        raise ValueError(
            f"config.eval_every_epochs: the plateau schedule watches {watched!r} after each evaluation; expected "
            f"an evaluation at least every epoch's end (eval_every_epochs >= 1), got {config.eval_every_epochs!r}"
        )


def _check_distributed(distributed: ml_collections.ConfigDict) -> None:
    """The address is '' (one process), 'auto' or 'host:port'; the process id is one of the processes."""
    address, count, index = distributed.coordinator_address, distributed.num_processes, distributed.process_id
    if address not in ("", "auto"):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"config.distributed.coordinator_address: expected 'host:port' of process 0 (a port in "
                f"1..65535) or 'auto', got {address!r}"
            )
    if address != "auto" and not 0 <= index < count:
        raise ValueError(
            f"config.distributed.process_id: expected 0 <= process_id < num_processes={count}, got {index}"
        )
    if not address and count > 1:
        raise ValueError(
            f"config.distributed.coordinator_address: expected 'host:port' of process 0 for "
            f"num_processes={count}, got ''"
        )


def _check_ranges(flat: dict[str, Any]) -> None:
    for key, test, expected in RULES:
        value = flat[key]
        number = value is None or (not isinstance(value, bool) and math.isfinite(value))
        if not (number and test(value)):
            raise ValueError(f"config.{key}: expected {expected}, got {value!r}")


def _check_durations(flat: dict[str, Any]) -> None:
    for keys in ONE_OF:
        given = [k for k in keys if flat[k]]
        if len(given) > 1:
            shown = ", ".join(f"{k}={flat[k]!r}" for k in given)
            raise ValueError(f"config: expected one of {', '.join(keys)} (the others 0), got {shown}")
    if not (flat["num_epochs"] or flat["num_steps"]):
        raise ValueError("config.num_epochs / num_steps: expected the run's length in one of them, got 0 / 0")
