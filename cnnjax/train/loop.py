"""`train_and_evaluate(config, workdir)`: the loop around the jitted steps (I/O, logging, checkpoints only).

Workdir: config.json, manifest.json, metrics.jsonl, checkpoints/<step>/ (orbax), tensorboard/ (optional). A run
started on a workdir that holds a checkpoint resumes from it exactly: state, root key and data position
(epoch, batch in epoch) all follow from the restored step, and the same config (hash) is required.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
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
from cnnjax import models as modellib
from cnnjax import parallel
from cnnjax.train import config as configlib
from cnnjax.train import rng as rnglib
from cnnjax.train import workdir as workdirlib
from cnnjax.train.checkpoint import Checkpointer
from cnnjax.train.metrics import MetricsWriter, Progress, finish_manifest, write_manifest
from cnnjax.train.optim import make_optimizer, make_schedule, regularization_loss
from cnnjax.train.preprocess import make_preprocess
from cnnjax.train.state import TrainState, create_train_state
from cnnjax.train.step import eval_step, train_step


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
    """Trains `config.model` on `config.dataset`, evaluating on the test split; resumes from `workdir` if it holds
    a checkpoint.

    Args:
      config: a config (keys of `config.default_config()`; missing keys take its values).
      workdir: where the run's files go; created if needed.
      dataset: use this Dataset (e.g. from `data.from_arrays`) instead of loading `config.dataset`.
      model: use this Flax module instead of `models.create(config.model, ...)`.

    Returns:
      The final metrics: step, epoch, train_loss, train_accuracy, test_loss, test_accuracy, wall_time,
      nonfinite_steps (or, after `config.stop_after_step`, the metrics so far with 'stopped': True).
    """
    started = time.time()
    start_time = datetime.datetime.now(datetime.timezone.utc)
    config = configlib.validate(config)
    parallel.initialize_distributed(**config.distributed)
    # [H4 hook: workdir] created if needed, held by this run alone, removed if the run fails before writing
    with workdirlib.open_workdir(workdir, main=jax.process_index() == 0) as workdir:
        if model is None:
            _check_choice("config.model", config.model, modellib.list_models())
        else:  # record what actually runs
            config.model = f"{type(model).__module__}.{type(model).__qualname__}"
        if config.parallel not in ("jit", "pmap"):
            raise ValueError(f"config.parallel: expected 'jit' or 'pmap', got {config.parallel!r}")
        if dataset is None:
            dataset = _load_dataset(config)
        else:
            config.dataset = dataset.name
        run = _Run(config, workdir, dataset, model)
        try:
            return run.train(started, start_time)
        finally:
            run.close()


def _check_choice(name: str, value: str, valid: list[str]) -> None:
    if value not in valid:
        raise ValueError(f"{name}: expected one of {valid}, got {value!r}")


def _load_dataset(config: ml_collections.ConfigDict) -> datalib.Dataset:
    """config.dataset; config.data_dir names the IDX directory for the IDX datasets (unless idx_dir is set)."""
    _check_choice("config.dataset", config.dataset, list(datalib.list_datasets()))
    idx_dir, data_dir = config.idx_dir or None, config.data_dir or None
    if config.dataset in datalib.IDX_DATASETS and idx_dir is None:
        idx_dir, data_dir = data_dir, None
    return datalib.load_dataset(config.dataset, data_dir=data_dir, idx_dir=idx_dir)


def _head(source: datalib.Source, limit: int) -> datalib.Source:
    """The first `limit` examples of `source` (all when limit is 0)."""
    if limit <= 0 or limit >= len(source):
        return source
    if isinstance(source, datalib.ArraySource):
        return datalib.ArraySource(source.images[:limit], source.labels[:limit])
    return _Head(source, limit)


class _Head:
    """The first `limit` examples of a random-access source."""

    def __init__(self, source: datalib.Source, limit: int):
        self.source, self.limit = source, limit

    def __len__(self) -> int:
        return self.limit

    def __getitem__(self, index: int):
        if not 0 <= index < self.limit:
            raise IndexError(index)
        return self.source[index]


class _Run:
    """One training run: the compiled steps, the data, the state, and the files."""

    def __init__(self, config, workdir: Path, dataset, model: nn.Module | None):
        self.config, self.workdir, self.dataset = config, workdir, dataset
        self.is_main = jax.process_index() == 0
        self.processes, self.process_index = jax.process_count(), jax.process_index()
        self.pmap = config.parallel == "pmap"
        devices = jax.local_device_count() * self.processes if self.pmap else jax.device_count()
        parallel.check_batch_size(config.batch_size, "config.batch_size", devices=devices, processes=self.processes)
        parallel.check_batch_size(
            config.eval_batch_size, "config.eval_batch_size", devices=devices, processes=self.processes
        )
        self.train_source = _head(dataset.train, config.limit_train)
        self.test_source = _head(dataset.test, config.limit_test)
        self.local_batch = config.batch_size // self.processes
        self.local_eval_batch = config.eval_batch_size // self.processes
        self.images_per_step = config.batch_size
        self.steps_per_epoch = datalib.num_batches(self.train_source, self.local_batch, shard_count=self.processes)
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"config.batch_size: expected at most the {len(self.train_source)} training examples, "
                f"got {config.batch_size}"
            )
        self.total_steps = config.num_steps if config.num_steps > 0 else config.num_epochs * self.steps_per_epoch
        if self.total_steps <= 0:
            raise ValueError(
                "config.num_epochs / num_steps: expected a positive length, got "
                f"{config.num_epochs} / {config.num_steps}"
            )
        if model is None:
            model = modellib.create(config.model, num_classes=dataset.num_classes, **config.model_options)
        self.model = model

        root = rnglib.root_key(config.seed)
        self.shuffle_seed = rnglib.shuffle_seed(root)
        schedule = make_schedule(config, steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps)
        tx = make_optimizer(config, schedule, steps_per_epoch=self.steps_per_epoch)
        preprocess_train, preprocess_eval, input_shape = make_preprocess(config.augment, dataset)
        self.config_hash = configlib.config_hash(config)

        step_fn = functools.partial(
            train_step, model=model, tx=tx, schedule=schedule, preprocess=preprocess_train,
            regularization=functools.partial(regularization_loss, config=config),
            label_smoothing=config.label_smoothing, max_norm=config.regularization.max_norm,
            skip_nonfinite=config.skip_nonfinite,
        )
        eval_fn = functools.partial(eval_step, model=model, preprocess=preprocess_eval)
        init_fn = functools.partial(create_train_state, model, tx, root, input_shape)
        if self.pmap:
            axis = parallel.PMAP_AXIS
            self.train_step = jax.pmap(functools.partial(step_fn, axis_name=axis), axis_name=axis, donate_argnums=0)
            self.eval_step = jax.pmap(functools.partial(eval_fn, axis_name=axis), axis_name=axis)
            state_sharding = None  # the state lives on one device between restoring and `replicate`
        else:
            mesh = parallel.data_mesh()
            state_sharding = parallel.replicated(mesh)
            self.batch_sharding = parallel.batch_sharding(mesh)
            self.train_step = jax.jit(step_fn, donate_argnums=0, out_shardings=(state_sharding, state_sharding))
            self.eval_step = jax.jit(eval_fn, out_shardings=state_sharding)

        self.checkpointer = Checkpointer(workdir / "checkpoints", keep=config.checkpoint_keep)
        self.interval = _Interval(self.images_per_step)
        self.last_evaluation: dict[str, Any] | None = None
        # [H4 hook: restore] the newest intact checkpoint (unreadable newer ones reported and set aside)
        abstract = jax.eval_shape(init_fn)
        if state_sharding is not None:
            abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=state_sharding), abstract)
        restored = self.checkpointer.restore_latest(
            abstract, required_meta=("config_hash", "config", "pending_metrics"), check_meta=self._check_meta,
            report=self._message,
        )
        if restored is None:
            self.last_checkpoint, saved_records = None, None
            state = jax.jit(init_fn, out_shardings=state_sharding)()
        else:
            state, meta, self.last_checkpoint = restored
            self.interval = _Interval(self.images_per_step, saved=meta["pending_metrics"])
            saved_records = meta.get("records")
        self.state = parallel.replicate(state) if self.pmap else state
        self.start_step = int(jax.device_get(state.step))
        self.writer = None  # only process 0 writes files
        if self.is_main:  # [H4 hook: records] restored from the checkpoint when metrics.jsonl lost some
            self.writer = MetricsWriter(
                workdir, resume_step=self.start_step, saved_records=saved_records, tensorboard=config.tensorboard,
                report=self._message,
            )
        self.progress = Progress(total=self.total_steps, initial=self.start_step, enabled=self.is_main)
        self._signal: int | None = None

    # ----------------------------------------------------------------------------------------------- state
    def _host_state(self) -> TrainState:
        return parallel.unreplicate(self.state) if self.pmap else self.state

    def _check_meta(self, meta: dict[str, Any]) -> None:
        """A checkpoint must have been written by this config."""
        if meta["config_hash"] != self.config_hash:
            changed = configlib.differences(meta["config"], configlib.hashed_settings(self.config))
            raise ValueError(
                f"config: the checkpoint in {self.checkpointer.directory} was written with config hash "
                f"{meta['config_hash']}, this run has {self.config_hash}; changed settings (checkpoint -> now): "
                f"{changed}. Use a new workdir, or the checkpoint's settings to resume."
            )

    def _message(self, text: str) -> None:
        if self.is_main:
            print(text, flush=True)

    def _save(self, step: int) -> None:
        meta = {
            "step": step,
            "epoch": step // self.steps_per_epoch,
            "batch_in_epoch": step % self.steps_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "shuffle_seed": self.shuffle_seed,
            "config_hash": self.config_hash,
            "config": configlib.hashed_settings(self.config),
            "pending_metrics": self.interval.state_dict(),
            "records": self.writer.records if self.writer else [],  # [H4 hook: records] to restore metrics.jsonl
        }
        self.checkpointer.save(self._host_state(), meta)
        self.last_checkpoint = step

    # ----------------------------------------------------------------------------------------------- data
    def _to_device(self, batch: dict[str, np.ndarray]) -> Any:
        if self.pmap:
            return parallel.split_for_devices(batch, jax.local_device_count())
        return parallel.to_global(batch, self.batch_sharding)

    def _train_batches(self, epoch: int, start_batch: int) -> Iterator[Any]:
        batches = datalib.batches(
            self.train_source, self.local_batch, seed=self.shuffle_seed, epoch=epoch, start_batch=start_batch,
            shard_index=self.process_index, shard_count=self.processes,
        )
        return parallel.prefetch(batches, self._to_device)

    def _eval_batches(self) -> Iterator[Any]:
        """Padded to full batches with a 'mask'; every process yields the same number of batches."""
        size = self.local_eval_batch
        count = datalib.num_batches(self.test_source, size, drop_remainder=False, shard_count=self.processes)
        batches = datalib.batches(
            self.test_source, size, seed=0, epoch=0, shuffle=False, drop_remainder=False,
            shard_index=self.process_index, shard_count=self.processes,
        )
        image_shape = tuple(self.dataset.image_shape)

        def padded():
            for _ in range(count):
                batch = next(batches, None) or {
                    "image": np.zeros((0, *image_shape), np.uint8), "label": np.zeros((0,), np.int32)
                }
                n = len(batch["label"])
                yield {
                    "image": np.pad(batch["image"], [(0, size - n)] + [(0, 0)] * 3),
                    "label": np.pad(batch["label"], (0, size - n)),
                    "mask": np.arange(size) < n,
                }

        return parallel.prefetch(padded(), self._to_device)

    # ----------------------------------------------------------------------------------------------- loop
    def evaluate(self) -> dict[str, float]:
        totals = None
        for batch in self._eval_batches():
            sums = self.eval_step(self.state, batch)
            totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
        totals = jax.device_get(parallel.unreplicate(totals) if self.pmap else totals)
        count = float(totals["count"])
        return {"test_loss": float(totals["loss_sum"]) / count, "test_accuracy": float(totals["correct"]) / count}

    def train(self, started: float, start_time: datetime.datetime) -> dict[str, Any]:
        self._compile()
        if self.is_main:
            (self.workdir / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2, default=str) + "\n")
            write_manifest(  # [H4 hook: manifest] + data files' fingerprint, compile time
                self.workdir, config_hash=self.config_hash, start_time=start_time, resumed_from=self.start_step,
                data_files=self.dataset.files, compile_seconds=self.compile_seconds,
            )
            if self.start_step:
                self.progress.message(f"resuming from the checkpoint of step {self.start_step} in {self.workdir}")
        step = self.start_step
        self.interval.restart()  # [H4 hook: compile] img/s counts from here, after compilation
        with self._signals():
            while step < self.total_steps:
                epoch, start_batch = divmod(step, self.steps_per_epoch)
                for batch in self._train_batches(epoch, start_batch):
                    self.state, metrics = self.train_step(self.state, batch)
                    step += 1
                    self.interval.add(metrics)
                    if self._after_step(step):
                        break
                if self._signal is not None:
                    self.checkpointer.wait()
                    raise Interrupted(self._signal, step, self.workdir)
                if step == self.config.stop_after_step:
                    self.checkpointer.wait()
                    return {**(self.writer.records[-1] if self.writer and self.writer.records else {}), "step": step,
                            "stopped": True}
        return self._finish(step, started)

    def _compile(self) -> None:
        """[H4 hook: compile] Compiles the train step ahead of time, timed apart (compile_seconds in the manifest
        and the first record) so that img/s measures training only."""
        batch, shape = self.config.batch_size, tuple(self.dataset.image_shape)
        if self.pmap:
            devices = jax.local_device_count()
            specs = {"image": ((devices, self.local_batch // devices, *shape), np.uint8, None),
                     "label": ((devices, self.local_batch // devices), np.int32, None)}
        else:
            specs = {"image": ((batch, *shape), np.uint8, self.batch_sharding),
                     "label": ((batch,), np.int32, self.batch_sharding)}
        abstract = {k: jax.ShapeDtypeStruct(s, d, sharding=sh) for k, (s, d, sh) in specs.items()}
        began = time.perf_counter()
        self.train_step = self.train_step.lower(self.state, abstract).compile()
        self.compile_seconds = time.perf_counter() - began
        self.compile_logged = False

    def _after_step(self, step: int) -> bool:
        """Logging, evaluation and checkpointing after `step`; True when training stops here."""
        config = self.config
        end_of_epoch = step % self.steps_per_epoch == 0
        stop = self._signal is not None or step == config.stop_after_step or step == self.total_steps
        every_epochs = config.eval_every_epochs
        evaluate = step == self.total_steps or (
            end_of_epoch and every_epochs > 0 and (step // self.steps_per_epoch) % every_epochs == 0
        )
        log = evaluate or end_of_epoch or step % config.log_every_steps == 0
        every = config.checkpoint_every_steps
        checkpoint = stop or (step % every == 0 if every > 0 else end_of_epoch)
        if log:
            self._log(step, evaluate)
        elif checkpoint:
            self._check_finite(self.interval.pull())
        if checkpoint:
            self._save(step)
        if log or checkpoint:
            self.interval.restart()  # img/s measures training only
        return stop

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
        values = self.interval.pull()
        self._check_finite(values)
        self.interval.clear()
        ok = values["finite"] if values["finite"].any() else np.ones_like(values["finite"])
        record = {
            "step": step,
            "epoch": step / self.steps_per_epoch,
            "train_loss": float(values["loss"][ok].mean()),
            "train_accuracy": float(values["accuracy"][ok].mean()),
            "learning_rate": float(values["learning_rate"][-1]),
            "images_per_sec": self.interval.images_per_sec(),
        }
        if self.config.skip_nonfinite:
            record["nonfinite_steps"] = int(jax.device_get(self._host_state().nonfinite_steps))
        if not self.compile_logged:  # [H4 hook: compile] the first record of this process says what compiling took
            record["compile_seconds"], self.compile_logged = self.compile_seconds, True
        self.progress.update(record)
        if evaluate:
            record.update(self.evaluate())
            self.last_evaluation = record
            self.progress.message(
                f"epoch {record['epoch']:.2f} step {step}: test_loss {record['test_loss']:.4f} "
                f"test_accuracy {record['test_accuracy']:.4f}"
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
            final = {**previous, "step": step, "epoch": step / self.steps_per_epoch, **self.evaluate()}
        wall = time.time() - started
        nonfinite = int(jax.device_get(self._host_state().nonfinite_steps))
        result = {**final, "nonfinite_steps": nonfinite, "wall_time": wall}
        if self.is_main:
            finish_manifest(  # [H4 hook: manifest] the end time and the final metrics
                self.workdir, end_time=datetime.datetime.now(datetime.timezone.utc), metrics=result
            )
            print(f"test_accuracy: {final['test_accuracy']:.4f} (wall time {wall:.1f} s)", flush=True)
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


class _Interval:
    """The per-step metrics since the last record: device arrays until `pull` fetches them, then host values.

    The host values are saved with each checkpoint (`state_dict`), so a resumed run writes the same records.
    """

    KEYS = ("step", "loss", "accuracy", "learning_rate", "finite")

    def __init__(self, images_per_step: int, saved: dict[str, list] | None = None):
        self.images_per_step = images_per_step
        self.pending: list[tuple[int, dict[str, jax.Array]]] = []
        self.host = {k: list(saved[k]) for k in self.KEYS} if saved else {k: [] for k in self.KEYS}
        self.steps_timed = 0
        self.since = time.perf_counter()

    def add(self, metrics: dict[str, jax.Array]) -> None:
        self.pending.append(metrics)
        self.steps_timed += 1

    def pull(self) -> dict[str, np.ndarray]:
        """Fetches the pending metrics; returns {key: (steps,) array} of every step since the last record."""
        for metrics in jax.device_get(self.pending):
            for key in self.KEYS:
                self.host[key].append(np.asarray(metrics[key]).reshape(-1)[0].item())
        self.pending = []
        return {k: np.asarray(v) for k, v in self.host.items()}

    def clear(self) -> None:
        self.host = {k: [] for k in self.KEYS}

    def state_dict(self) -> dict[str, list]:
        """The fetched values not yet in a record (JSON-serialisable)."""
        return {k: list(v) for k, v in self.host.items()}

    def restart(self) -> None:
        self.since, self.steps_timed = time.perf_counter(), 0

    def images_per_sec(self) -> float:
        elapsed = time.perf_counter() - self.since
        return self.steps_timed * self.images_per_step / elapsed if elapsed > 0 else 0.0
