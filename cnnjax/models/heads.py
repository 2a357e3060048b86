"""The fully connected classifier AlexNet and VGG share: flatten - fc1 - ReLU - fc2 - ReLU - fc3, dropout 0.5.

A function, not a module, called inside the model's compact `__call__`: its layers are the model's own submodules
(fc1, fc2, fc3, flatten, Dropout_0, Dropout_1), so the variable names (and torchvision's mapping onto them) and the
dropout streams are those of a model that wrote the layers out itself.
"""

from __future__ import annotations

import jax

from cnnjax import functional as F
from cnnjax import nn as cnn
from cnnjax.nn.base import Initializer


def classifier(
    x: jax.Array,
    *,
    num_classes: int,
    features: int,
    dropout_rate: float,
    train: bool,
    kernel_init: Initializer,
    hidden_bias_init: Initializer = F.init.zeros,
    dropout_before_fc: bool = False,
) -> jax.Array:
    """(N, ...) maps -> (N, num_classes) logits.

    Args:
      features: width of fc1 and fc2.
      dropout_before_fc: torchvision's AlexNet (dropout - fc - ReLU) instead of the papers' fc - ReLU - dropout.
      kernel_init: of all three layers; hidden_bias_init: of fc1 and fc2 (fc3's bias starts at 0).
    """
    x = cnn.Flatten(name="flatten")(x)
    for i in (1, 2):
        if dropout_before_fc:
            x = cnn.Dropout(dropout_rate)(x, train=train)
        x = F.relu(cnn.Dense(features, kernel_init=kernel_init, bias_init=hidden_bias_init, name=f"fc{i}")(x))
        if not dropout_before_fc:
            x = cnn.Dropout(dropout_rate)(x, train=train)
    return cnn.Dense(num_classes, kernel_init=kernel_init, bias_init=F.init.zeros, name="fc3")(x)
