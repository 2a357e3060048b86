"""Checkpoints with orbax: the whole TrainState plus a JSON record of the run (step, data position, config hash).

Layout: `workdir/checkpoints/<step>/{state, meta}`, the newest `keep` kept. Saving is asynchronous (orbax copies
the arrays off the device before `save` returns); a checkpoint that was being written when the process died is
never listed, so a restart resumes from the last complete one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flax.serialization
import jax
import orbax.checkpoint as ocp

from cnnjax.train.state import TrainState


class Checkpointer:
    """Saves and restores (TrainState, meta dict) pairs under `directory`, keeping the newest `keep`."""

    def __init__(self, directory: Path, *, keep: int):
        if keep < 1:
            raise ValueError(f"config.checkpoint_keep: expected a positive number of checkpoints, got {keep!r}")
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, cleanup_tmp_directories=True)
        handlers = {"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, state: TrainState, meta: dict[str, Any]) -> None:
        """Starts saving `state` (and `meta`, JSON-serialisable) as checkpoint `meta['step']`."""
        items = ocp.args.Composite(
            state=ocp.args.StandardSave(flax.serialization.to_state_dict(state)), meta=ocp.args.JsonSave(meta)
        )
        self._manager.save(int(meta["step"]), args=items, force=True)

    def meta(self, step: int) -> dict[str, Any]:
        """The JSON record saved with checkpoint `step` (cheap: no arrays are read)."""
        return dict(self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"])

    def restore(self, target: TrainState, step: int) -> TrainState:
        """Restores checkpoint `step` into the structure, shapes and shardings of `target` (arrays or
        `jax.ShapeDtypeStruct`s, e.g. from `jax.eval_shape`).

        Raises:
          ValueError: the checkpoint's arrays do not fit `target` (names each differing path and its shapes).
        """
        target_dict = flax.serialization.to_state_dict(target)
        saved = self._manager.item_metadata(step)["state"]
        _check_fits(saved.tree if hasattr(saved, "tree") else saved, target_dict, self.directory / str(step))
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target_dict)
        restored = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        return flax.serialization.from_state_dict(target, restored["state"])

    def read(self, step: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Checkpoint `step` (default: the latest) as saved, without a model: ({'step', 'params', 'batch_stats',
        'opt_state', 'rng', 'nonfinite_steps'} as nested dicts of arrays, meta)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise ValueError(f"step: expected a saved checkpoint, but {self.directory} holds none")
        saved = self._manager.item_metadata(step)["state"]
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])  # whatever topology saved it
        saved = saved.tree if hasattr(saved, "tree") else saved
        abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), saved)
        restored = self._manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
        )
        return dict(restored["state"]), dict(restored["meta"])

    def wait(self) -> None:
        """Blocks until pending saves are on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()


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
