"""`train_and_evaluate(config, workdir)`: the training loop, in one function that reads top to bottom.

    set up (`build`: data split, durations, model and task, the pure steps) -> hold the workdir -> init or
    restore -> compile -> loop: batch -> train_step -> is it time to log / evaluate / checkpoint? -> the final
    evaluation and the last line

The step (loss, gradients, update) is `step.train_step`, the task's loss and metrics are in `tasks.py`. What this
file calls besides are leaves that never call back: the checkpointer (`checkpoint.py`), the metrics writer and
progress bar (`metrics.py`), the workdir lock (`workdir.py`), the data iterator (`cnnjax.data`) and the
data-parallel strategy (`cnnjax.parallel`).

Workdir: config.json, manifest.json, metrics.jsonl, checkpoints/<step>/ (orbax), tensorboard/ (optional). A run
started on a workdir that holds a checkpoint resumes from it exactly: state, root key and data position (epoch,
batch in epoch) all follow from the restored step, and the same config (hash) is required.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from cnnjax import backend, parallel
from cnnjax import data as datalib
from cnnjax import models as modellib
from cnnjax import summary as summarylib
from cnnjax.models.outputs import output_spec
from cnnjax.train import config as configlib
from cnnjax.train import optim, resume
from cnnjax.train import plan as planlib
from cnnjax.train import rng as rnglib
from cnnjax.train import step as steplib
from cnnjax.train import tasks as tasklib
from cnnjax.train import workdir as workdirlib
from cnnjax.train.checkpoint import Checkpointer
from cnnjax.train.metrics import (
    MetricsWriter,
    PendingMetrics,
    Progress,
    finish_manifest,
    read_manifest,
    write_manifest,
)
from cnnjax.train.preprocess import Preprocess, make_preprocess
from cnnjax.train.state import TrainState, check_named_params, create_train_state, load_params


class Interrupted(Exception):
    """Raised after SIGTERM/SIGINT once a checkpoint of the current step is saved; rerun to resume."""

    def __init__(self, signum: int, step: int, workdir: Path, *, saved: bool = True):
        self.signum, self.step, self.workdir = signum, step, workdir
        where = (
            f"checkpoint saved in {workdir / 'checkpoints'}; run the same command with the same workdir to resume"
            if saved
            else "before the first step; nothing to resume: run the same command to start"
        )
        super().__init__(f"interrupted by {signal.Signals(signum).name} at step {step}; {where}")


def train_and_evaluate(
    config: ml_collections.ConfigDict | Mapping[str, Any],
    workdir: str | Path,
    *,
    dataset: datalib.Dataset | None = None,
    model: nn.Module | None = None,
) -> dict[str, Any]:
    """Trains `config.model` on `config.dataset`, evaluating on the test split (or, with config.validation_examples,
    on the held-out end of the training split: validation_* metrics, and with config.test_at_end the test split
    once more after the last step); resumes from `workdir` if it holds a checkpoint.

    Args:
      config: a config (keys of `config.default_config()`; missing keys take its values), e.g. a recipe.
      workdir: where the run's files go; created after the config is validated and the data loaded, held by this
        run alone (a second run on it refuses), and removed again if the run fails before writing anything.
      dataset: use this Dataset (e.g. from `data.from_arrays`) instead of loading `config.dataset`.
      model: use this Flax module instead of `models.create(config.model, ...)`.

    Returns:
      The final metrics: step, epoch, train_loss, train_<the task's metric>, the evaluation metrics (test_accuracy,
      ... for a classifier), wall_time, nonfinite_steps (or, after `config.stop_after_step`, the metrics so far
      with 'stopped': True). The test split's metrics of config.test_at_end are in the returned metrics, the
      manifest and the last line, not in metrics.jsonl.
    """
    started, start_time = time.time(), datetime.datetime.now(datetime.UTC)
    config = configlib.validate(config, model=model, dataset_given=dataset is not None)
    config.numerics = backend.check_numerics(config.numerics)  # the profile that runs: hashed, so recorded
    parallel.initialize_distributed(**config.distributed)
    is_main, processes = jax.process_index() == 0, jax.process_count()
    if model is not None:  # record what actually runs
        config.model = f"{type(model).__module__}.{type(model).__qualname__}"
    if dataset is None:
        dataset = load_dataset(config)
    else:
        config.dataset = dataset.name

    # ----- Set up: everything the run computes with (pure: no files, nothing compiled).
    strategy = parallel.strategy(config.parallel)
    setup = build(config, dataset, model, devices=strategy.devices, processes=processes)
    plan, task, preprocess = setup.plan, setup.task, setup.preprocess
    settings = resume.hashed_settings(config)  # what each checkpoint records, to check a resumption against
    config_hash = resume.config_hash(settings)

    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(workdirlib.open_workdir(workdir, main=is_main))
        received = stack.enter_context(stop_signals())  # SIGINT/SIGTERM: finish the step, save, raise Interrupted
        report = functools.partial(print, flush=True) if is_main else (lambda text: None)
        checkpointer = Checkpointer(workdir / "checkpoints", keep=config.checkpoint_keep)
        stack.callback(checkpointer.close)

        # ----- Init, or restore the newest intact checkpoint that this config wrote.
        abstract = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=strategy.state_sharding),
            jax.eval_shape(setup.init),
        )
        restored = checkpointer.restore_latest(
            abstract,
            required_meta=("config_hash", "config", "pending_metrics"),
            report=report,
            check_meta=lambda meta: resume.check_same_config(meta, config, checkpointer.directory),
        )
        if restored is None:
            init = setup.init
            if config.init_from:  # fine-tuning: parameters from a file replace the initial ones of the same name
                initial_params = load_params(configlib.init_from_path(config))
                check_named_params(abstract.params, initial_params)
                init = functools.partial(init, initial_params=initial_params)
            state, meta, last_checkpoint = strategy.init(init), {}, None
        else:
            state, meta, last_checkpoint = restored
        start_step = int(jax.device_get(state.step))
        recorded = read_manifest(workdir / "manifest.json").get("data_files")
        if start_step and recorded is not None:  # a resumption trains on the data the run started with
            datalib.check_same_files(
                recorded, dataset.files, dataset=config.dataset, source=str(workdir / "manifest.json")
            )
        pending = PendingMetrics(
            ("step", "loss", task.train_metric, "learning_rate", "finite"),
            config.batch_size,
            saved=meta.get("pending_metrics"),
        )
        writer = None  # only process 0 writes files; records lost from metrics.jsonl come back from the checkpoint
        if is_main:
            writer = MetricsWriter(
                workdir,
                resume_step=start_step,
                saved_records=meta.get("records"),
                tensorboard=config.tensorboard,
                report=report,
            )
            stack.callback(writer.close)
        progress = Progress(total=plan.total_steps, initial=start_step, enabled=is_main, metric=task.train_metric)
        stack.callback(progress.close)

        def stop_here(step: int) -> dict[str, Any]:
            """config.stop_after_step reached: say where the run stands, return the metrics so far."""
            if is_main:
                print(
                    f"stopped at step {step} of {plan.total_steps} (config.stop_after_step={plan.stop_after_step}); "
                    f"its checkpoint is in {checkpointer.directory}: run again with a later config.stop_after_step, "
                    "or 0, to continue",
                    flush=True,
                )
            last = writer.records[-1] if writer and writer.records else {}
            return {**last, "step": step, "stopped": True}

        if 0 < plan.stop_after_step <= start_step:  # stopped there already: the same command does not train on
            return stop_here(start_step)

        # ----- Compile ahead of time (timed apart, so that img/s measures training only), then the run's files.
        began = time.perf_counter()
        batch_shape = strategy.abstract_batch(setup.local_batch, dataset.image_shape)
        train_step = strategy.compile_train(setup.train_step).lower(state, batch_shape).compile()
        train_steps = None  # steps_per_call steps in one call, for the stretches where nothing happens in between
        if setup.steps_per_call > 1:
            train_steps = strategy.compile_train(steplib.unrolled(setup.train_step, setup.steps_per_call))
            train_steps = train_steps.lower(state, *[batch_shape] * setup.steps_per_call).compile()
        eval_step = strategy.compile_eval(setup.eval_step)
        if setup.watch_plateau is not None:
            watch_plateau = jax.jit(setup.watch_plateau, out_shardings=strategy.state_sharding)
        compile_seconds: float | None = time.perf_counter() - began  # None once a record carries it
        if received:  # a signal while compiling: nothing new to save
            raise Interrupted(received[0], start_step, workdir, saved=last_checkpoint is not None)
        if is_main:
            (workdir / "config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str) + "\n")
            write_manifest(
                workdir,
                config_hash=config_hash,
                start_time=start_time,
                resumed_from=start_step,
                data_files=dataset.files,
                compile_seconds=compile_seconds,
            )
            if start_step:
                progress.message(f"resuming from the checkpoint of step {start_step} in {workdir}")

        def evaluate(state, source=setup.eval_source, split=setup.eval_split) -> dict[str, float]:
            """The task's metrics over `source`, named '<split>_*' (every process takes part)."""
            batches = datalib.padded_batches(
                source, setup.local_eval_batch, shard_index=jax.process_index(), shard_count=processes
            )
            totals = None
            for batch in parallel.prefetch(batches, strategy.put_batch):
                sums = eval_step(state, batch)
                totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
            metrics = task.summarize(strategy.to_host(totals))
            return {f"{split}_{k.removeprefix('test_')}": v for k, v in metrics.items()}

        def save(state, step: int) -> None:
            checkpointer.save(
                state,
                {
                    "step": step,
                    "epoch": step // plan.steps_per_epoch,
                    "batch_in_epoch": step % plan.steps_per_epoch,
                    "steps_per_epoch": plan.steps_per_epoch,
                    "shuffle_seed": setup.shuffle_seed,
                    "config_hash": config_hash,
                    "config": settings,
                    "pending_metrics": pending.state_dict(),
                    "model_options": setup.model_options,
                    "input_shape": list(preprocess.input_shape),
                    # to restore a lost metrics.jsonl; a copy: the checkpoint is written in the background, and the
                    # live list would take the records of later steps first
                    "records": list(writer.records) if writer else [],
                },
            )

        # ----- The loop.
        step, last_evaluation = start_step, None
        batches = parallel.prefetch(
            train_batches(
                setup.train_source,
                setup.local_batch,
                seed=setup.shuffle_seed,
                start_step=step,
                steps_per_epoch=plan.steps_per_epoch,
                worker_count=config.data_workers,
            ),
            strategy.put_batch,
        )
        pending.restart()  # img/s counts from here, after compilation
        while step < plan.total_steps:
            k = steps_in_call(step, setup.steps_per_call, plan)
            group = [next(batches) for _ in range(k)]
            state, metrics = train_step(state, *group) if k == 1 else train_steps(state, *group)
            step += k
            pending.add(metrics, steps=k)

            interrupted = bool(received)  # read once: a signal arriving below is handled after the next step
            stop = interrupted or step in (plan.stop_after_step, plan.total_steps)
            log, checkpoint = is_time_to_log(step, plan), stop or is_time_to_checkpoint(step, plan)
            if log:
                values = pending.pull()
                check_finite(values, config.skip_nonfinite, last_checkpoint, checkpointer)
                pending.clear()
                record = training_record(values, step, plan, task.train_metric, pending.images_per_sec())
                if config.skip_nonfinite:
                    record["nonfinite_steps"] = int(strategy.to_host(state.nonfinite_steps))
                if compile_seconds is not None:  # the first record of this process says what compiling took
                    record["compile_seconds"], compile_seconds = compile_seconds, None
                progress.update(record)
                if is_time_to_evaluate(step, plan):
                    record.update(evaluate(state))
                    last_evaluation = record
                    if setup.watch_plateau is not None:  # the plateau schedule's observation, saved with the state
                        value = watched_value(record, config.schedule.plateau_metric)
                        state = state.replace(opt_state=watch_plateau(state.opt_state, value))
                    main = f"{setup.eval_split}_{task.main_metric}"
                    progress.message(
                        f"epoch {record['epoch']:.2f} step {step}: {setup.eval_split}_loss "
                        f"{record[setup.eval_split + '_loss']:.4f} {main} {record[main]:.4f}"
                    )
                if writer:
                    writer.write(record)
            if checkpoint:
                if not log:  # a checkpoint holds no non-finite state unless config.skip_nonfinite says so
                    check_finite(pending.pull(), config.skip_nonfinite, last_checkpoint, checkpointer)
                save(state, step)
                last_checkpoint = step
            if log or checkpoint:
                pending.restart()  # img/s measures training only
            if interrupted:
                checkpointer.wait()
                raise Interrupted(received[0], step, workdir)
            if step == plan.stop_after_step:
                checkpointer.wait()
                progress.close()
                return stop_here(step)

        # ----- The end: the final checkpoint (already saved at the last step) and the last line.
        checkpointer.wait()
        progress.close()
        final = last_evaluation
        if final is None or final["step"] != step:  # resumed at the end: evaluate again
            previous = writer.records[-1] if writer and writer.records else {}
            final = {**previous, "step": step, "epoch": step / plan.steps_per_epoch, **evaluate(state)}
        if setup.test_source is not None:  # chosen on the validation split, reported on the test split
            final = {**final, **evaluate(state, setup.test_source, "test")}
        wall = time.time() - started
        result = {**final, "nonfinite_steps": int(strategy.to_host(state.nonfinite_steps)), "wall_time": wall}
        main = f"{setup.eval_split}_{task.main_metric}"
        if is_main:
            finish_manifest(workdir, end_time=datetime.datetime.now(datetime.UTC), metrics=result)
            test = f", test_{task.main_metric}: {final['test_' + task.main_metric]:.4f}" if setup.test_source else ""
            print(f"{main}: {final[main]:.4f}{test} (wall time {wall:.1f} s)", flush=True)
        return result


# ------------------------------------------------------------------------------------------- set-up
@dataclasses.dataclass(frozen=True)
class Setup:
    """Everything a run computes with. train_source / eval_source: the examples trained and evaluated on
    (eval_split 'test', or 'validation' for held-out training examples: the prefix of the evaluation metrics);
    test_source: the test split when it is evaluated at the end besides (config.test_at_end), else None;
    local_batch / local_eval_batch: this process's part of a batch; model_options: the options the model was
    created with (recorded with each checkpoint); train_step / eval_step / init: the pure steps and the state's
    initialisation, to be compiled; steps_per_call: training steps per compiled call."""

    train_source: datalib.Source
    eval_source: datalib.Source
    eval_split: str
    test_source: datalib.Source | None  # config.test_at_end: the test split, evaluated once after the last step
    local_batch: int
    local_eval_batch: int
    plan: planlib.Plan
    preprocess: Preprocess
    model: nn.Module
    model_options: dict[str, Any]
    task: tasklib.Task
    shuffle_seed: int
    train_step: steplib.TrainStep
    eval_step: Callable[..., dict[str, jax.Array]]
    init: Callable[[], TrainState]
    steps_per_call: int
    watch_plateau: Callable[[Any, jax.Array], Any] | None = None  # (opt_state, watched value) -> opt_state, or None


def watched_value(record: Mapping[str, Any], metric: str) -> float:
    """The value that a plateau schedule watching `metric` ('validation_error' | 'validation_loss') reads from an
    evaluation record: the error is 1 - validation_accuracy."""
    return 1.0 - record["validation_accuracy"] if metric == "validation_error" else record["validation_loss"]


def build(
    config: ml_collections.ConfigDict,
    dataset: datalib.Dataset,
    model: nn.Module | None = None,
    *,
    devices: int = 1,
    processes: int = 1,
) -> Setup:
    """The `Setup` of a validated config on `dataset`, for `devices` devices over `processes` processes (the
    global batches must split evenly): pure, no files, nothing compiled (the benchmarks time its steps)."""
    for key in ("batch_size", "eval_batch_size"):
        parallel.check_batch_size(config[key], f"config.{key}", devices=devices, processes=processes)
    local_batch = config.batch_size // processes
    if (config.batch_size // devices) % config.accumulate_steps:
        raise ValueError(
            f"config.accumulate_steps: expected a divisor of the per-device batch {config.batch_size // devices} "
            f"(config.batch_size {config.batch_size} over {devices} devices), got {config.accumulate_steps}"
        )
    ghost = config.model_options.get("ghost_batch_size", 0)
    micro_batch = config.batch_size // devices // config.accumulate_steps  # what each batch norm sees in training
    if ghost and micro_batch % ghost:
        raise ValueError(
            f"config.model_options.ghost_batch_size: expected a divisor of the batch each device normalises, "
            f"{micro_batch} (config.batch_size {config.batch_size} over {devices} devices and "
            f"{config.accumulate_steps} micro-batches), got {ghost}"
        )
    train_source, eval_source, eval_split = split_data(config, dataset)
    steps_per_epoch = datalib.num_batches(train_source, local_batch, shard_count=processes)
    if steps_per_epoch == 0:
        raise ValueError(
            f"config.batch_size: expected at most the {len(train_source)} training examples, got {config.batch_size}"
        )
    plan = planlib.resolve(config, steps_per_epoch)
    if config.steps_per_call:
        check_steps_per_call(config.steps_per_call, plan)
    preprocess = make_preprocess(
        config.augment,
        dataset,
        pad=config.pad_to,
        eval_crops=config.eval_crops,
        eval_scales=tuple(config.eval_scales),
        dtype=config.precision,
        scaling=config.input_scaling,
    )
    model, model_options, task = create_model(config, dataset, preprocess.input_shape, model)
    check_model_input(model, preprocess.input_shape, config, dataset)
    train_step, tx = steplib.make_train_step(config, model=model, task=task, preprocess=preprocess, plan=plan)
    watch_plateau = None
    if config.schedule.name == "plateau" and config.schedule.plateau_metric != "train_loss":
        if config.schedule.plateau_metric == "validation_error" and task.main_metric != "accuracy":
            raise ValueError(
                f"config.schedule.plateau_metric: 'validation_error' is 1 - accuracy, and the {type(task).__name__} "
                f"task measures {task.main_metric!r}; expected 'validation_loss', got 'validation_error'"
            )
        watch_plateau = functools.partial(optim.watch_plateau, plateau=optim.make_plateau(config, accumulation_size=1))
    root = rnglib.root_key(config.seed)
    return Setup(
        train_source=train_source,
        eval_source=eval_source,
        eval_split=eval_split,
        test_source=datalib.take(dataset.test, config.limit_test) if config.test_at_end else None,
        local_batch=local_batch,
        local_eval_batch=config.eval_batch_size // processes,
        plan=plan,
        preprocess=preprocess,
        model=model,
        model_options=model_options,
        task=task,
        shuffle_seed=rnglib.shuffle_seed(root),
        train_step=train_step,
        eval_step=steplib.with_matmul_precision(
            functools.partial(
                steplib.eval_step,
                model=model,
                task=task,
                preprocess=preprocess,
                views_per_pass=config.eval_views_per_pass,
            ),
            config.matmul_precision,
        ),
        init=functools.partial(create_train_state, model, tx, root, preprocess.input_shape, ema=config.ema_decay > 0),
        steps_per_call=config.steps_per_call
        or choose_steps_per_call(model, preprocess.input_shape, config.batch_size // devices),
        watch_plateau=watch_plateau,
    )


def load_dataset(config: ml_collections.ConfigDict) -> datalib.Dataset:
    """config.dataset (read at config.image_size when set); config.data_dir names the IDX directory for the IDX
    datasets (unless idx_dir is set)."""
    idx_dir, data_dir = config.idx_dir or None, config.data_dir or None
    if config.dataset in datalib.IDX_DATASETS and idx_dir is None:
        idx_dir, data_dir = data_dir, None
    image_size = config.image_size or None
    return datalib.load_dataset(config.dataset, data_dir=data_dir, idx_dir=idx_dir, image_size=image_size)


def split_data(
    config: ml_collections.ConfigDict, dataset: datalib.Dataset
) -> tuple[datalib.Source, datalib.Source, str]:
    """(training examples, evaluation examples, 'test' | 'validation'): with config.validation_examples = N > 0 the
    last N training examples are held out and evaluated on, the test split is not used; limit_train and limit_test
    then take the first examples of the rest and of the held-out ones."""
    held_out = config.validation_examples
    if not held_out:
        return datalib.take(dataset.train, config.limit_train), datalib.take(dataset.test, config.limit_test), "test"
    total = len(dataset.train)
    if held_out >= total:
        raise ValueError(
            f"config.validation_examples: expected fewer than the {total} training examples, got {held_out}"
        )
    train = datalib.take(datalib.take(dataset.train, total - held_out), config.limit_train)
    return train, datalib.take(datalib.skip(dataset.train, total - held_out), config.limit_test), "validation"


def create_model(
    config: ml_collections.ConfigDict,
    dataset: datalib.Dataset,
    input_shape: tuple[int, int, int],
    model: nn.Module | None = None,
) -> tuple[nn.Module, dict[str, Any], tasklib.Task]:
    """(model, the options it was created with, task): `config.model` fitted to the data by its task (classes,
    output channels, input size); or the given `model` as it is.

    Raises ValueError when config.model_options sets one of those to a value the data do not fit.
    """
    given = config.model_options.to_dict()
    built = model if model is not None else modellib.create(config.model, **given)
    task = tasklib.make_task(
        output_spec(built).task,
        loss=config.loss,
        num_classes=dataset.num_classes,
        label_smoothing=config.label_smoothing,
    )
    if model is not None:
        return model, {}, task
    valid = modellib.options(config.model)
    fitted = {k: v for k, v in task.model_options(input_shape).items() if k in valid}
    for key, value in fitted.items():  # e.g. 7 classes on 10-class data would train on, reporting nonsense
        if key in given and _as_tuple(given[key]) != _as_tuple(value):
            raise ValueError(
                f"config.model_options.{key}: the {dataset.name} data need {value!r} ({task.name}), got "
                f"{given[key]!r}; leave it unset: the trainer fits it to the data"
            )
    return built.clone(**fitted), {**given, **fitted}, task


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def check_model_input(
    model: nn.Module, input_shape: tuple[int, int, int], config: ml_collections.ConfigDict, dataset: datalib.Dataset
) -> None:
    """Traces the model's init on the run's input shape (abstractly, nothing computed): an input the model refuses
    (its 'x: ...' errors: too small, a size its poolings cannot halve) is reported with the settings that make the
    input, before anything is built."""
    x = jax.ShapeDtypeStruct((1, *input_shape), np.float32)
    try:
        jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), x)
    except ValueError as e:
        if not str(e).startswith("x: "):
            raise
        size, image = "x".join(map(str, input_shape)), "x".join(map(str, dataset.image_shape))
        raise ValueError(
            f"config.pad_to: {config.model} refuses the run's {size} inputs (the {dataset.name} images {image}, "
            f"pad_to={config.pad_to}, augment.crop_size={config.augment.crop_size}): {str(e).removeprefix('x: ')}; "
            "zero-pad the images to a size it takes (--config.pad_to=N) or change its options"
        ) from None


def check_steps_per_call(steps_per_call: int, plan: planlib.Plan) -> None:
    """A call of more steps than lie between two actions of the run (a record, an evaluation, a checkpoint, its
    end) would be compiled and never run."""
    longest = min(
        plan.total_steps,
        plan.log_every_steps,
        plan.steps_per_epoch,
        plan.checkpoint_every_steps or plan.steps_per_epoch,
    )
    if steps_per_call > longest:
        raise ValueError(
            f"config.steps_per_call: expected at most {longest}, the most steps between two records, evaluations or "
            f"checkpoints (log_every_steps={plan.log_every_steps}, {plan.steps_per_epoch} steps per epoch, "
            f"checkpoint_every_steps={plan.checkpoint_every_steps}, {plan.total_steps} steps in all), got "
            f"{steps_per_call}: a call of more steps would never run (0: cnnjax chooses)"
        )


def choose_steps_per_call(model: nn.Module, input_shape: tuple[int, int, int], device_batch: int) -> int:
    """config.steps_per_call = 0: the backend's rule (`cnnjax.backend.steps_per_call`) for this model's step."""
    macs = summarylib.summary(model, input_shape).macs
    return backend.steps_per_call(macs, device_batch, jax.default_backend())


def default_workdir(config: ml_collections.ConfigDict, root: str | Path = "runs") -> Path:
    """runs/<model>_<dataset>_<YYYYmmdd-HHMMSS>."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{config.model}_{config.dataset}_{stamp}"


# ------------------------------------------------------------------------------------------- loop helpers
def train_batches(
    source: datalib.Source,
    batch_size: int,
    *,
    seed: int,
    start_step: int,
    steps_per_epoch: int,
    worker_count: int = 0,
) -> Iterator[dict[str, np.ndarray]]:
    """This process's training batches from `start_step` on, epoch after epoch, without end (the order of each
    epoch follows from `seed` and its number, so a resumed run sees the same batches; `worker_count`: grain
    worker processes reading a non-array source, as `cnnjax.data.batches`)."""
    epoch, start_batch = divmod(start_step, steps_per_epoch)
    while True:
        yield from datalib.batches(
            source,
            batch_size,
            seed=seed,
            epoch=epoch,
            start_batch=start_batch,
            shard_index=jax.process_index(),
            shard_count=jax.process_count(),
            worker_count=worker_count,
        )
        epoch, start_batch = epoch + 1, 0


def is_time(step: int, every: int) -> bool:
    """Whether `step` (the number of steps taken) is a positive multiple of `every` (0: never)."""
    return every > 0 and step > 0 and step % every == 0


def is_time_to_evaluate(step: int, plan: planlib.Plan) -> bool:
    """At the end, and at the end of every eval_every_epochs-th epoch (0: only at the end)."""
    return step == plan.total_steps or is_time(step, plan.eval_every_epochs * plan.steps_per_epoch)


def is_time_to_log(step: int, plan: planlib.Plan) -> bool:
    """When evaluating, at the end of every epoch, and every log_every_steps."""
    return is_time_to_evaluate(step, plan) or is_time(step, plan.steps_per_epoch) or is_time(step, plan.log_every_steps)


def is_time_to_checkpoint(step: int, plan: planlib.Plan) -> bool:
    """Every checkpoint_every_steps, or at the end of every epoch when that is 0 (and whenever the run stops)."""
    return is_time(step, plan.checkpoint_every_steps or plan.steps_per_epoch)


def steps_in_call(step: int, steps_per_call: int, plan: planlib.Plan) -> int:
    """How many steps the call after `step` takes: steps_per_call, or 1 when something happens after one of the
    group's steps but its last (a record, an evaluation, a checkpoint, a stop), so that every action still
    follows the step it is planned for."""
    inside = range(step + 1, step + steps_per_call)
    busy = any(is_time_to_log(s, plan) or is_time_to_checkpoint(s, plan) or s == plan.stop_after_step for s in inside)
    return 1 if busy else steps_per_call


def training_record(
    values: dict[str, np.ndarray], step: int, plan: planlib.Plan, metric: str, images_per_sec: float
) -> dict[str, Any]:
    """The record of the steps since the last one: their mean loss and training metric over the finite steps."""
    ok = values["finite"] if values["finite"].any() else np.ones_like(values["finite"])
    return {
        "step": step,
        "epoch": step / plan.steps_per_epoch,
        "train_loss": float(values["loss"][ok].mean()),
        f"train_{metric}": float(values[metric][ok].mean()),
        "learning_rate": float(values["learning_rate"][-1]),
        "images_per_sec": images_per_sec,
    }


def check_finite(
    values: dict[str, np.ndarray], skip_nonfinite: bool, last_checkpoint: int | None, checkpointer: Checkpointer
) -> None:
    """Raises FloatingPointError (unless config.skip_nonfinite) naming the first step whose loss or gradient was
    not finite, and the last good checkpoint."""
    finite = values["finite"]
    if finite.all() or skip_nonfinite:
        return
    first = int(np.argmin(finite))
    kept = (
        f"the last good checkpoint is step {last_checkpoint} in {checkpointer.directory}"
        if last_checkpoint is not None
        else "no checkpoint was saved yet"
    )
    checkpointer.wait()
    raise FloatingPointError(
        f"non-finite training loss or gradient at step {int(values['step'][first])} (loss "
        f"{values['loss'][first]}); {kept}. Lower the learning rate, clip gradients (config.grad_clip_norm), "
        f"or set config.skip_nonfinite=True to skip such steps."
    )


@contextlib.contextmanager
def stop_signals() -> Iterator[list[int]]:
    """Yields a list to which SIGTERM/SIGINT append their number instead of stopping the process: the loop then
    saves a checkpoint of the current step and raises Interrupted. A second signal raises KeyboardInterrupt at
    once. Outside the main thread (where Python cannot handle signals) the list stays empty."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame):
        if received:  # a second signal: stop now, without a checkpoint
            raise KeyboardInterrupt
        received.append(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
