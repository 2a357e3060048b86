"""The CNN rows: a cnnjax training config, trained by `cnnjax.train.train_and_evaluate` (which resumes from the
workdir's checkpoints), scored by its returned `test_accuracy`; `validation_run` trains the same recipe with the
config file's 'validation' argument (the last 10,000 training images held out and evaluated on, the test split
unused), the CNN rows' `tune`.

A workdir can hold a run trained in one environment and resumed, or re-evaluated, in another: both return
`environment_changes(workdir)`, which the runner records with the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ml_collections

from cnnjax import models, summary
from cnnjax.train import load_config, resume, train_and_evaluate
from experiments.progression.paths import in_repo


def cnn_config(
    config_file: str, seed: int, runlocal: bool = False, validation: bool = False
) -> ml_collections.ConfigDict:
    """The row's training config with its seed (the one place a row's config is loaded); `config_file` is a path
    from the repository root (as the rows name theirs) or an absolute one; `validation` selects the file's
    'validation' argument (see `validation_run`)."""
    arg = "_".join(name for name, on in (("validation", validation), ("runlocal", runlocal)) if on)
    path = in_repo(config_file)
    config = load_config(f"{path}:{arg}" if arg else str(path))
    config.seed = seed
    return config


def input_shape(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
    """What the config's model sees: a 28x28x1 Fashion-MNIST image, zero-padded to `config.pad_to` when set."""
    side = config.pad_to or 28
    return side, side, 1


def size(config: ml_collections.ConfigDict) -> tuple[int, int]:
    """Trainable parameters and MACs per image of the config's model at its input (`input_shape`)."""
    model = models.create(config.model, num_classes=10, **config.model_options)
    s = summary(model, input_shape(config))
    return s.params, s.macs


def environment_changes(workdir: Path) -> list[str]:
    """The workdir's invocations (`cnnjax.train.resume.environment_changes`) whose reproducibility fields differ
    from its first's, or that its manifest.json records no environment; [] when every invocation ran in one."""
    try:
        return resume.environment_changes(workdir)
    except ValueError as e:
        return [str(e)]


def run(config_file: str, seed: int, workdir: Path, runlocal: bool = False) -> dict[str, Any]:
    """Trains (or resumes) the config in `workdir`; returns test_error, epochs, params, macs, environment_changes
    and details."""
    config = cnn_config(config_file, seed, runlocal)
    resumed = (workdir / "checkpoints").is_dir()
    params, macs = size(config)  # before training: a model that cannot be sized fails in seconds, not at the end
    metrics = train_and_evaluate(config, workdir)
    return {
        "test_error": 1.0 - float(metrics["test_accuracy"]),
        "epochs": float(metrics["epoch"]),
        "params": params,
        "macs": macs,
        "environment_changes": environment_changes(workdir),
        "details": {
            "config": config_file,
            "resumed_from_checkpoint": resumed,
            "test_loss": float(metrics["test_loss"]),
            "train_loss": float(metrics.get("train_loss", float("nan"))),
        },
    }


def validation_run(config_file: str, seed: int, workdir: Path, runlocal: bool = False) -> dict[str, Any]:
    """Trains (or resumes) the row's recipe on the training images less the last 10,000 and evaluates on those:
    validation_error and the validation metrics of the run (never the test split's), and environment_changes."""
    config = cnn_config(config_file, seed, runlocal, validation=True)
    metrics = train_and_evaluate(config, workdir)
    return {
        "validation_error": 1.0 - float(metrics["validation_accuracy"]),
        "validation_loss": float(metrics["validation_loss"]),
        "train_loss": float(metrics.get("train_loss", float("nan"))),
        "epochs": float(metrics["epoch"]),
        "validation_examples": config.validation_examples,
        "train_examples": config.limit_train,
        "environment_changes": environment_changes(workdir),
    }
