"""The pure training and evaluation steps. Compile them once with `jax.jit` (donating the state).

Batches arrive as {'image': uint8 (B, H, W, C), 'label': int32 (B,)}; augmentation and the uint8 -> float
normalisation run here, on device, with keys folded from the state's root key and step.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from cnnjax import functional as F
from cnnjax.train import rng as rnglib
from cnnjax.train.optim import Schedule, plateau_scale
from cnnjax.train.state import TrainState

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]

AUX_LOSS_WEIGHT = 0.3  # Szegedy et al. 2014: the auxiliary classifiers' losses are weighted by 0.3 in training.


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def train_step(
    state: TrainState,
    batch: Batch,
    *,
    model: nn.Module,
    tx: optax.GradientTransformationExtraArgs,
    schedule: Schedule,
    preprocess: Callable[[jax.Array, jax.Array], jax.Array],
    regularization: Callable[[object], jax.Array],
    label_smoothing: float = 0.0,
    max_norm: float = 0.0,
    skip_nonfinite: bool = False,
    axis_name: str | None = None,
) -> tuple[TrainState, Metrics]:
    """One optimisation step.

    Args:
      state: the training state.
      batch: {'image': uint8 (B, H, W, C), 'label': int32 (B,)} (under pmap: this device's part).
      model: the Flax module, applied with train=True.
      tx: the optimiser; its update receives `value=` the batch's loss (for reduce_on_plateau).
      schedule: step -> learning rate (for the metrics).
      preprocess: (key, uint8 images) -> float32 model inputs (augmentation + normalisation).
      regularization: params -> scalar penalty added to the loss (L1/L2 on kernels).
      label_smoothing: passed to `functional.softmax_cross_entropy`.
      max_norm: > 0: project the kernels' unit weight vectors after the update (`functional.max_norm_project`).
      skip_nonfinite: keep the old state (except step and nonfinite_steps) when the loss or a gradient is not finite.
      axis_name: the pmap axis to average gradients, metrics and BatchNorm statistics over (None under jit).

    Returns:
      (new state, metrics): scalar 'step' (the new step count), 'loss' (mean cross-entropy of the main output,
      without the penalty and the auxiliary losses), 'accuracy', 'learning_rate', 'finite' (bool).
    """
    root = jax.random.wrap_key_data(state.rng)
    augment_key = rnglib.step_key(rnglib.stream(root, "augment"), state.step)
    dropout_key = rnglib.step_key(rnglib.stream(root, "dropout"), state.step)
    if axis_name is not None:
        augment_key = jax.random.fold_in(augment_key, jax.lax.axis_index(axis_name))
        dropout_key = jax.random.fold_in(dropout_key, jax.lax.axis_index(axis_name))
    images = preprocess(augment_key, batch["image"])
    labels = batch["label"]

    def loss_fn(params):
        variables = {"params": params, **({"batch_stats": state.batch_stats} if state.batch_stats else {})}
        outputs, updates = model.apply(
            variables, images, train=True, rngs={"dropout": dropout_key}, mutable=["batch_stats"]
        )
        # Models with auxiliary heads (GoogLeNet, aux_logits=True) return (logits, aux1, aux2, ...) in training.
        logits, *aux_logits = outputs if isinstance(outputs, tuple) else (outputs,)
        data_loss, *aux_losses = [
            F.softmax_cross_entropy(out, labels, label_smoothing=label_smoothing).mean() for out in (logits, *aux_logits)
        ]
        total = data_loss + AUX_LOSS_WEIGHT * sum(aux_losses) + regularization(params)
        return total, (data_loss, logits, updates.get("batch_stats", {}))

    (loss, (data_loss, logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
    if axis_name is not None:
        grads, data_loss, loss, accuracy, batch_stats = jax.lax.pmean(
            (grads, data_loss, loss, accuracy, batch_stats), axis_name
        )
    updates, opt_state = tx.update(grads, state.opt_state, state.params, value=data_loss)
    params = optax.apply_updates(state.params, updates)
    if max_norm > 0:
        params = F.max_norm_project(params, max_norm)
    finite = jnp.isfinite(loss) & _all_finite(grads)
    new = state.replace(params=params, batch_stats=batch_stats, opt_state=opt_state)
    if skip_nonfinite:
        new = jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, state)
    new = new.replace(step=state.step + 1, nonfinite_steps=state.nonfinite_steps + (~finite).astype(jnp.int32))
    metrics = {
        "step": new.step,
        "loss": data_loss,
        "accuracy": accuracy,
        "learning_rate": schedule(state.step) * plateau_scale(state.opt_state),
        "finite": finite,
    }
    return new, metrics


def eval_step(
    state: TrainState,
    batch: Batch,
    *,
    model: nn.Module,
    preprocess: Callable[[jax.Array], jax.Array],
    axis_name: str | None = None,
) -> Metrics:
    """Sums over one evaluation batch.

    Args:
      batch: {'image': uint8 (B, H, W, C), 'label': int32 (B,), 'mask': bool (B,)}; mask False marks padding.
      preprocess: uint8 images -> float32 model inputs (no randomness).

    Returns:
      {'loss_sum', 'correct', 'count'}: summed cross-entropy (no label smoothing), correct predictions, examples.
    """
    logits = model.apply(state.variables(), preprocess(batch["image"]), train=False)
    mask = batch["mask"].astype(jnp.float32)
    sums = {
        "loss_sum": jnp.sum(F.softmax_cross_entropy(logits, batch["label"]) * mask),
        "correct": jnp.sum((jnp.argmax(logits, -1) == batch["label"]) * mask),
        "count": jnp.sum(mask),
    }
    return sums if axis_name is None else jax.lax.psum(sums, axis_name)
