"""The config schema, config files, and the validation of every config value (in `validate`, and only there).

A config is an `ml_collections.ConfigDict`. `default_config()` is the schema: every key the trainer reads, at
values that change nothing (plain SGD at a constant rate, no weight decay, no label smoothing, no warm-up, no
augmentation) and no run length. Recipes are config files that start from it and state only what they change:
the packaged ones (`cnnjax.train.recipes`, what `cnnjax train --model NAME` uses) and the experiments'
(`experiments/configs/*.py`, big_vision style). A config file defines `get_config(arg=None)` and, if it takes an
argument, the tuple `ARGS` of those it knows; `load_config('f.py:arg')` passes 'arg' to it (e.g. 'runlocal'). A config
file may import a helper module from its own folder.

Durations: each is given in one unit, the other left at 0: num_epochs | num_steps, schedule.warmup_fraction
(of the run) | warmup_epochs | warmup_steps, schedule.decay_epochs | decay_steps; `plan.resolve` turns them into
steps.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ml_collections
from ml_collections import config_dict

from cnnjax import data as datalib
from cnnjax import models as modellib
from cnnjax.models.outputs import output_spec
from cnnjax.train import optim, tasks

FREE_FORM_KEYS = frozenset({"model_options"})  # sub-dicts whose keys are free (keyword options of the model)
PARALLEL = ("jit", "pmap")


def default_config() -> ml_collections.ConfigDict:
    """The schema: every key the trainer reads, at neutral values (see the module docstring). Locked: assigning
    an unknown key fails; values are type-checked by ConfigDict."""
    c = ml_collections.ConfigDict()
    c.model = "lenet5"
    c.model_options = ml_collections.ConfigDict()  # keyword options of cnnjax.models.create
    c.loss = ""  # a loss of cnnjax.train.tasks.LOSSES that fits the model's task; '' = the task's default
    c.dataset = "fashion_mnist"
    c.data_dir = ""  # '' = the data library's default
    c.idx_dir = ""  # a folder of IDX files (MNIST format) to read instead of tfds
    c.limit_train = config_dict.placeholder(int)  # use only the first N training examples (None = all)
    c.limit_test = config_dict.placeholder(int)  # use only the first N evaluation examples (None = all)
    # > 0: hold out the LAST N training examples, train on the others (then limit_train) and evaluate on the held-out
    # ones instead of the test split, reporting validation_* metrics; for choosing settings without the test set.
    c.validation_examples = 0

    c.seed = 0
    c.num_epochs = 0  # the run's length: num_epochs or num_steps (one of them > 0)
    c.num_steps = 0
    c.batch_size = 128  # global batch, over all devices and processes
    c.eval_batch_size = 1000

    c.pad_to = 0  # > 0: zero-pad images (centred) to pad_to x pad_to, before augmentation and in evaluation
    c.augment = ml_collections.ConfigDict()
    c.augment.crop_padding = 0  # random_crop with this zero padding (0 = off)
    c.augment.flip = False  # random horizontal flips
    c.augment.crop_size = 0  # > 0: alexnet_crop of this size in training, center_crop in evaluation
    c.augment.inception_crop = False  # inception-style random-size crops to crop_size in training
    c.augment.pca_jitter = 0.0  # std of AlexNet's PCA colour noise (0 = off)
    c.augment.scale_min = 0  # > 0: scale augmentation (VGG, ResNet): shorter side to S ~ U[scale_min, scale_max],
    c.augment.scale_max = 0  # then a random crop_size crop (the stored images stand for shorter side min(H, W))
    c.augment.color_jitter = 0.0  # photometric distortions (GoogLeNet): brightness/contrast/saturation x U[1 +- s]
    c.eval_crops = "center"  # evaluation views per scale: center | center_flip | ten (softmax averaged)
    c.eval_scales = []  # shorter sides Q to evaluate at (VGG: [256, 384, 512]); [] = the stored images' scale

    c.optimizer = _optimizer_schema()
    c.schedule = _schedule_schema()

    c.regularization = ml_collections.ConfigDict()
    c.regularization.l2 = 0.0  # l2 * 1/2 ||W||^2 in the loss (the papers' "weight decay" with SGD)
    c.regularization.l1 = 0.0  # l1 * ||W||_1 in the loss
    c.regularization.max_norm = 0.0  # > 0: project each unit's incoming weights onto ||w|| <= max_norm
    c.grad_clip_norm = 0.0  # > 0: clip the global gradient norm
    c.label_smoothing = 0.0  # for the cross-entropy losses

    c.log_every_steps = 100
    c.eval_every_epochs = 1  # 0: evaluate only at the end
    c.checkpoint_every_steps = 0  # 0: at the end of every epoch; always at the end of training
    c.checkpoint_keep = 3
    c.skip_nonfinite = False  # True: skip (and count) steps whose loss or gradients are not finite
    c.parallel = "jit"  # jit (a Mesh over all devices, batch sharded on 'data') | pmap
    c.tensorboard = False  # also write TensorBoard events (needs the 'tensorboard' extra: tensorboardX)
    c.stop_after_step = 0  # > 0: save a checkpoint and return after this step (a deterministic preemption)
    c.steps_per_call = 0  # training steps unrolled into one compiled call; 0: auto (plan.auto_steps_per_call)

    c.distributed = ml_collections.ConfigDict()
    c.distributed.coordinator_address = ""  # 'host:port' of process 0: run jax.distributed.initialize
    c.distributed.num_processes = 1
    c.distributed.process_id = 0
    c.lock()
    for key in FREE_FORM_KEYS:
        c[key].unlock()
    return c


def _optimizer_schema() -> ml_collections.ConfigDict:
    o = ml_collections.ConfigDict()
    o.name = "sgd"  # sgd | momentum | nesterov | adam | adamw | rmsprop
    o.lr = 0.01  # peak learning rate
    o.momentum = 0.9  # momentum, nesterov, rmsprop
    o.b1 = 0.9  # adam, adamw
    o.b2 = 0.999  # adam, adamw
    o.eps = 1e-8  # adam, adamw, rmsprop
    o.decay = 0.9  # rmsprop's squared-gradient average
    o.weight_decay = 0.0  # adamw's decoupled weight decay (kernels only)
    return o


def _schedule_schema() -> ml_collections.ConfigDict:
    s = ml_collections.ConfigDict()
    s.name = "constant"  # constant | step | cosine | plateau
    s.warmup_fraction = 0.0  # linear warm-up from 0 over this fraction of the run ...
    s.warmup_epochs = 0.0  # ... or epochs ...
    s.warmup_steps = 0  # ... or steps; composable with every schedule
    s.decay_epochs = []  # step: multiply the lr by decay_factor at these epochs ...
    s.decay_steps = []  # ... or at these steps
    s.decay_factor = 0.1
    s.final_lr_fraction = 0.0  # cosine: lr at the end / peak lr
    s.plateau_patience = 5  # plateau: epochs without improvement of the epoch's mean training loss
    s.plateau_rtol = 1e-4
    s.plateau_cooldown = 0
    return s


def runlocal(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrinks a config to a run of a few seconds (the 'runlocal' argument of the config files)."""
    config.num_epochs = 1
    config.num_steps = 0
    config.limit_train = 8 * config.batch_size
    config.limit_test = 2 * config.eval_batch_size
    config.log_every_steps = 2
    config.schedule.warmup_epochs = min(config.schedule.warmup_epochs, 0.5)
    config.schedule.warmup_steps = min(config.schedule.warmup_steps, 4)
    config.schedule.decay_epochs = []
    config.schedule.decay_steps = []
    return config


# ------------------------------------------------------------------------------------------------ config files
def load_config(spec: str) -> ml_collections.ConfigDict:
    """Loads 'path/to/file.py' or 'path/to/file.py:arg' by calling the file's `get_config()` / `get_config(arg)`.

    Raises ValueError naming the file (and line) for a missing file, a syntax error or an exception while
    importing it or in get_config, an argument not in the file's `ARGS`, or a result that is not a config.
    """
    path, arg = spec, None
    if ":" in spec and not spec.endswith(".py"):
        path, arg = spec.rsplit(":", 1)
    file = Path(path)
    if file.suffix != ".py" or not file.is_file():
        raise ValueError(f"config: expected a Python file (optionally 'file.py:arg'), got {spec!r}")
    module = _run_file(file, lambda: _import(file))
    if not hasattr(module, "get_config"):
        raise ValueError(f"config: {file} defines no get_config()")
    if arg is not None:
        valid = tuple(getattr(module, "ARGS", ()))
        if arg not in valid:
            raise ValueError(f"config: {file}:{arg}: expected an argument of {list(valid)} (the file's ARGS), "
                             f"got {arg!r}")
    result = _run_file(file, lambda: module.get_config() if arg is None else module.get_config(arg))
    if not isinstance(result, (ml_collections.ConfigDict, Mapping)):
        raise ValueError(f"config: {file}: get_config() returned {type(result).__name__}, expected an "
                         "ml_collections.ConfigDict")
    return fill(result)


def _import(file: Path):
    """The config file as a module; while it is imported, its folder is on sys.path, so that a family of config
    files can share a helper module next to them (e.g. experiments/imagenet/imagenet_common.py)."""
    module_spec = importlib.util.spec_from_file_location(f"cnnjax_config_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def _run_file(file: Path, call: Callable[[], Any]) -> Any:
    """call(), with any error from the config file turned into one ValueError naming the file and line."""
    try:
        return call()
    except SyntaxError as e:
        raise ValueError(f"config: {file}:{e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 (any error of user code: reported in one line)
        lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == file.absolute()]
        where = f"{file}:{lines[-1]}" if lines else str(file)
        raise ValueError(f"config: {where}: {type(e).__name__}: {e}") from None


# ------------------------------------------------------------------------------------------------ validation
def fill(config: ml_collections.ConfigDict | Mapping[str, Any]) -> ml_collections.ConfigDict:
    """The schema with the settings of `config` (a ConfigDict or nested dict) applied: unknown keys and values of
    the wrong type are refused, keys `config` lacks keep the schema's value."""
    full = default_config()
    for key, value in flatten(config).items():
        set_value(full, key, value)
    return full


def set_value(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
    """config[key] = value for a dotted key, through ConfigDict's own checks, with errors that name the key."""
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
            flat[prefix + key] = list(value) if isinstance(value, tuple) else value
    return flat


def _at_least(minimum: float) -> Callable[[Any], bool]:
    return lambda v: v >= minimum


# (key, test, what is expected): the range of every numeric setting.
RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("limit_train", lambda v: v is None or v >= 1, "a positive number of examples, or None for all"),
    ("limit_test", lambda v: v is None or v >= 1, "a positive number of examples, or None for all"),
    ("validation_examples", _at_least(0), "0 (evaluate on the test split) or a number of training examples to hold "
     "out"),
    ("num_epochs", _at_least(0), "a number of epochs >= 0"),
    ("num_steps", _at_least(0), "a number of steps >= 0"),
    ("batch_size", _at_least(1), "a positive batch size"),
    ("eval_batch_size", _at_least(1), "a positive batch size"),
    ("pad_to", _at_least(0), "0 (off) or a size in pixels"),
    ("augment.crop_padding", _at_least(0), "0 (off) or a padding in pixels"),
    ("augment.crop_size", _at_least(0), "0 (off) or a size in pixels"),
    ("augment.pca_jitter", _at_least(0), "a standard deviation >= 0"),
    ("augment.scale_min", _at_least(0), "0 (off) or a shorter side in pixels"),
    ("augment.scale_max", _at_least(0), "0 (off) or a shorter side in pixels"),
    ("augment.color_jitter", lambda v: 0 <= v < 1, "a strength in [0, 1) (0 = off)"),
    ("optimizer.lr", lambda v: v > 0, "a positive learning rate"),
    ("optimizer.weight_decay", _at_least(0), "a weight decay >= 0"),
    ("schedule.warmup_fraction", lambda v: 0 <= v < 1, "a fraction of the run in [0, 1)"),
    ("schedule.warmup_epochs", _at_least(0), "a number of epochs >= 0"),
    ("schedule.warmup_steps", _at_least(0), "a number of steps >= 0"),
    ("schedule.decay_factor", lambda v: v > 0, "a positive factor"),
    ("schedule.final_lr_fraction", _at_least(0), "a fraction >= 0"),
    ("schedule.plateau_patience", _at_least(0), "a number of epochs >= 0"),
    ("regularization.l2", _at_least(0), "a weight >= 0"),
    ("regularization.l1", _at_least(0), "a weight >= 0"),
    ("regularization.max_norm", _at_least(0), "0 (off) or a positive norm"),
    ("grad_clip_norm", _at_least(0), "0 (off) or a positive norm"),
    ("label_smoothing", lambda v: 0 <= v < 1, "a value in [0, 1)"),
    ("log_every_steps", _at_least(1), "a positive number of steps"),
    ("eval_every_epochs", _at_least(0), "a number of epochs >= 0 (0: only at the end)"),
    ("checkpoint_every_steps", _at_least(0), "a number of steps >= 0 (0: every epoch)"),
    ("checkpoint_keep", _at_least(1), "a positive number of checkpoints"),
    ("stop_after_step", _at_least(0), "a step >= 0 (0: off)"),
    ("steps_per_call", _at_least(0), "a number of steps >= 0 (0: auto)"),
    ("distributed.num_processes", _at_least(1), "a positive number of processes"),
)
# Durations given in several units: at most one of each group may be set.
ONE_OF = (
    ("num_epochs", "num_steps"),
    ("schedule.warmup_fraction", "schedule.warmup_epochs", "schedule.warmup_steps"),
    ("schedule.decay_epochs", "schedule.decay_steps"),
)


def validate(config: ml_collections.ConfigDict | Mapping[str, Any], *, model: object | None = None,
             dataset_given: bool = False) -> ml_collections.ConfigDict:
    """The full config (`fill`), after checking every value: ranges, choices, one unit per duration, and that the
    loss fits the model's task. Run before anything else (no workdir, no data).

    Args:
      model: the Flax module that will be trained instead of `config.model` (its declared outputs are checked).
      dataset_given: a Dataset is passed in, so config.dataset is not looked up.
    """
    config = fill(config)
    flat = flatten(config)
    _check_ranges(flat)
    _check_durations(flat)
    choices = [("optimizer.name", optim.OPTIMIZERS), ("schedule.name", optim.SCHEDULES), ("parallel", PARALLEL)]
    if model is None:
        choices.append(("model", modellib.list_models()))
    if not dataset_given:
        choices.append(("dataset", datalib.list_datasets()))
    for key, valid in choices:
        if flat[key] not in valid:
            raise ValueError(f"config.{key}: expected one of {list(valid)}, got {flat[key]!r}")
    if config.optimizer.weight_decay and config.optimizer.name != "adamw":
        raise ValueError(
            f"config.optimizer.weight_decay: decoupled weight decay is AdamW's; for {config.optimizer.name!r} set "
            f"config.regularization.l2 (an L2 penalty in the loss) instead, got weight_decay="
            f"{config.optimizer.weight_decay!r}"
        )
    if config.augment.inception_crop and not config.augment.crop_size:
        raise ValueError("config.augment.inception_crop: expected config.augment.crop_size > 0 (the output size), "
                         "got 0")
    _check_scales_and_views(config)
    spec = output_spec(model if model is not None else modellib.create(config.model, **config.model_options))
    tasks.check_loss(spec.task, config.loss, config.label_smoothing)
    views = datalib.EVAL_CROPS[config.eval_crops] * max(1, len(config.eval_scales))
    if views > 1 and spec.task != "classification":
        raise ValueError(f"config.eval_crops / eval_scales: averaging {views} views is the classification task's; "
                         f"the model's task is {spec.task}, expected eval_crops='center' and at most one scale, got "
                         f"{config.eval_crops!r} and {list(config.eval_scales)}")
    return config


def _check_scales_and_views(config: ml_collections.ConfigDict) -> None:
    """Scale augmentation and evaluation views: their settings fit each other and the crop size."""
    augment, crop = config.augment, config.augment.crop_size
    scales = (augment.scale_min, augment.scale_max)
    if any(scales):
        if not crop or augment.inception_crop:
            raise ValueError(f"config.augment.scale_min / scale_max: scale augmentation crops crop_size windows; "
                             f"expected crop_size > 0 and inception_crop False, got crop_size={crop!r}, "
                             f"inception_crop={augment.inception_crop!r}")
        if not crop <= scales[0] <= scales[1]:
            raise ValueError(f"config.augment.scale_min / scale_max: expected crop_size={crop} <= scale_min <= "
                             f"scale_max, got {scales[0]!r} / {scales[1]!r}")
    if config.eval_crops not in datalib.EVAL_CROPS:
        raise ValueError(f"config.eval_crops: expected one of {list(datalib.EVAL_CROPS)}, got {config.eval_crops!r}")
    if config.eval_crops == "ten" and not crop:
        raise ValueError("config.eval_crops: 'ten' crops crop_size windows; expected config.augment.crop_size > 0, "
                         "got 0")
    eval_scales = list(config.eval_scales)
    if any(isinstance(q, bool) or not isinstance(q, int) or q < max(crop, 1) for q in eval_scales):
        raise ValueError(f"config.eval_scales: expected shorter sides in pixels (ints >= crop_size={crop}), got "
                         f"{eval_scales!r}")
    if len(set(eval_scales)) != len(eval_scales):
        raise ValueError(f"config.eval_scales: expected distinct scales, got {eval_scales!r}")


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
