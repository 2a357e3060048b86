"""Configs: the schema (`schema.py`), config files and command-line settings (`loading.py`), and the checks of
every value (`validation.py`).

    config = load_config("experiments/configs/lenet5_fashion_mnist.py:runlocal")   # or default_config()
    config = override(config, ["--config.optimizer.lr=0.01"])                      # as on a command line
    config = validate(config)                                                      # ranges, choices, durations
"""

from cnnjax.train.config.loading import load_config, override
from cnnjax.train.config.schema import FREE_FORM_KEYS, PARALLEL, default_config, runlocal
from cnnjax.train.config.validation import (
    RULES,
    check_task,
    fill,
    flatten,
    init_from_path,
    key_holder,
    set_value,
    validate,
)

__all__ = [
    "FREE_FORM_KEYS",
    "PARALLEL",
    "RULES",
    "check_task",
    "default_config",
    "fill",
    "flatten",
    "init_from_path",
    "key_holder",
    "load_config",
    "override",
    "runlocal",
    "set_value",
    "validate",
]
