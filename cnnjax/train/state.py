"""The training state: everything a step reads and writes, as one pytree (checkpointed whole)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from cnnjax.train import rng as rnglib


@flax.struct.dataclass
class TrainState:
    """step: int32 (), steps taken; params, batch_stats: the model's variables (batch_stats {} without BatchNorm);
    opt_state: the optax state; rng: uint32 key data of the run's root key (streams are derived from it);
    nonfinite_steps: int32 (), steps skipped for a non-finite loss or gradient (config.skip_nonfinite);
    ema_params: the exponential moving average of params (config.ema_decay > 0), {} without one."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array
    nonfinite_steps: jax.Array
    ema_params: Any

    def variables(self) -> dict[str, Any]:
        """The model's variables, {'params': ..., 'batch_stats': ...} (batch_stats only when there are any)."""
        return {"params": self.params, **({"batch_stats": self.batch_stats} if self.batch_stats else {})}

    def eval_variables(self) -> dict[str, Any]:
        """The variables a run evaluates: `variables()` with the averaged parameters when there are any."""
        return {**self.variables(), **({"params": self.ema_params} if self.ema_params else {})}


def create_train_state(
    model: nn.Module,
    tx: optax.GradientTransformation,
    root: jax.Array,
    input_shape: tuple[int, int, int],
    initial_params: Mapping[str, np.ndarray] | None = None,
    ema: bool = False,
) -> TrainState:
    """Initialises the model on a (1, H, W, C) float input with the 'params' and 'dropout' streams of `root`; the
    entries of `initial_params` ('/'-joined name -> array, `load_params`) then replace the parameters they name.
    `ema`: start a moving average of the parameters at their initial values (`ema_params`).

    Pure: call under `jax.jit` with the desired `out_shardings`.

    Raises:
      ValueError: a name of `initial_params` is not a parameter of the model, or its shape differs.
    """
    rngs = {name: rnglib.stream(root, name) for name in ("params", "dropout")}
    # The non-partitionable threefry draws the same kind of bits but compiles ~9x faster on CPU (jit(init) of
    # resnet20: 82 s -> 9 s measured here); parameters are created once, replicated, so nothing is lost.
    with jax.threefry_partitionable(False):
        variables = model.init(rngs, jnp.zeros((1, *input_shape), jnp.float32), train=False)
    params = replace_params(variables["params"], initial_params or {})
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        rng=jax.random.key_data(root),
        nonfinite_steps=jnp.zeros((), jnp.int32),
        ema_params=jax.tree.map(jnp.copy, params) if ema else {},
    )


def replace_params(params: Any, named: Mapping[str, np.ndarray]) -> Any:
    """`params` with the leaves that `named` names ('/'-joined paths) replaced by its arrays, in their dtype."""
    check_named_params(params, named)
    flat = traverse_util.flatten_dict(flax.core.unfreeze(params), sep="/")
    for name, value in named.items():
        flat[name] = jnp.asarray(value, flat[name].dtype)
    return traverse_util.unflatten_dict(flat, sep="/")


def check_named_params(params: Any, named: Mapping[str, np.ndarray]) -> None:
    """Raises ValueError unless each name of `named` is a parameter of `params` (arrays or their shapes) of the
    same shape."""
    flat = traverse_util.flatten_dict(flax.core.unfreeze(params), sep="/")
    for name, value in named.items():
        if name not in flat:
            raise ValueError(f"initial parameters: {name!r} is not a parameter of the model (it has {sorted(flat)})")
        if tuple(value.shape) != tuple(flat[name].shape):
            raise ValueError(
                f"initial parameters: {name!r} has shape {tuple(value.shape)}, the model's has {flat[name].shape}"
            )


def save_params(path: str | Path, params: Any) -> None:
    """Writes `params` to a .npz file, one array per '/'-joined parameter name (what `config.init_from` reads)."""
    flat = traverse_util.flatten_dict(flax.core.unfreeze(jax.device_get(params)), sep="/")
    np.savez(path, **{name: np.asarray(value) for name, value in flat.items()})


def load_params(path: str | Path) -> dict[str, np.ndarray]:
    """'/'-joined parameter name -> array, from a file of `save_params`."""
    with np.load(path) as data:
        return {name: data[name] for name in data.files}
