"""The packaged recipes: what `cnnjax train --model NAME` runs without --config.

Each recipe is a config file (`get_config(arg=None)`, `ARGS = ('runlocal',)`) stating only what it changes in the
neutral schema (`cnnjax.train.config.default_config`). A model without a recipe of its own takes the classifier
recipe (`classifier.py`, LeNet-5's).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import ml_collections

OWN_RECIPES = ("autoencoder", "unet")  # models with a recipe file of their name; all others: classifier.py


def recipe_file(model: str) -> Path:
    """The recipe file of `model` (its own, or classifier.py)."""
    return Path(__file__).with_name(f"{model if model in OWN_RECIPES else 'classifier'}.py")


def recipe(model: str = "lenet5", arg: str | None = None) -> ml_collections.ConfigDict:
    """The default recipe of `model` with config.model = model; arg 'runlocal' shrinks it to a few seconds."""
    module = importlib.import_module(f"cnnjax.train.recipes.{recipe_file(model).stem}")
    config = module.get_config(arg)
    config.model = model
    return config
