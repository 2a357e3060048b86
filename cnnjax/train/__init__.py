"""Training: `train_and_evaluate(config, workdir)`, its configs, the pure steps, optimisers and checkpoints.

    from cnnjax.train import default_config, train_and_evaluate
    config = default_config()
    config.optimizer.lr = 1e-3
    metrics = train_and_evaluate(config, "runs/lenet5")   # {'test_accuracy': ..., ...}
"""

from cnnjax.train.checkpoint import Checkpointer
from cnnjax.train.config import apply_overrides, config_hash, default_config, load_config, runlocal, validate
from cnnjax.train.loop import Interrupted, default_workdir, train_and_evaluate
from cnnjax.train.optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule, regularization_loss
from cnnjax.train.preprocess import make_preprocess
from cnnjax.train.rng import root_key, shuffle_seed, stable_hash, step_key, stream
from cnnjax.train.state import TrainState, create_train_state
from cnnjax.train.step import eval_step, train_step

__all__ = [
    "OPTIMIZERS", "SCHEDULES", "Checkpointer", "Interrupted", "TrainState", "apply_overrides", "config_hash",
    "create_train_state", "default_config", "default_workdir", "eval_step", "load_config", "make_optimizer",
    "make_preprocess", "make_schedule", "regularization_loss", "root_key", "runlocal", "shuffle_seed",
    "stable_hash", "step_key", "stream", "train_and_evaluate", "train_step", "validate",
]
