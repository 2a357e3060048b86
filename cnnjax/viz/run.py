"""A training workdir read for figures: `load_run(workdir) -> Run`. All reading of a workdir's files (config.json,
manifest.json, metrics.jsonl, checkpoints/) happens here; the training code does the reading
(`cnnjax.train.restore_run`, `load_dataset`, `make_preprocess`), so a figure sees the run as training and evaluation
saw it.

The config is read at once; the records, the dataset, and the model with the newest intact checkpoint's variables
on first use, so `curves` works on a run that has no checkpoint yet and the other figures on a run whose
metrics.jsonl is damaged. The dataset must be the one the run
was trained on: its files are checked against those the run's manifest.json records.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from cnnjax import data as datalib
from cnnjax import models as modellib
from cnnjax.models.outputs import OutputSpec, output_spec
from cnnjax.train import Preprocess, load_dataset, make_preprocess, restore_run, resume, validate
from cnnjax.train.metrics import read_records
from cnnjax.train.tasks import TASKS
from cnnjax.viz import analysis


class Run:
    """One workdir. `name` is the workdir's folder name; `report` receives the warnings of reading it (default:
    stderr)."""

    def __init__(
        self, workdir: Path, config: ml_collections.ConfigDict, *, report: Callable[[str], None] | None = None
    ):
        self.workdir, self.config = workdir, config
        self.name = workdir.name
        self.report = report or _stderr

    @functools.cached_property
    def records(self) -> list[dict[str, Any]]:
        """The records of metrics.jsonl (`cnnjax.train.metrics.read_records`: ValueError naming a damaged line)."""
        return read_records(self.workdir / "metrics.jsonl")

    def require_records(self) -> None:
        """Raises ValueError when metrics.jsonl holds no record, saying where the records are."""
        if self.records:
            return
        path = self.workdir / "metrics.jsonl"
        state = "is empty" if path.exists() else "is missing"
        if _has_checkpoints(self.workdir):
            raise ValueError(
                f"workdir: {path} {state}, but the run has checkpoints, which carry its records: run its training "
                f"again on {self.workdir} (the same config; a finished run is only evaluated again), which rewrites "
                "metrics.jsonl from the newest checkpoint"
            )
        raise ValueError(f"workdir: {path} {state} and the run has no checkpoint: it has not logged a step yet")

    @property
    def planned_steps(self) -> float | None:
        """The run's length in steps (config.num_steps, or config.num_epochs in the steps per epoch of the records);
        None without a record of a step."""
        if self.config.num_steps:
            return float(self.config.num_steps)
        last = self.records[-1] if self.records else {}
        if not last.get("epoch"):
            return None
        return self.config.num_epochs * round(last["step"] / last["epoch"])

    @property
    def finished(self) -> bool:
        """Whether the records reach the run's planned end (where its final evaluation is logged); False for a run
        that was interrupted, stopped early (config.stop_after_step) or is still training."""
        planned = self.planned_steps
        return planned is not None and self.records[-1]["step"] >= math.ceil(planned)

    @functools.cached_property
    def manifest(self) -> dict[str, Any] | None:
        """The run's manifest.json (`cnnjax.train.metrics.write_manifest`), None when it has none."""
        path = self.workdir / "manifest.json"
        if not path.exists():
            return None
        return _read_json_object(path, "the manifest that training writes")

    @property
    def model_name(self) -> str:
        return self.config.model

    @functools.cached_property
    def spec(self) -> OutputSpec:
        """What the model's output is (its task), from the config alone (as `cnnjax.train.validate` reads it)."""
        return output_spec(modellib.create(self.config.model, **self.config.model_options))

    @property
    def classifier(self) -> bool:
        """True when the model's task is classification (logits over the dataset's classes)."""
        return self.spec.task == "classification"

    @property
    def metric_keys(self) -> tuple[str, str]:
        """(training, test) record keys of the task's metric, e.g. ('train_accuracy', 'test_accuracy')."""
        task = TASKS[self.spec.task]
        return f"train_{task.train_metric}", f"test_{task.main_metric}"

    def require_classifier(self, kind: str) -> None:
        if not self.classifier:
            raise ValueError(
                f"{kind}: expected a classifier (a model whose task is classification), got config.model "
                f"{self.config.model!r} of {self.workdir}, a {self.spec.task} model"
            )

    @functools.cached_property
    def dataset(self) -> datalib.Dataset:
        """config.dataset, loaded as training loads it; its files must be those manifest.json records
        (`cnnjax.data.check_same_files`: ValueError otherwise; a warning to `report` when there is no record)."""
        dataset = load_dataset(self.config)
        manifest = self.workdir / "manifest.json"
        recorded = None if self.manifest is None else self.manifest.get("data_files")
        if recorded is None:
            self.report(
                f"warning: {manifest} {'is missing' if self.manifest is None else 'records no data_files'}, so the "
                f"{self.config.dataset} files loaded cannot be checked against the run's data; drawing with them "
                "unchecked"
            )
        else:
            datalib.check_same_files(recorded, dataset.files, dataset=self.config.dataset, source=str(manifest))
        return dataset

    @property
    def class_names(self) -> tuple[str, ...]:
        ds = self.dataset
        return ds.class_names or tuple(str(i) for i in range(ds.num_classes))

    def class_index(self, name: str) -> int:
        """The label of class `name` (a class name, or its index as digits)."""
        names = self.class_names
        if name in names:
            return names.index(name)
        if name.isdigit() and int(name) < len(names):
            return int(name)
        raise ValueError(f"class: expected one of {list(names)} (or an index below {len(names)}), got {name!r}")

    @functools.cached_property
    def _restored(self) -> tuple[nn.Module, dict[str, Any]]:
        if not _has_checkpoints(self.workdir):
            raise ValueError(
                f"workdir: expected a run with a saved checkpoint, but {self.workdir / 'checkpoints'} holds none"
            )
        _, model, variables = restore_run(self.workdir)
        return model, variables

    @property
    def model(self) -> nn.Module:
        """The model as the newest intact checkpoint recorded it (`cnnjax.train.restore_run`: newer unreadable ones
        are reported on stderr and left in place)."""
        return self._restored[0]

    @property
    def variables(self) -> dict[str, Any]:
        """{'params', 'batch_stats'} of the newest intact checkpoint."""
        return self._restored[1]

    @functools.cached_property
    def _preprocess(self) -> Preprocess:
        c = self.config
        return make_preprocess(c.augment, self.dataset, pad=c.pad_to, dtype=c.precision, scaling=c.input_scaling)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self._preprocess.input_shape

    def inputs(self, images: np.ndarray) -> jax.Array:
        """uint8 images (N, H, W, C) -> the model's float inputs, as in evaluation."""
        return self._preprocess.normalize(self._preprocess.eval(images))

    def display(self, x: jax.Array) -> np.ndarray:
        """A model input (..., h, w, C) back in [0, 1] pixel values, for drawing."""
        ds = self.dataset
        return np.clip(np.asarray(x) * np.asarray(ds.std) + np.asarray(ds.mean), 0.0, 1.0)

    @property
    def logits_fn(self) -> Callable[[jax.Array], jax.Array]:
        """Model inputs (N, h, w, C) -> logits (N, classes) with the checkpoint's variables (read here, before any
        function is traced)."""
        model, variables = self.model, self.variables
        return lambda x: model.apply(variables, x, train=False)

    @functools.cached_property
    def test_set(self) -> datalib.ArraySource:
        """The test split the run evaluated on (its first config.limit_test examples when set)."""
        return datalib.to_array_source(datalib.take(self.dataset.test, self.config.limit_test))

    def test_example(self, index: int) -> tuple[jax.Array, int]:
        """(model input (h, w, C), label) of test image `index`."""
        count = len(self.test_set)
        if not isinstance(index, int) or not 0 <= index < count:
            raise ValueError(f"image: expected a test-set index in [0, {count}), got {index!r}")
        return self.inputs(self.test_set.images[index : index + 1])[0], int(self.test_set.labels[index])

    @functools.cached_property
    def layers(self) -> list[analysis.Layer]:
        return analysis.layers(self.model, self.variables, self.input_shape)

    @functools.cached_property
    def test_probabilities(self) -> np.ndarray:
        """Softmax (N, classes) of every test image, in jitted batches of config.eval_batch_size."""
        logits_fn = self.logits_fn
        return analysis.predict(
            lambda images: jax.nn.softmax(logits_fn(self.inputs(images))),
            self.test_set.images,
            batch_size=min(self.config.eval_batch_size, len(self.test_set)),
        )


def read_config(workdir: str | Path) -> ml_collections.ConfigDict:
    """The validated config of a training workdir, from its config.json.

    Raises:
      ValueError: there is no config.json, or it is not a JSON object, or not a valid config; the message names
        the file.
    """
    config = resume.read_config(workdir)
    try:
        return validate(config)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{Path(workdir) / 'config.json'}: not a valid config: {e}") from None


def load_run(workdir: str | Path, *, report: Callable[[str], None] | None = None) -> Run:
    """Reads `workdir`'s config.json (the rest on first use, see `Run`); `report` receives the warnings of reading
    it (default: stderr)."""
    workdir = Path(workdir)
    return Run(workdir, read_config(workdir), report=report)


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in `path` (`what` it should hold, for the message); ValueError naming the file otherwise."""
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); expected {what}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object ({what}), got {type(value).__name__}")
    return value


def _has_checkpoints(workdir: Path) -> bool:
    """Whether workdir/checkpoints holds a step folder (orbax's layout: checkpoints/<step>)."""
    directory = workdir / "checkpoints"
    return directory.is_dir() and any(p.name.isdigit() for p in directory.iterdir())


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
