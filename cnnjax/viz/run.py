"""A training workdir read for figures: `load_run(workdir) -> Run`. All reading of a workdir's files (config.json,
metrics.jsonl, checkpoints/) happens here.

The config and the records are read at once; the dataset, the model and the newest checkpoint's variables on
first use, so `curves` works on a run that has no checkpoint yet.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from cnnjax import data as datalib
from cnnjax import models as modellib
from cnnjax.train import Checkpointer, make_preprocess, validate
from cnnjax.train.metrics import read_records
from cnnjax.viz import analysis


class Run:
    """One workdir. `name` is the workdir's folder name; `records` its metrics.jsonl records."""

    def __init__(self, workdir: Path, config: ml_collections.ConfigDict, records: list[dict[str, Any]]):
        self.workdir, self.config, self.records = workdir, config, records
        self.name = workdir.name

    @property
    def model_name(self) -> str:
        return self.config.model

    @property
    def classifier(self) -> bool:
        """True when the model has a classifier head (a `num_classes` option)."""
        return "num_classes" in modellib.options(self.config.model)

    def require_classifier(self, kind: str) -> None:
        if not self.classifier:
            raise ValueError(
                f"{kind}: expected a classifier (a model with num_classes), got config.model {self.config.model!r} "
                f"of {self.workdir}"
            )

    @functools.cached_property
    def dataset(self) -> datalib.Dataset:
        """config.dataset, found as training found it (IDX datasets read config.idx_dir or config.data_dir)."""
        config = self.config
        idx_dir, data_dir = config.idx_dir or None, config.data_dir or None
        if config.dataset in datalib.IDX_DATASETS and idx_dir is None:
            idx_dir, data_dir = data_dir, None
        return datalib.load_dataset(config.dataset, data_dir=data_dir, idx_dir=idx_dir)

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
    def model(self) -> nn.Module:
        kwargs = {"num_classes": self.dataset.num_classes} if self.classifier else {}
        return modellib.create(self.config.model, **kwargs, **self.config.model_options)

    @functools.cached_property
    def variables(self) -> dict[str, Any]:
        """{'params', 'batch_stats'} of the newest checkpoint."""
        directory = self.workdir / "checkpoints"
        checkpointer = Checkpointer(directory, keep=self.config.checkpoint_keep) if directory.is_dir() else None
        if checkpointer is None or checkpointer.latest_step() is None:
            raise ValueError(f"workdir: expected a run with a saved checkpoint, but {directory} holds none")
        try:
            state, _ = checkpointer.read()
        finally:
            checkpointer.close()
        return {"params": state["params"], **({"batch_stats": state["batch_stats"]} if state["batch_stats"] else {})}

    @functools.cached_property
    def _preprocess(self):
        _, eval_fn, input_shape = make_preprocess(self.config.augment, self.dataset)
        return eval_fn, input_shape

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self._preprocess[1]

    def inputs(self, images: np.ndarray) -> jax.Array:
        """uint8 images (N, H, W, C) -> the model's float inputs, as in evaluation."""
        return self._preprocess[0](images)

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
        test = self.dataset.test
        limit = self.config.limit_test
        if 0 < limit < len(test):
            if isinstance(test, datalib.ArraySource):
                return datalib.ArraySource(test.images[:limit], test.labels[:limit])
            return datalib.to_array_source([test[i] for i in range(limit)])
        return datalib.to_array_source(test)

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


def load_run(workdir: str | Path) -> Run:
    """Reads `workdir`'s config.json and metrics.jsonl (the rest on first use, see `Run`)."""
    workdir = Path(workdir)
    config_file = workdir / "config.json"
    if not config_file.is_file():
        raise ValueError(f"workdir: expected a training workdir with a config.json, got {str(workdir)!r}")
    config = validate(json.loads(config_file.read_text()))
    if config.model not in modellib.list_models():
        raise ValueError(
            f"workdir: expected a run of a registered model, got config.model {config.model!r} in {config_file}"
        )
    return Run(workdir, config, read_records(workdir / "metrics.jsonl"))
