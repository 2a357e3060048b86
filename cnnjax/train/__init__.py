"""Training: `train_and_evaluate(config, workdir)` (trainer.py, the loop in one function), the config schema and
recipes, tasks, the pure steps, optimisers, checkpoints, and `restore_run(workdir)` to read a finished run.

    from cnnjax.train import recipe, train_and_evaluate
    config = recipe("lenet5")                            # the packaged recipe (cnnjax/train/recipes/)
    config.optimizer.lr = 1e-3
    metrics = train_and_evaluate(config, "runs/lenet5")  # {'test_accuracy': ..., ...}
    config, model, variables = restore_run("runs/lenet5")
"""

from cnnjax.train.checkpoint import Checkpointer, CheckpointWriteError
from cnnjax.train.config import default_config, fill, load_config, override, runlocal, validate
from cnnjax.train.optim import (
    OPTIMIZERS,
    SCHEDULES,
    dynamic_loss_scale,
    loss_scale,
    make_optimizer,
    make_schedule,
    regularization_loss,
    scaled_lr,
)
from cnnjax.train.plan import Plan, resolve
from cnnjax.train.preprocess import Preprocess, make_preprocess
from cnnjax.train.recipes import recipe
from cnnjax.train.resume import config_hash, restore_run
from cnnjax.train.rng import root_key, shuffle_seed, stable_hash, step_key, stream
from cnnjax.train.state import TrainState, create_train_state, load_params, save_params
from cnnjax.train.step import eval_step, make_train_step, train_step, unrolled
from cnnjax.train.tasks import LOSSES, TASKS, Task, make_task
from cnnjax.train.trainer import (
    Interrupted,
    Setup,
    build,
    create_model,
    default_workdir,
    load_dataset,
    split_data,
    train_and_evaluate,
)

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "TASKS",
    "CheckpointWriteError",
    "Checkpointer",
    "Interrupted",
    "Plan",
    "Preprocess",
    "Setup",
    "Task",
    "TrainState",
    "build",
    "config_hash",
    "create_model",
    "create_train_state",
    "default_config",
    "default_workdir",
    "dynamic_loss_scale",
    "eval_step",
    "fill",
    "load_config",
    "load_dataset",
    "load_params",
    "loss_scale",
    "make_optimizer",
    "make_preprocess",
    "make_schedule",
    "make_task",
    "make_train_step",
    "override",
    "recipe",
    "regularization_loss",
    "resolve",
    "restore_run",
    "root_key",
    "runlocal",
    "save_params",
    "scaled_lr",
    "shuffle_seed",
    "split_data",
    "stable_hash",
    "step_key",
    "stream",
    "train_and_evaluate",
    "train_step",
    "unrolled",
    "validate",
]
