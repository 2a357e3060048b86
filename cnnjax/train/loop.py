"""`train_and_evaluate(config, workdir)`: validate -> build -> compile -> init or restore -> loop -> final line.

Workdir: config.json, manifest.json, metrics.jsonl, checkpoints/<step>/ (orbax), tensorboard/ (optional). A run
started on a workdir that holds a checkpoint resumes from it exactly: state, root key and data position
(epoch, batch in epoch) all follow from the restored step, and the same config (hash) is required.
The steps are pure (`step.py`); what happens after each step is `plan.actions`; this file does the I/O.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from cnnjax import data as datalib
from cnnjax import parallel
from cnnjax.train import config as configlib
from cnnjax.train import plan as planlib
from cnnjax.train import resume
from cnnjax.train import step as steplib
from cnnjax.train import workdir as workdirlib
from cnnjax.train.build import Setup, build
from cnnjax.train.checkpoint import Checkpointer
from cnnjax.train.metrics import MetricsWriter, PendingMetrics, Progress, finish_manifest, write_manifest


class Interrupted(Exception):
    """Raised after SIGTERM/SIGINT once a checkpoint of the current step is saved; rerun to resume."""

    def __init__(self, signum: int, step: int, workdir: Path):
        self.signum, self.step, self.workdir = signum, step, workdir
        super().__init__(
            f"interrupted by {signal.Signals(signum).name} at step {step}; checkpoint saved in "
            f"{workdir / 'checkpoints'}; run the same command with the same workdir to resume"
        )


def default_workdir(config: ml_collections.ConfigDict, root: str | Path = "runs") -> Path:
    """runs/<model>_<dataset>_<YYYYmmdd-HHMMSS>."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{config.model}_{config.dataset}_{stamp}"


def train_and_evaluate(
    config: ml_collections.ConfigDict | Mapping[str, Any],
    workdir: str | Path,
    *,
    dataset: datalib.Dataset | None = None,
    model: nn.Module | None = None,
) -> dict[str, Any]:
    """Trains `config.model` on `config.dataset`, evaluating on the test split (or, with config.validation_examples,
    on the held-out end of the training split: validation_* metrics); resumes from `workdir` if it holds a
    checkpoint.

    Args:
      config: a config (keys of `config.default_config()`; missing keys take its values), e.g. a recipe.
      workdir: where the run's files go; created after the config is validated and the data loaded, held by this
        run alone (a second run on it refuses), and removed again if the run fails before writing anything.
      dataset: use this Dataset (e.g. from `data.from_arrays`) instead of loading `config.dataset`.
      model: use this Flax module instead of `models.create(config.model, ...)`.

    Returns:
      The final metrics: step, epoch, train_loss, train_<the task's metric>, the test metrics (test_accuracy, ...
      for a classifier), wall_time, nonfinite_steps (or, after `config.stop_after_step`, the metrics so far with
      'stopped': True).
    """
    started = time.time()
    start_time = datetime.datetime.now(datetime.timezone.utc)
    config = configlib.validate(config, model=model, dataset_given=dataset is not None)
    parallel.initialize_distributed(**config.distributed)
    if model is not None:  # record what actually runs
        config.model = f"{type(model).__module__}.{type(model).__qualname__}"
    if dataset is None:
        dataset = load_dataset(config)
    else:
        config.dataset = dataset.name
    strategy = parallel.strategy(config.parallel)
    setup = build(config, dataset, model, devices=strategy.devices, processes=jax.process_count())
    with workdirlib.open_workdir(workdir, main=jax.process_index() == 0) as path:
        run = _Run(setup, path, strategy)
        try:
            run.start(start_time)
            return run.train(started)
        finally:
            run.close()


def load_dataset(config: ml_collections.ConfigDict) -> datalib.Dataset:
    """config.dataset; config.data_dir names the IDX directory for the IDX datasets (unless idx_dir is set)."""
    idx_dir, data_dir = config.idx_dir or None, config.data_dir or None
    if config.dataset in datalib.IDX_DATASETS and idx_dir is None:
        idx_dir, data_dir = data_dir, None
    return datalib.load_dataset(config.dataset, data_dir=data_dir, idx_dir=idx_dir)


class _Run:
    """One run's compiled steps, state and files; `train` is the loop."""

    def __init__(self, setup: Setup, workdir: Path, strategy: parallel.Jit):
        self.setup, self.config, self.plan, self.task = setup, setup.config, setup.plan, setup.task
        self.workdir, self.strategy = workdir, strategy
        self.is_main = jax.process_index() == 0
        self.train_step = strategy.compile_train(setup.train_step)
        k = self.plan.steps_per_call  # > 1: groups of k steps in one call where no action falls inside
        self.train_steps = strategy.compile_train(steplib.unrolled(setup.train_step, k)) if k > 1 else None
        self.eval_step = strategy.compile_eval(setup.eval_step)
        self.config_hash = resume.config_hash(self.config)
        self.checkpointer = Checkpointer(workdir / "checkpoints", keep=self.config.checkpoint_keep)
        keys = ("step", "loss", self.task.train_metric, "learning_rate", "finite")
        self.pending = PendingMetrics(keys, self.config.batch_size)
        self.last_evaluation: dict[str, Any] | None = None
        self.state, meta = self._init_or_restore()
        self.start_step = int(jax.device_get(strategy.local(self.state).step))
        self.writer = None  # only process 0 writes files
        if self.is_main:  # records lost from metrics.jsonl come back from the checkpoint
            self.writer = MetricsWriter(
                workdir, resume_step=self.start_step, saved_records=meta.get("records"),
                tensorboard=self.config.tensorboard, report=self._message,
            )
        self.progress = Progress(total=self.plan.total_steps, initial=self.start_step, enabled=self.is_main,
                                 metric=self.task.train_metric)
        self._signal: int | None = None

    # ----------------------------------------------------------------------------------------------- state
    def _init_or_restore(self) -> tuple[Any, dict[str, Any]]:
        """(state, checkpoint meta): a fresh state and {}, or the newest intact checkpoint's after checking it was
        written by this config (unreadable newer ones are reported and set aside; its pending metrics, not yet in
        a record, come back too)."""
        abstract = jax.eval_shape(self.setup.init)
        sharding = self.strategy.state_sharding
        if sharding is not None:
            abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), abstract)
        restored = self.checkpointer.restore_latest(
            abstract, required_meta=("config_hash", "config", "pending_metrics"), report=self._message,
            check_meta=lambda meta: resume.check_same_config(meta, self.config, self.checkpointer.directory),
        )
        if restored is None:
            self.last_checkpoint = None
            return self.strategy.init(self.setup.init), {}
        state, meta, self.last_checkpoint = restored
        self.pending = PendingMetrics(self.pending.keys, self.config.batch_size, saved=meta["pending_metrics"])
        return self.strategy.put_state(state), meta

    def _message(self, text: str) -> None:
        if self.is_main:
            print(text, flush=True)

    def _save(self, step: int) -> None:
        plan = self.plan
        meta = {
            "step": step,
            "epoch": step // plan.steps_per_epoch,
            "batch_in_epoch": step % plan.steps_per_epoch,
            "steps_per_epoch": plan.steps_per_epoch,
            "shuffle_seed": self.setup.shuffle_seed,
            "config_hash": self.config_hash,
            "config": resume.hashed_settings(self.config),
            "pending_metrics": self.pending.state_dict(),
            "model_options": self.setup.model_options,
            "input_shape": list(self.setup.preprocess.input_shape),
            "records": self.writer.records if self.writer else [],  # to restore a lost metrics.jsonl
        }
        self.checkpointer.save(self.strategy.local(self.state), meta)
        self.last_checkpoint = step

    # ----------------------------------------------------------------------------------------------- data
    def _train_batches(self, epoch: int, start_batch: int) -> Iterator[Any]:
        batches = datalib.batches(
            self.setup.train_source, self.setup.local_batch, seed=self.setup.shuffle_seed, epoch=epoch,
            start_batch=start_batch, shard_index=jax.process_index(), shard_count=jax.process_count(),
        )
        return parallel.prefetch(batches, self.strategy.put_batch)

    def evaluate(self) -> dict[str, float]:
        """The task's metrics over the evaluation split (padded batches; every process takes part), named
        'test_*', or 'validation_*' when the run holds out validation examples."""
        batches = datalib.padded_batches(
            self.setup.test_source, self.setup.local_eval_batch, shard_index=jax.process_index(),
            shard_count=jax.process_count(),
        )
        totals = None
        for batch in parallel.prefetch(batches, self.strategy.put_batch):
            sums = self.eval_step(self.state, batch)
            totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
        metrics = self.task.summarize(self.strategy.to_host(totals))
        return {f"{self.setup.eval_split}_{k.removeprefix('test_')}": v for k, v in metrics.items()}

    # ----------------------------------------------------------------------------------------------- loop
    def start(self, start_time: datetime.datetime) -> None:
        """Compiles the train step ahead of time (timed apart, so that img/s measures training only), then writes
        config.json and the manifest (process 0)."""
        began = time.perf_counter()
        abstract_batch = self.strategy.abstract_batch(self.setup.local_batch, self.setup.dataset.image_shape)
        self.train_step = self.train_step.lower(self.state, abstract_batch).compile()
        if self.train_steps is not None:
            batches = [abstract_batch] * self.plan.steps_per_call
            self.train_steps = self.train_steps.lower(self.state, *batches).compile()
        self.compile_seconds: float | None = time.perf_counter() - began  # None once a record carries it
        if not self.is_main:
            return
        text = json.dumps(self.config.to_dict(), indent=2, default=str) + "\n"
        (self.workdir / "config.json").write_text(text)
        write_manifest(self.workdir, config_hash=self.config_hash, start_time=start_time,
                       resumed_from=self.start_step, data_files=self.setup.dataset.files,
                       compile_seconds=self.compile_seconds)
        if self.start_step:
            self.progress.message(f"resuming from the checkpoint of step {self.start_step} in {self.workdir}")

    def train(self, started: float) -> dict[str, Any]:
        """The loop: batches -> train_step -> the plan's actions; then the final evaluation and the last line."""
        step = self.start_step
        self.pending.restart()  # img/s counts from here, after compilation
        with self._signals():
            while step < self.plan.total_steps:
                epoch, start_batch = divmod(step, self.plan.steps_per_epoch)
                batches = self._train_batches(epoch, start_batch)
                while group := list(itertools.islice(batches, planlib.steps_in_call(step, self.plan))):
                    if len(group) == 1:
                        self.state, metrics = self.train_step(self.state, group[0])
                    else:
                        self.state, metrics = self.train_steps(self.state, *group)
                    step += len(group)
                    self.pending.add(metrics, steps=len(group))
                    if self._act(step, planlib.actions(step, self.plan, interrupted=self._signal is not None)):
                        break
                if self._signal is not None:
                    self.checkpointer.wait()
                    raise Interrupted(self._signal, step, self.workdir)
                if step == self.plan.stop_after_step:
                    self.checkpointer.wait()
                    last = self.writer.records[-1] if self.writer and self.writer.records else {}
                    return {**last, "step": step, "stopped": True}
        return self._finish(step, started)

    def _act(self, step: int, actions: planlib.Actions) -> bool:
        """Logs, evaluates and checkpoints as `actions` say; True when training stops here."""
        if actions.log:
            self._log(step, actions.evaluate)
        elif actions.checkpoint:
            self._check_finite(self.pending.pull())
        if actions.checkpoint:
            self._save(step)
        if actions.log or actions.checkpoint:
            self.pending.restart()  # img/s measures training only
        return actions.stop

    def _check_finite(self, values: dict[str, np.ndarray]) -> None:
        """Raises (unless config.skip_nonfinite) naming the first step whose loss or gradient was not finite."""
        finite = values["finite"]
        if finite.all() or self.config.skip_nonfinite:
            return
        first = int(np.argmin(finite))
        kept = (
            f"the last good checkpoint is step {self.last_checkpoint} in {self.checkpointer.directory}"
            if self.last_checkpoint is not None else "no checkpoint was saved yet"
        )
        self.checkpointer.wait()
        raise FloatingPointError(
            f"non-finite training loss or gradient at step {int(values['step'][first])} (loss "
            f"{values['loss'][first]}); {kept}. Lower the learning rate, clip gradients (config.grad_clip_norm), "
            f"or set config.skip_nonfinite=True to skip such steps."
        )

    def _log(self, step: int, evaluate: bool) -> None:
        """Writes the record of the steps since the last one (fetched from the device here, and only here)."""
        values = self.pending.pull()
        self._check_finite(values)
        self.pending.clear()
        ok = values["finite"] if values["finite"].any() else np.ones_like(values["finite"])
        metric = self.task.train_metric
        record = {
            "step": step,
            "epoch": step / self.plan.steps_per_epoch,
            "train_loss": float(values["loss"][ok].mean()),
            f"train_{metric}": float(values[metric][ok].mean()),
            "learning_rate": float(values["learning_rate"][-1]),
            "images_per_sec": self.pending.images_per_sec(),
        }
        if self.config.skip_nonfinite:
            record["nonfinite_steps"] = int(self.strategy.to_host(self.state.nonfinite_steps))
        if self.compile_seconds is not None:  # the first record of this process says what compiling took
            record["compile_seconds"], self.compile_seconds = self.compile_seconds, None
        self.progress.update(record)
        if evaluate:
            record.update(self.evaluate())
            self.last_evaluation = record
            main = f"{self.setup.eval_split}_{self.task.main_metric}"
            self.progress.message(
                f"epoch {record['epoch']:.2f} step {step}: {self.setup.eval_split}_loss "
                f"{record[self.setup.eval_split + '_loss']:.4f} "
                f"{main} {record[main]:.4f}"
            )
        if self.writer:
            self.writer.write(record)

    def _finish(self, step: int, started: float) -> dict[str, Any]:
        """The final checkpoint and the last line; the final record was written at the last step."""
        if self.last_checkpoint != step:
            self._save(step)
        self.checkpointer.wait()
        self.progress.close()
        final = self.last_evaluation
        if final is None or final["step"] != step:  # resumed at the end: evaluate again (every process takes part)
            previous = self.writer.records[-1] if self.writer and self.writer.records else {}
            final = {**previous, "step": step, "epoch": step / self.plan.steps_per_epoch, **self.evaluate()}
        wall = time.time() - started
        nonfinite = int(self.strategy.to_host(self.state.nonfinite_steps))
        main = f"{self.setup.eval_split}_{self.task.main_metric}"
        result = {**final, "nonfinite_steps": nonfinite, "wall_time": wall}
        if self.is_main:
            finish_manifest(self.workdir, end_time=datetime.datetime.now(datetime.timezone.utc), metrics=result)
            print(f"{main}: {final[main]:.4f} (wall time {wall:.1f} s)", flush=True)
        return result

    @contextlib.contextmanager
    def _signals(self):
        """SIGTERM/SIGINT set a flag; the loop then saves a checkpoint of the current step and raises Interrupted.
        A second signal before that raises KeyboardInterrupt at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._signal is not None:  # a second signal: stop now, without a checkpoint
                raise KeyboardInterrupt
            self._signal = signum

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def close(self) -> None:
        self.progress.close()
        self.checkpointer.close()
        if self.writer:
            self.writer.close()
