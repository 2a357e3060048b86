"""The training state: everything a step reads and writes, as one pytree (checkpointed whole)."""

from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from cnnjax.train import rng as rnglib


@flax.struct.dataclass
class TrainState:
    """step: int32 (), steps taken; params, batch_stats: the model's variables (batch_stats {} without BatchNorm);
    opt_state: the optax state; rng: uint32 key data of the run's root key (streams are derived from it);
    nonfinite_steps: int32 (), steps skipped for a non-finite loss or gradient (config.skip_nonfinite)."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array
    nonfinite_steps: jax.Array

    def variables(self) -> dict[str, Any]:
        """The model's variables, {'params': ..., 'batch_stats': ...} (batch_stats only when there are any)."""
        return {"params": self.params, **({"batch_stats": self.batch_stats} if self.batch_stats else {})}


def create_train_state(
    model: nn.Module, tx: optax.GradientTransformation, root: jax.Array, input_shape: tuple[int, int, int]
) -> TrainState:
    """Initialises the model on a (1, H, W, C) float input with the 'params' and 'dropout' streams of `root`.

    Pure: call under `jax.jit` with the desired `out_shardings`.
    """
    rngs = {name: rnglib.stream(root, name) for name in ("params", "dropout")}
    # The non-partitionable threefry draws the same kind of bits but compiles ~9x faster on CPU (jit(init) of
    # resnet20: 82 s -> 9 s measured here); parameters are created once, replicated, so nothing is lost.
    with jax.threefry_partitionable(False):
        variables = model.init(rngs, jnp.zeros((1, *input_shape), jnp.float32), train=False)
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        rng=jax.random.key_data(root),
        nonfinite_steps=jnp.zeros((), jnp.int32),
    )
