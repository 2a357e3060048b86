"""The 2012-2015 ImageNet CNN papers' recipe family (AlexNet, ZFNet, VGG, GoogLeNet, ResNet), for small images.

SGD with momentum 0.9, the paper's weight decay as an L2 penalty on the kernels (`regularization.l2`), its learning
rate divided by 10 at 50% and 75% of the run (ResNet's 32k and 48k of 64k iterations; AlexNet's "divide by 10 on a
validation plateau" at fixed points), an optional linear warm-up, random shifts by `crop_padding` pixels and
horizontal flips. Config files call `sgd_recipe(arg, ...)` with their paper's numbers (e.g.
experiments/configs/alexnet_fashion_mnist.py); arg 'runlocal' shrinks the run to seconds, 'validation' holds out the
last 10,000 training images and evaluates on them instead of the test split (choosing settings without the test
set), 'validation_runlocal' does both.
"""

from __future__ import annotations

from typing import Any

import ml_collections

from cnnjax.train.config import default_config, runlocal

ARGS = ("runlocal", "validation", "validation_runlocal")
VALIDATION_EXAMPLES = 10_000  # as the descriptor row of the progression study: the last 10,000 training images


def sgd_recipe(
    arg: str | None,
    *,
    model: str,
    epochs: int,
    batch_size: int,
    lr: float,
    l2: float,
    model_options: dict[str, Any] | None = None,
    warmup_epochs: float = 0.0,
    crop_padding: int = 2,
    flip: bool = True,
    pad_to: int = 0,
) -> ml_collections.ConfigDict:
    """The config of one paper's recipe (see the module docstring); `arg` is the config file's argument."""
    config = default_config()
    config.model = model
    config.model_options.update(model_options or {})
    config.num_epochs = epochs
    config.batch_size = batch_size
    config.pad_to = pad_to
    config.optimizer.name = "momentum"
    config.optimizer.lr = lr
    config.optimizer.momentum = 0.9
    config.regularization.l2 = l2
    config.schedule.name = "step"
    config.schedule.decay_epochs = [epochs // 2, (3 * epochs) // 4]
    config.schedule.decay_factor = 0.1
    config.schedule.warmup_epochs = warmup_epochs
    config.augment.crop_padding = crop_padding
    config.augment.flip = flip
    if arg in ("validation", "validation_runlocal"):
        config.validation_examples = VALIDATION_EXAMPLES
    return runlocal(config) if arg in ("runlocal", "validation_runlocal") else config
