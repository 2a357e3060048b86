"""Checkpoints with orbax: the whole TrainState plus a JSON record of the run (step, data position, config hash).

Layout: `workdir/checkpoints/<step>/{state, meta}`, the newest `keep` kept. Saving is asynchronous (orbax copies
the arrays off the device before `save` returns); a checkpoint that was being written when the process died is
never listed (orbax writes into a temporary folder and renames it when complete), so a restart resumes from the
last complete one.

A complete checkpoint can still be damaged later (a disk fault, a truncated copy, a deleted file). Orbax and
TensorStore detect much of that (unparsable JSON, missing files, checksums of OCDBT's index) but not all: zeroed
bytes inside a large compressed array chunk can decode to wrong numbers silently. So each checkpoint's meta also
carries a fingerprint of the saved arrays (computed on the device), compared after restoring.
`restore_latest` falls back past unreadable checkpoints to the newest intact one and moves the bad ones to
`checkpoints/unreadable/<step>` (with a `why.txt`), deleting nothing; orbax lists only folders named by a step
number, so the moved ones are out of its way.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import flax.serialization
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from cnnjax import logs
from cnnjax.train.state import TrainState

UNREADABLE = "unreadable"  # checkpoints/unreadable/<step>: checkpoints set aside by `restore_latest`
META_FILE = Path("meta") / "metadata"  # where orbax's JsonCheckpointHandler writes the meta of a checkpoint
STATE_INDEX = Path("state") / "_METADATA"  # the tree of saved arrays; without it orbax restores an empty tree
T = TypeVar("T")


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full file system); the message says where and what is left."""


class CheckpointError(ValueError):
    """A checkpoint cannot be read back as saved; the message names the checkpoint (or file) and the reason."""

    def __init__(self, step: int, reason: str, message: str | None = None):
        self.step, self.reason = step, reason
        super().__init__(message or f"checkpoint {step}: {reason}")


class Checkpointer:
    """Saves and restores (TrainState, meta dict) pairs under `directory`, keeping the newest `keep`.

    read_only=True: only reads (for tools that look at a run that may still be training: no folder is created,
    no half-written checkpoint of the running process is cleaned up, nothing is deleted)."""

    def __init__(self, directory: Path, *, keep: int, read_only: bool = False):
        if keep < 1:
            raise ValueError(f"config.checkpoint_keep: expected a positive number of checkpoints, got {keep!r}")
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(  # read-only: the options orbax would otherwise reset with a warning
            max_to_keep=None if read_only else keep,
            create=not read_only,
            cleanup_tmp_directories=not read_only,
            read_only=read_only,
            save_interval_steps=0 if read_only else 1,
        )
        handlers = {"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}
        with logs.absl_records_dropped(_read_only_notice) if read_only else contextlib.nullcontext():
            self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """The complete checkpoints' steps, oldest first."""
        return sorted(self._manager.all_steps())

    def save(self, state: TrainState, meta: dict[str, Any]) -> None:
        """Starts saving `state` (and `meta`, JSON-serialisable) as checkpoint `meta['step']`; the meta gets the
        state's fingerprint."""
        state_dict = flax.serialization.to_state_dict(state)
        meta = {**meta, "state_fingerprint": fingerprint(state_dict)}
        items = ocp.args.Composite(state=ocp.args.StandardSave(state_dict), meta=ocp.args.JsonSave(meta))
        self._manager.save(int(meta["step"]), args=items, force=True)

    def meta(self, step: int, required: Sequence[str] = ()) -> dict[str, Any]:
        """The JSON record saved with checkpoint `step` (cheap: no arrays are read).

        Raises:
          CheckpointError: the record is missing, not JSON, not an object, lacks a `required` key, or belongs to
            another step; the message names the file.
        """
        path = self.directory / str(step) / META_FILE
        try:
            meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except json.JSONDecodeError as e:
            raise CheckpointError(step, f"{path}: not valid JSON ({e})") from None
        except Exception as e:  # orbax raises FileNotFoundError, OSError, ValueError, ... depending on the fault
            raise CheckpointError(step, f"{path}: unreadable ({_one_line(e, self.directory / str(step))})") from None
        if not isinstance(meta, dict):
            raise CheckpointError(step, f"{path}: expected a JSON object, got {type(meta).__name__}")
        missing = [key for key in ("step", *required) if key not in meta]
        if missing:
            raise CheckpointError(step, f"{path}: missing keys {missing}")
        if meta["step"] != step:
            raise CheckpointError(
                step, f"{path}: expected 'step': {step} (the checkpoint's folder), got {meta['step']!r}"
            )
        return dict(meta)

    def restore(self, target: TrainState, step: int, meta: dict[str, Any] | None = None) -> TrainState:
        """Restores checkpoint `step` into the structure, shapes and shardings of `target` (arrays or
        `jax.ShapeDtypeStruct`s, e.g. from `jax.eval_shape`).

        Args:
          target: the state to restore into.
          step: the checkpoint.
          meta: its meta (default: read it); its fingerprint is checked against the restored arrays.

        Raises:
          ValueError: the checkpoint's arrays do not fit `target` (names each differing path and its shapes).
          CheckpointError: the checkpoint cannot be read, or reads back other arrays than were saved.
        """
        meta = self.meta(step) if meta is None else meta
        full_target, saved = flax.serialization.to_state_dict(target), self._saved_tree(step)
        # a field the checkpoint lacks may stay empty ({}): checkpoints written before the state had it read back
        target_dict = {k: v for k, v in full_target.items() if k in saved or jax.tree.leaves(v)}
        _check_fits(saved, target_dict, self.directory / str(step))
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target_dict)
        restored = self._read_state(step, ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        self._verify(step, restored, meta)
        return flax.serialization.from_state_dict(target, {**full_target, **restored})

    def restore_latest(
        self,
        target: TrainState,
        *,
        required_meta: Sequence[str] = (),
        check_meta: Callable[[dict[str, Any]], None] | None = None,
        report: Callable[[str], None] | None = None,
    ) -> tuple[TrainState, dict[str, Any], int] | None:
        """The newest checkpoint that reads back intact, as (state, meta, step); None when there is none.

        Unreadable newer checkpoints are reported (one line each: which one, why) and moved to
        `checkpoints/unreadable/<step>` (process 0 moves; every process then sees the same steps).

        Args:
          target: as for `restore`.
          required_meta: keys the meta must have (a meta without them counts as unreadable).
          check_meta: called with each readable meta before its arrays are read; what it raises (e.g. a config
            that differs from the checkpoint's) propagates: that is not a damaged checkpoint.
          report: where the messages go (default: stderr).

        Raises:
          CheckpointError: there are checkpoints but none is readable (one line naming each and why; nothing is
            moved then, since a fault that hits every checkpoint is more likely in the reading than in the files).
          ValueError: from `check_meta`, or a checkpoint that does not fit `target`.
        """
        report = report or _stderr

        def restore(step: int) -> tuple[TrainState, dict[str, Any]]:
            meta = self.meta(step, required_meta)
            if check_meta is not None:
                check_meta(meta)
            return self.restore(target, step, meta), meta

        found = self._newest_readable(
            restore, "Nothing was moved; move them away (or use another workdir) to start afresh."
        )
        if found is None:
            return None
        (state, meta), step, failures = found
        for failure in failures:
            moved = self._set_aside(failure)
            report(
                f"checkpoint {failure.step} in {self.directory} is unreadable: {failure.reason}; moved to "
                f"{moved}; resuming from checkpoint {step}"
            )
        return state, meta, step

    def read(
        self, step: int | None = None, *, report: Callable[[str], None] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Checkpoint `step` as saved, without a model: ({'step', 'params', 'batch_stats', 'opt_state', 'rng',
        'nonfinite_steps', 'ema_params' (in checkpoints that have it)} as nested dicts of arrays, meta).

        Default `step`: the newest checkpoint that reads back intact, as `restore_latest` finds it, but changing
        nothing: each newer unreadable one is reported (one line to `report`, default stderr) and left in place.

        Raises:
          ValueError: there is no checkpoint, or none of `step`.
          CheckpointError: checkpoint `step` (or, by default, every checkpoint) cannot be read back as saved.
        """
        if step is not None:
            steps = self.all_steps()
            if isinstance(step, bool) or step not in steps:
                raise ValueError(
                    f"step: expected the step of a saved checkpoint, one of {steps} in {self.directory}, "
                    f"got {step!r}; or None for the newest"
                )
            return self._read(step)
        found = self._newest_readable(self._read, "Nothing was changed.")
        if found is None:
            raise ValueError(f"step: expected a saved checkpoint, but {self.directory} holds none")
        result, newest, failures = found
        for failure in failures:
            (report or _stderr)(
                f"checkpoint {failure.step} in {self.directory} is unreadable: {failure.reason}; read checkpoint "
                f"{newest} instead (the unreadable one is left in place)"
            )
        return result

    def _newest_readable(self, read: Callable[[int], T], hint: str) -> tuple[T, int, list[CheckpointError]] | None:
        """(read(step), step, the CheckpointErrors of the newer checkpoints) for the newest step that `read`
        succeeds on; None when there is no checkpoint. What `read` raises besides CheckpointError propagates.

        Raises:
          CheckpointError: there are checkpoints but none is readable (one line naming each and why, then `hint`).
        """
        failures: list[CheckpointError] = []
        for step in reversed(self.all_steps()):
            try:
                return read(step), step, failures
            except CheckpointError as e:
                failures.append(e)
        if failures:
            reasons = "; ".join(f"{e.step}: {e.reason}" for e in failures)
            raise CheckpointError(
                failures[0].step, reasons, f"no readable checkpoint in {self.directory} (step {reasons}). {hint}"
            )
        return None

    def _read(self, step: int) -> tuple[dict[str, Any], dict[str, Any]]:
        meta = self.meta(step)
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])  # whatever topology saved it
        abstract = jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), self._saved_tree(step)
        )
        restored = self._read_state(step, ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        self._verify(step, restored, meta)
        return dict(restored), meta

    def wait(self) -> None:
        """Blocks until pending saves are on disk.

        Raises:
          CheckpointWriteError: a save failed because its file system is full (one line: the folder, the free space,
            the newest complete checkpoint); orbax's and TensorStore's logs of that failure are dropped.
        """
        try:
            with logs.absl_records_dropped(_failed_write_log), _in_flight_reads_quiet():
                self._manager.wait_until_finished()
        except Exception as e:
            if not _no_space(e):
                raise
            free = shutil.disk_usage(self.directory).free
            complete = [int(p.name) for p in self.directory.iterdir() if p.name.isdigit()]  # not the '*-tmp' ones
            newest = (
                f"checkpoint {max(complete)} is the newest complete one, and the same command resumes from it"
                if complete
                else "no checkpoint is complete, and the same command starts the run again"
            )
            raise CheckpointWriteError(
                f"checkpoint: no space left to write it in {self.directory} ({free:,} bytes free); {newest} once "
                "there is space"
            ) from None

    def close(self) -> None:
        self._manager.close()

    # ------------------------------------------------------------------------------------------------ helpers
    def _saved_tree(self, step: int) -> Any:
        """The saved arrays' metadata tree (shapes, dtypes)."""
        where = self.directory / str(step)
        if not (where / STATE_INDEX).is_file():
            raise CheckpointError(step, f"{where / STATE_INDEX} is missing (the index of the saved arrays)")
        try:
            with _in_flight_reads_quiet():
                saved = self._manager.item_metadata(step)["state"]
        except Exception as e:  # a damaged index: JSONDecodeError, ValueError from TensorStore, ...
            raise CheckpointError(step, f"state: {_one_line(e, where)}") from None
        return saved.tree if hasattr(saved, "tree") else saved

    def _read_state(self, step: int, args: ocp.args.Composite) -> dict[str, Any]:
        try:
            with _in_flight_reads_quiet():
                return self._manager.restore(step, args=args)["state"]
        except Exception as e:  # TensorStore: DATA_LOSS, NOT_FOUND, OUT_OF_RANGE, ...; orbax: various
            raise CheckpointError(step, f"state: {_one_line(e, self.directory / str(step))}") from None

    def _verify(self, step: int, restored: dict[str, Any], meta: dict[str, Any]) -> None:
        expected = meta.get("state_fingerprint")  # absent in checkpoints written before fingerprints
        if expected is not None and fingerprint(restored) != expected:
            raise CheckpointError(
                step,
                f"state: the arrays read back differ from those saved (fingerprint {fingerprint(restored)}, "
                f"saved {expected}); a data file is damaged",
            )

    def _set_aside(self, failure: CheckpointError) -> Path:
        """Moves checkpoint `failure.step` to checkpoints/unreadable/<step>[-n], with the reason in why.txt."""
        aside = self.directory / UNREADABLE
        destination, n = aside / str(failure.step), 1
        while destination.exists():
            n += 1
            destination = aside / f"{failure.step}-{n}"
        if jax.process_index() == 0:
            aside.mkdir(exist_ok=True)
            os.rename(self.directory / str(failure.step), destination)
            (destination / "why.txt").write_text(f"{failure}\n")
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"cnnjax checkpoint {failure.step} set aside")
        self._manager.reload()
        return destination


def fingerprint(tree: Any) -> str:
    """A 16-hex-digit digest of a pytree's array contents and paths, computed on the arrays' devices.

    Per leaf: the sums (mod 2^32) of its bits as uint32 words, once weighted by odd position factors (so any one
    changed word changes it) and once xor-mixed with the position; the host hashes those with the leaf paths.
    Integer arithmetic: the same on every backend and topology.
    """
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    paths = [jax.tree_util.keystr(path) for path, _ in leaves]
    sums = jax.device_get(_leaf_sums([leaf for _, leaf in leaves]))
    digest = hashlib.sha256()
    for path, (weighted, mixed) in zip(paths, sums):
        digest.update(f"{path}:{int(weighted)}:{int(mixed)};".encode())
    return digest.hexdigest()[:16]


@jax.jit
def _leaf_sums(leaves: list[jax.Array]) -> list[tuple[jax.Array, jax.Array]]:
    sums = []
    for leaf in leaves:
        words = _as_uint32(jnp.asarray(leaf)).reshape(-1)
        position = jnp.arange(words.size, dtype=jnp.uint32)
        weighted = jnp.sum(words * (2 * position + 1), dtype=jnp.uint32)
        mixed = jnp.sum(words ^ (position * jnp.uint32(0x9E3779B9)), dtype=jnp.uint32)
        sums.append((weighted, mixed))
    return sums


def _as_uint32(x: jax.Array) -> jax.Array:
    """The bits of `x` as uint32 words (narrower types widened, 64-bit types split in two)."""
    if x.dtype == jnp.bool_:
        return x.astype(jnp.uint32)
    unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[x.dtype.itemsize]
    return jax.lax.bitcast_convert_type(x, unsigned).astype(jnp.uint32)


def _read_only_notice(record: logging.LogRecord) -> bool:
    """orbax's warning that a read-only CheckpointManager's directory is read-only, logged on every construction."""
    return str(record.msg).startswith("Given directory is read only")


def _no_space(error: BaseException) -> bool:
    """Whether a failed save ran out of space: ENOSPC, or TensorStore's RESOURCE_EXHAUSTED (raised by orbax as a
    ValueError)."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    return "RESOURCE_EXHAUSTED" in str(error) or "No space left on device" in str(error)


def _failed_write_log(record: logging.LogRecord) -> bool:
    """orbax's ERROR log of a save that ran out of space (one per thread of the save, each with the whole
    TensorStore message): `wait` raises the failure in one line instead."""
    if record.levelno < logging.ERROR:
        return False
    cause = record.exc_info[1] if record.exc_info else None
    return _no_space(Exception(record.getMessage())) or (cause is not None and _no_space(cause))


@contextlib.contextmanager
def _in_flight_reads_quiet(quiet: float = 0.05, limit: float = 1.0) -> Iterator[None]:
    """Drops the echoes of a failed read, only while it runs and settles: TensorStore's "Event loop is closed"
    errors and asyncio's "Task exception was never retrieved" logs.

    When one array of a damaged checkpoint fails to read, orbax closes its event loop while TensorStore still reads
    the others; each of those reads then fails to call back into the closed loop, and Python prints its
    RuntimeError as a traceback from a TensorStore thread, within milliseconds; and the read's other failed tasks,
    whose exceptions nobody retrieves, are logged by asyncio (at ERROR, with the traceback) whenever the garbage
    collector meets them. After a failure this collects them at once and waits until `quiet` seconds pass without an
    error (at most `limit` seconds); other unraisable exceptions and logs go where they went.
    """
    previous = sys.unraisablehook
    last = [time.monotonic()]

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed":
            last[0] = time.monotonic()
        else:
            previous(unraisable)

    def unretrieved(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Task exception was never retrieved")

    asyncio_log = logging.getLogger("asyncio")
    sys.unraisablehook = hook
    asyncio_log.addFilter(unretrieved)
    try:
        yield
    except Exception:
        failed = time.monotonic()
        gc.collect()  # the failed read's tasks: logged (and dropped) now, not at some later collection
        while time.monotonic() - last[0] < quiet or time.monotonic() - failed < quiet:
            if time.monotonic() - failed > limit:
                break
            time.sleep(quiet / 5)
        raise
    finally:
        sys.unraisablehook = previous
        asyncio_log.removeFilter(unretrieved)


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _one_line(error: Exception, where: Path) -> str:
    """An exception as one short line, paths inside the checkpoint `where` made relative to it, without the
    TensorStore spec that TensorStore's errors append (a repr of hundreds of characters)."""
    text = " ".join(str(error).split()).replace(f"{where}/", "")
    text = text.split(" See full TensorStore details:")[0]
    text = f"{type(error).__name__}: {text}" if not text.startswith(type(error).__name__) else text
    return text if len(text) <= 240 else text[:237] + "..."


def _shapes(tree: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        "/".join(str(getattr(k, "key", k)) for k in path): (tuple(leaf.shape), str(leaf.dtype)) for path, leaf in leaves
    }


def _check_fits(saved: Any, target: Any, where: Path) -> None:
    saved_shapes, target_shapes = _shapes(saved), _shapes(target)
    problems = [f"{p}: missing in the checkpoint" for p in sorted(set(target_shapes) - set(saved_shapes))]
    problems += [f"{p}: in the checkpoint but not in the model" for p in sorted(set(saved_shapes) - set(target_shapes))]
    problems += [
        f"{p}: checkpoint {saved_shapes[p][0]} {saved_shapes[p][1]}, model {target_shapes[p][0]} {target_shapes[p][1]}"
        for p in sorted(set(saved_shapes) & set(target_shapes))
        if saved_shapes[p] != target_shapes[p]
    ]
    if problems:
        shown = "\n  ".join(problems[:20]) + ("\n  ..." if len(problems) > 20 else "")
        raise ValueError(f"checkpoint {where} does not fit the model and optimiser:\n  {shown}")
