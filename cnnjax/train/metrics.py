"""What a run writes and shows: metrics.jsonl, manifest.json, optional TensorBoard events, progress output."""

from __future__ import annotations

import datetime
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import tqdm

from cnnjax import backend, environment
from cnnjax import data as datalib

LIBRARIES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "cnnjax")


class MetricsWriter:
    """Appends one JSON record per line to `workdir/metrics.jsonl` (and to TensorBoard when asked).

    On resumption from step S, records after S (written after the checkpoint the run resumes from) are dropped,
    so the file continues without duplicates. Each checkpoint carries the records up to its step (`records`,
    saved with it as `saved_records`): a file that is missing, damaged, shorter or different up to S is rewritten
    from them, with a message; without them (a checkpoint of an older cnnjax) a missing or damaged file is an
    error.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        resume_step: int,
        saved_records: list[dict[str, Any]] | None = None,
        tensorboard: bool = False,
        report: Callable[[str], None] | None = None,
    ):
        self.path = workdir / "metrics.jsonl"
        damaged = None
        try:
            on_disk = read_records(self.path)
        except DamagedRecords as e:
            if saved_records is None:
                raise
            on_disk, damaged = [], e
        kept = [r for r in on_disk if r["step"] <= resume_step]
        if saved_records is not None and (kept != saved_records or damaged):
            if damaged:
                state = f"was damaged{'' if damaged.line is None else f' at line {damaged.line}'}: {damaged.problem}"
            elif not self.path.exists():
                state = "was missing"
            elif kept == saved_records[: len(kept)]:
                state = f"had {len(kept)} of them"
            else:
                state = "differed from them"
            (report or _stderr)(
                f"{self.path}: restored the {len(saved_records)} records up to step {resume_step} from the "
                f"checkpoint (the file {state})"
            )
            kept = list(saved_records)
        elif saved_records is None and resume_step > 0 and not self.path.exists():
            raise ValueError(
                f"{self.path}: missing, and the checkpoint of step {resume_step} carries no records to restore it "
                f"from (written by an older cnnjax); put the file back, or use a new workdir"
            )
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        os.replace(tmp, self.path)
        self.records = kept
        self._file = self.path.open("a")
        self._tb = _tensorboard_writer(workdir) if tensorboard else None

    def write(self, record: Mapping[str, Any]) -> None:
        record = {k: _json_number(v) for k, v in record.items()}
        self.records.append(record)
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, record["step"])
            self._tb.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


class DamagedRecords(ValueError):
    """A metrics.jsonl that is not one record of training per line; `line` (1-based, None for the whole file) and
    `problem` say where and what."""

    def __init__(self, path: Path, line: int | None, problem: str):
        self.line, self.problem = line, problem
        super().__init__(
            f"{path}{'' if line is None else f':{line}'}: {problem}; the checkpoints carry the records: "
            "running the training command again on this workdir rewrites the file from the newest one"
        )


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl ([] when absent); a torn last line (from a kill) is ignored.

    Raises:
      DamagedRecords (a ValueError): an earlier line that is not JSON, or a line that is not a record (a JSON
        object with an int 'step'), naming the file and line.
    """
    if not path.exists():
        return []
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as e:
        raise DamagedRecords(path, None, f"not text ({e})") from None
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # torn by a kill mid-write
            raise DamagedRecords(path, number, f"not valid JSON, got {line[:60]!r}") from None
        step = record.get("step") if isinstance(record, dict) else None
        if not isinstance(step, int) or isinstance(step, bool):
            raise DamagedRecords(
                path, number, f"expected a record of training (a JSON object with an int 'step'), got {line[:60]!r}"
            )
        records.append(record)
    return records


def _json_number(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _tensorboard_writer(workdir: Path):
    try:
        from tensorboardX import SummaryWriter
    except ImportError as e:
        raise ImportError("config.tensorboard=True needs tensorboardX: pip install 'cnnjax[tensorboard]'") from e
    return SummaryWriter(str(workdir / "tensorboard"))


def write_manifest(
    workdir: Path,
    *,
    config_hash: str,
    start_time: datetime.datetime,
    resumed_from: int,
    data_files: Sequence[Path] = (),
    compile_seconds: float | None = None,
) -> None:
    """manifest.json: library versions, devices, config hash, command line, working directory, start time, the
    data files' fingerprint (`cnnjax.data.fingerprint_files`), the step's compile time, the backend profile in effect
    (`cnnjax.backend.configuration()`: XLA flags, CPU formulations) and the environment's fingerprint
    (`cnnjax.environment.fingerprint()`: CPU, ISA class, versions, numerics, git commit); a resumption appends
    {'start_time', 'command', 'cwd', 'step', 'compile_seconds', 'environment'} to 'resumptions'."""
    path = workdir / "manifest.json"
    fingerprint = environment.fingerprint()
    entry = {
        "start_time": start_time.isoformat(timespec="seconds"),
        "command": sys.argv,
        "cwd": os.getcwd(),
        "step": resumed_from,
        "compile_seconds": compile_seconds,
        "environment": fingerprint,
    }
    if path.exists() and resumed_from > 0:
        manifest = read_manifest(path)
        manifest.setdefault("resumptions", []).append(entry)
    else:
        manifest = {
            "versions": {name: fingerprint["versions"][name] for name in LIBRARIES},
            "device_kind": jax.devices()[0].device_kind,
            "device_count": jax.device_count(),
            "process_count": jax.process_count(),
            "config_hash": config_hash,
            "command": sys.argv,
            "cwd": entry["cwd"],
            "start_time": entry["start_time"],
            "python": fingerprint["versions"]["python"],
            "data_files": datalib.fingerprint_files(data_files),
            "compile_seconds": compile_seconds,
            "backend": backend.configuration(),  # the profile, XLA_FLAGS and CPU formulations in effect
            "environment": fingerprint,  # machine, versions, numerics, git commit: why two runs' bits differ
        }
    _write_json(path, manifest)


def finish_manifest(workdir: Path, *, end_time: datetime.datetime, metrics: Mapping[str, Any]) -> None:
    """Adds the end time and the final metrics to manifest.json (a resumed run's end replaces the earlier)."""
    path = workdir / "manifest.json"
    manifest = read_manifest(path)
    manifest["end_time"] = end_time.isoformat(timespec="seconds")
    manifest["final_metrics"] = {k: _json_number(v) for k, v in metrics.items()}
    _write_json(path, manifest)


def read_manifest(path: Path) -> dict[str, Any]:
    """A run's manifest.json ({} when absent); ValueError naming the file when it is not a JSON object."""
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); move it away to start a new manifest") from None
    if not isinstance(manifest, dict):
        raise ValueError(
            f"{path}: expected a JSON object (the manifest that training writes), got "
            f"{type(manifest).__name__}; move it away to start a new manifest"
        )
    return manifest


def _write_json(path: Path, value: Any) -> None:
    """Writes atomically (a kill leaves the old file or the new one, never a torn one)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Progress:
    """A tqdm bar with loss, the training metric (`metric`: record['train_<metric>']) and img/s on a terminal;
    plain log lines otherwise (or when not process 0)."""

    def __init__(
        self, *, total: int, initial: int, enabled: bool = True, tty: bool | None = None, metric: str = "accuracy"
    ):
        self.enabled = enabled
        self.metric = metric
        self.total = total
        tty = sys.stderr.isatty() if tty is None else tty
        show_bar = enabled and tty
        self._bar = tqdm.tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True) if show_bar else None

    def update(self, record: Mapping[str, Any]) -> None:
        """Shows a training record (advances the bar to record['step'])."""
        if not self.enabled:
            return
        if self._bar is not None:  # the values first, then the step: the bar never shows a step with older values
            self._bar.set_postfix(
                loss=f"{record['train_loss']:.4f}",
                **{self.metric[:3]: f"{record['train_' + self.metric]:.4f}"},
                img_s=f"{record['images_per_sec']:.0f}",
                refresh=False,
            )
            self._bar.update(record["step"] - self._bar.n)
            self._bar.refresh()  # `update` may skip drawing (tqdm's mininterval): records are rare, draw each
        else:
            print(
                f"step {record['step']}/{self.total} epoch {record['epoch']:.2f} loss {record['train_loss']:.4f} "
                f"{self.metric} {record['train_' + self.metric]:.4f} lr {record['learning_rate']:.3g} "
                f"img/s {record['images_per_sec']:.0f}",
                flush=True,
            )

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class PendingMetrics:
    """The per-step training metrics since the last record: device arrays until `pull` fetches them, then host
    values. `keys` are the step's metrics ('step', 'loss', the task's training metric, 'learning_rate', 'finite').

    The host values are saved with each checkpoint (`state_dict`), so a resumed run writes the same records.
    """

    def __init__(self, keys: tuple[str, ...], images_per_step: int, saved: dict[str, list] | None = None):
        self.keys = keys
        self.images_per_step = images_per_step
        self.pending: list[dict[str, Any]] = []
        self.host = {k: list(saved[k]) for k in keys} if saved else {k: [] for k in keys}
        self.steps_timed = 0
        self.since = time.perf_counter()

    def add(self, metrics: dict[str, Any], steps: int = 1) -> None:
        """One call's metrics: of one step, or of `steps` steps stacked on their last axis (`step.unrolled`)."""
        self.pending.append((metrics, steps))
        self.steps_timed += steps

    def pull(self) -> dict[str, np.ndarray]:
        """Fetches the pending metrics; returns {key: (steps,) array} of every step since the last record."""
        for metrics, steps in jax.device_get(self.pending):
            for key in self.keys:
                self.host[key].extend(np.asarray(metrics[key]).reshape(steps).tolist())
        self.pending = []
        return {k: np.asarray(v) for k, v in self.host.items()}

    def clear(self) -> None:
        self.host = {k: [] for k in self.keys}

    def state_dict(self) -> dict[str, list]:
        """The fetched values not yet in a record (JSON-serialisable)."""
        return {k: list(v) for k, v in self.host.items()}

    def restart(self) -> None:
        """Starts timing anew (img/s measures training only)."""
        self.since, self.steps_timed = time.perf_counter(), 0

    def images_per_sec(self) -> float:
        elapsed = time.perf_counter() - self.since
        return self.steps_timed * self.images_per_step / elapsed if elapsed > 0 else 0.0
