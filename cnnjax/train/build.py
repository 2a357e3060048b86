"""Everything a run computes with, built from a validated config and a dataset: pure, no files, no compilation.

`build(config, dataset)` -> `Setup`: the data subsets and per-process batch sizes, the plan (durations in
steps), the preprocessing, the model fitted to the data, the task, and the steps (uncompiled).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import ml_collections

from cnnjax import data as datalib
from cnnjax import models as modellib
from cnnjax import parallel
from cnnjax import summary as summarylib
from cnnjax.models.outputs import output_spec
from cnnjax.train import plan as planlib
from cnnjax.train import rng as rnglib
from cnnjax.train.preprocess import Preprocess, make_preprocess
from cnnjax.train.state import create_train_state
from cnnjax.train.step import TrainStep, eval_step, make_train_step
from cnnjax.train.tasks import Task, make_task


@dataclasses.dataclass(frozen=True)
class Setup:
    """A run's pieces. model_options: the options the model was created with (recorded with each checkpoint);
    train_step / eval_step / init: the pure steps and the state's initialisation, to be compiled."""

    config: ml_collections.ConfigDict
    dataset: datalib.Dataset
    train_source: datalib.Source
    test_source: datalib.Source  # what the run evaluates on: the test split or the held-out validation examples
    eval_split: str  # 'test' | 'validation': the prefix of the evaluation metrics
    local_batch: int
    local_eval_batch: int
    plan: planlib.Plan
    preprocess: Preprocess
    model: nn.Module
    model_options: dict[str, Any]
    task: Task
    shuffle_seed: int
    train_step: TrainStep
    eval_step: Callable[..., dict[str, jax.Array]]
    init: Callable[[], Any]


def build_model(
    config: ml_collections.ConfigDict, dataset: datalib.Dataset, input_shape: tuple[int, int, int],
    model: nn.Module | None = None,
) -> tuple[nn.Module, dict[str, Any], Task]:
    """(model, the options it was created with, task): `config.model` fitted to the data by its task (classes,
    output channels, input size), config.model_options winning; or the given `model` as it is."""
    spec = output_spec(model if model is not None else modellib.create(config.model, **config.model_options))
    task = make_task(spec.task, loss=config.loss, num_classes=dataset.num_classes,
                     label_smoothing=config.label_smoothing)
    if model is not None:
        return model, {}, task
    valid = modellib.options(config.model)
    fitted = {k: v for k, v in task.model_options(input_shape).items() if k in valid}
    options = {**fitted, **config.model_options.to_dict()}
    return modellib.create(config.model, **options), options, task


def split(config: ml_collections.ConfigDict, dataset: datalib.Dataset) -> tuple[datalib.Source, datalib.Source, str]:
    """(training examples, evaluation examples, 'test' | 'validation'): with config.validation_examples = N > 0 the
    last N training examples are held out and evaluated on, the test split is not used; limit_train and limit_test
    then take the first examples of the rest and of the held-out ones."""
    held_out = config.validation_examples
    if not held_out:
        return datalib.take(dataset.train, config.limit_train), datalib.take(dataset.test, config.limit_test), "test"
    total = len(dataset.train)
    if held_out >= total:
        raise ValueError(f"config.validation_examples: expected fewer than the {total} training examples, got "
                         f"{held_out}")
    train = datalib.take(datalib.take(dataset.train, total - held_out), config.limit_train)
    return train, datalib.take(datalib.skip(dataset.train, total - held_out), config.limit_test), "validation"


def build(
    config: ml_collections.ConfigDict, dataset: datalib.Dataset, model: nn.Module | None = None, *,
    devices: int = 1, processes: int = 1,
) -> Setup:
    """The `Setup` of a validated config (`config.validate`) on `dataset`, for `devices` devices over `processes`
    processes (the global batches must split evenly)."""
    for key in ("batch_size", "eval_batch_size"):
        parallel.check_batch_size(config[key], f"config.{key}", devices=devices, processes=processes)
    train_source, test_source, eval_split = split(config, dataset)
    local_batch = config.batch_size // processes
    steps_per_epoch = datalib.num_batches(train_source, local_batch, shard_count=processes)
    if steps_per_epoch == 0:
        raise ValueError(
            f"config.batch_size: expected at most the {len(train_source)} training examples, got {config.batch_size}"
        )
    plan = planlib.resolve(config, steps_per_epoch)
    preprocess = make_preprocess(config.augment, dataset, pad=config.pad_to, eval_crops=config.eval_crops,
                                 eval_scales=tuple(config.eval_scales))
    model, options, task = build_model(config, dataset, preprocess.input_shape, model)
    plan = dataclasses.replace(plan, steps_per_call=config.steps_per_call or planlib.auto_steps_per_call(
        summarylib.summary(model, preprocess.input_shape).macs, config.batch_size // devices))
    train_step, tx = make_train_step(config, model=model, task=task, preprocess=preprocess, plan=plan)
    root = rnglib.root_key(config.seed)
    return Setup(
        config=config, dataset=dataset, train_source=train_source, test_source=test_source, eval_split=eval_split,
        local_batch=local_batch, local_eval_batch=config.eval_batch_size // processes, plan=plan,
        preprocess=preprocess, model=model, model_options=options, task=task,
        shuffle_seed=rnglib.shuffle_seed(root), train_step=train_step,
        eval_step=functools.partial(eval_step, model=model, task=task, preprocess=preprocess),
        init=functools.partial(create_train_state, model, tx, root, preprocess.input_shape),
    )
