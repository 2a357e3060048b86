"""The pure training and evaluation steps, and `make_train_step(config, ...)` that wires one from a config.

Batches arrive as {'image': uint8 (B, H, W, C), 'label': int32 (B,)}; augmentation, the task's targets and the
uint8 -> float normalisation run here, on device, with keys folded from the state's root key and step. Compile
the steps once (`cnnjax.parallel`: jit over a mesh of all devices).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from cnnjax import functional as F
from cnnjax.models.outputs import OutputSpec, output_spec
from cnnjax.train import rng as rnglib
from cnnjax.train.optim import (
    Schedule,
    loss_scale,
    make_optimizer,
    make_schedule,
    plateau_scale,
    regularization_loss,
)
from cnnjax.train.plan import Plan
from cnnjax.train.preprocess import Preprocess
from cnnjax.train.state import TrainState
from cnnjax.train.tasks import Task

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
TrainStep = Callable[..., tuple[TrainState, Metrics]]


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _step_keys(state: TrainState) -> tuple[jax.Array, jax.Array]:
    """The step's augmentation and dropout keys."""
    root = jax.random.wrap_key_data(state.rng)
    augment, dropout = (rnglib.step_key(rnglib.stream(root, name), state.step) for name in ("augment", "dropout"))
    return augment, dropout


def _split(x: jax.Array, parts: int) -> list[jax.Array]:
    """(B, ...) -> `parts` micro-batches of (B / parts, ...), example i in micro-batch i % parts: each takes its
    share of every device's part of a batch sharded over devices."""
    strided = x.reshape(x.shape[0] // parts, parts, *x.shape[1:])
    return [strided[:, i] for i in range(parts)]


def split_outputs(outputs: Any, spec: OutputSpec) -> tuple[jax.Array, list[jax.Array]]:
    """(main output, auxiliary outputs) of a model's training output, checked against its declared outputs."""
    main, *aux = outputs if isinstance(outputs, tuple) else (outputs,)
    if len(aux) != len(spec.aux):
        names = [name for name, _ in spec.aux]
        raise ValueError(
            f"model: expected 1 + {len(spec.aux)} auxiliary outputs {names} in training (its OutputSpec, "
            f"cnnjax.models.outputs), got {1 + len(aux)} outputs"
        )
    return main, aux


def train_step(
    state: TrainState,
    batch: Batch,
    *,
    model: nn.Module,
    task: Task,
    tx: optax.GradientTransformationExtraArgs,
    schedule: Schedule,
    preprocess: Preprocess,
    regularization: Callable[[object], jax.Array],
    max_norm: float = 0.0,
    filter_rms: float = 0.0,
    skip_nonfinite: bool = False,
    loss_scaling: bool = False,
    accumulate_steps: int = 1,
    ema_decay: float = 0.0,
) -> tuple[TrainState, Metrics]:
    """One optimisation step.

    Args:
      state: the training state.
      batch: {'image': uint8 (B, H, W, C), 'label': int32 (B,)}, the global batch (sharded over devices).
      model: the Flax module, applied with train=True; its auxiliary outputs (`output_spec(model).aux`) add their
        weighted losses.
      task: targets, loss (with its label smoothing) and the training metric.
      tx: the optimiser; its update receives `value=` the batch's loss (for reduce_on_plateau).
      schedule: step -> learning rate (for the metrics).
      preprocess: augmentation (key, uint8 images) -> images, and their normalisation.
      regularization: params -> scalar penalty added to the loss (L1/L2 on kernels).
      max_norm: > 0: project the kernels' unit weight vectors after the update (`functional.max_norm_project`).
      filter_rms: > 0: then rescale each conv filter's RMS to at most this (`functional.filter_rms_project`).
      skip_nonfinite: keep the old state (except step and nonfinite_steps) when the loss or a gradient is not finite.
      loss_scaling: float16: scale the loss by the optimiser's `optim.loss_scale` and the gradients back; a
        gradient that overflows then lowers the scale and skips the update (`optim.dynamic_loss_scale`) and only a
        non-finite loss counts as a non-finite step.
      accumulate_steps: K > 1 splits the batch into K micro-batches of B / K, run one after the other (the memory
        of one), and updates once with the mean of their gradients: the update of the whole batch, except that
        batch norm normalises each micro-batch by its own statistics and updates its running averages K times.
      ema_decay: > 0: after the update, ema_params <- ema_decay * ema_params + (1 - ema_decay) * params (the
        state's ema_params must exist: `create_train_state(..., ema=True)`).

    Returns:
      (new state, metrics): scalar 'step' (the new step count), 'loss' (the task's mean loss of the main output,
      without the penalty and the auxiliary losses), task.train_metric (e.g. 'accuracy'), 'learning_rate',
      'finite' (bool).
    """
    augment_key, dropout_key = _step_keys(state)
    images = preprocess.train(augment_key, batch["image"])
    targets = task.targets(images, batch["label"])
    inputs = preprocess.normalize(images)  # in the compute dtype (config.precision)
    spec = output_spec(model)
    scale = loss_scale(state.opt_state) if loss_scaling else None

    def loss_fn(params, batch_stats, inputs, targets, dropout_key):
        variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
        outputs, updates = model.apply(
            variables, inputs, train=True, rngs={"dropout": dropout_key}, mutable=["batch_stats"]
        )
        main, aux = split_outputs(outputs, spec)
        main, aux = main.astype(jnp.float32), [out.astype(jnp.float32) for out in aux]  # the loss in float32
        data_loss, *aux_losses = [task.loss_per_example(out, targets, train=True).mean() for out in (main, *aux)]
        total = data_loss + sum(w * aux_loss for (_, w), aux_loss in zip(spec.aux, aux_losses)) + regularization(params)
        return (total if scale is None else total * scale), (data_loss, main, updates.get("batch_stats", {}))

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    if accumulate_steps == 1:
        (loss, (data_loss, main, batch_stats)), grads = grad_fn(
            state.params, state.batch_stats, inputs, targets, dropout_key
        )
    else:  # K micro-batches in sequence: the mean of their gradients; batch norm's statistics per micro-batch
        batch_stats, sums, mains = state.batch_stats, None, []
        for i, (micro_inputs, micro_targets) in enumerate(
            zip(*(_split(a, accumulate_steps) for a in (inputs, targets)))
        ):
            (micro_loss, (micro_data_loss, micro_main, batch_stats)), micro_grads = grad_fn(
                state.params, batch_stats, micro_inputs, micro_targets, jax.random.fold_in(dropout_key, i)
            )
            values = (micro_loss, micro_data_loss, micro_grads)
            sums = values if sums is None else jax.tree.map(jnp.add, sums, values)
            mains.append(micro_main)
        loss, data_loss, grads = jax.tree.map(lambda total: total / accumulate_steps, sums)
        main = jnp.concatenate(mains)
    if scale is not None:
        loss, grads = loss / scale, jax.tree.map(lambda g: g / scale, grads)
    metric = task.train_metric_value(main, targets)
    updates, opt_state = tx.update(grads, state.opt_state, state.params, value=data_loss)
    params = optax.apply_updates(state.params, updates)
    if max_norm > 0:
        params = F.max_norm_project(params, max_norm)
    if filter_rms > 0:
        params = F.filter_rms_project(params, filter_rms)
    finite = jnp.isfinite(loss) if loss_scaling else jnp.isfinite(loss) & _all_finite(grads)
    new = state.replace(params=params, batch_stats=batch_stats, opt_state=opt_state)
    if ema_decay > 0:  # Polyak-style averaging of the weights: what evaluation and restore_run use
        new = new.replace(ema_params=optax.incremental_update(params, state.ema_params, 1.0 - ema_decay))
    if skip_nonfinite:
        new = jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, state)
    new = new.replace(step=state.step + 1, nonfinite_steps=state.nonfinite_steps + (~finite).astype(jnp.int32))
    metrics = {
        "step": new.step,
        "loss": data_loss,
        task.train_metric: metric,
        "learning_rate": schedule(state.step) * plateau_scale(state.opt_state),
        "finite": finite,
    }
    return new, metrics


def eval_step(
    state: TrainState,
    batch: Batch,
    *,
    model: nn.Module,
    task: Task,
    preprocess: Preprocess,
    views_per_pass: int = 0,
) -> Metrics:
    """Sums over one evaluation batch (`task.eval_sums`), with the state's
    `eval_variables` (the averaged parameters when the run keeps an average).

    The V views of each image (`preprocess.views`: crops, flips, scales) go through the model `views_per_pass` at
    a time (0: all V at once), as batches of views_per_pass * B images, which bounds the activations' memory;
    `task.combine_views` averages their outputs (V = 1: the output as it is).

    Args:
      batch: {'image': uint8 (B, H, W, C), 'label': int32 (B,), 'mask': bool (B,)}; mask False marks padding.
    """
    views = preprocess.views(batch["image"])  # (V, B, h, w, C)
    v, b = views.shape[:2]
    per_pass = views_per_pass or v
    passes = []
    for start in range(0, v, per_pass):
        chunk = views[start : start + per_pass]
        if passes:  # a pass starts after the one before ends, so that their activations are never live together
            chunk, passes[-1] = jax.lax.optimization_barrier((chunk, passes[-1]))
        images = preprocess.normalize(chunk.reshape(chunk.shape[0] * b, *views.shape[2:]))
        passes.append(model.apply(state.eval_variables(), images, train=False).astype(jnp.float32))
    outputs = jnp.concatenate(passes) if len(passes) > 1 else passes[0]
    outputs = task.combine_views(outputs.reshape(v, b, *outputs.shape[1:]))
    sums = task.eval_sums(outputs, task.targets(views[0], batch["label"]), batch["mask"])
    return sums


def make_train_step(
    config: ml_collections.ConfigDict, *, model: nn.Module, task: Task, preprocess: Preprocess, plan: Plan
) -> tuple[TrainStep, optax.GradientTransformationExtraArgs]:
    """(step, tx): `train_step` with the optimiser, schedule and regularisation of a validated config, and the
    optimiser (for `create_train_state`). The step takes (state, batch)."""
    schedule = make_schedule(config, plan)
    tx = make_optimizer(config, schedule, steps_per_epoch=plan.steps_per_epoch)
    step = functools.partial(
        train_step,
        model=model,
        task=task,
        tx=tx,
        schedule=schedule,
        preprocess=preprocess,
        regularization=functools.partial(regularization_loss, config=config),
        max_norm=config.regularization.max_norm,
        filter_rms=config.regularization.filter_rms,
        skip_nonfinite=config.skip_nonfinite,
        loss_scaling=config.precision == "float16",
        accumulate_steps=config.accumulate_steps,
        ema_decay=config.ema_decay,
    )
    return with_matmul_precision(step, config.matmul_precision), tx


def with_matmul_precision(step: Callable, precision: str) -> Callable:
    """`step` traced under `jax.default_matmul_precision(precision)` ('' = JAX's default: `step` itself)."""
    if not precision:
        return step

    @functools.wraps(step)
    def run(*args, **kwargs):
        with jax.default_matmul_precision(precision):
            return step(*args, **kwargs)

    return run


def unrolled(step: TrainStep, steps: int) -> TrainStep:
    """`steps` training steps as one function: (state, batch_1, ..., batch_steps, **kw) -> (state, metrics with a
    leading axis of `steps`). The same computation as calling `step` that many times.

    Unrolled in Python on purpose: under a rolled `lax.scan`/`fori_loop` XLA:CPU lowers the convolutions in the
    loop body to naive loops (LeNet-5 fell from 4.6k to 172 img/s; https://github.com/jax-ml/jax/issues/12868).
    """

    def run(state: TrainState, *batches: Batch, **kwargs) -> tuple[TrainState, Metrics]:
        if len(batches) != steps:
            raise ValueError(f"batches: expected {steps} batches, got {len(batches)}")
        per_step = []
        for batch in batches:
            state, metrics = step(state, batch, **kwargs)
            # Without the barrier XLA fuses across steps and the last bits differ from single steps.
            state = jax.lax.optimization_barrier(state)
            per_step.append(metrics)
        return state, jax.tree.map(lambda *values: jnp.stack(values), *per_step)

    return run
