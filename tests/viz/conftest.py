"""Small freshly trained workdirs (runlocal: 8 steps on 1024 Fashion-MNIST images) shared by the viz tests: a
LeNet-5 classifier (checkpoints at steps 4 and 8), and the autoencoder (a model without classes)."""

from __future__ import annotations

import pytest

from cnnjax.train import default_config, recipe, runlocal, train_and_evaluate


@pytest.fixture(scope="package")
def workdir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("viz") / "lenet5_runlocal"
    config = runlocal(default_config())
    config.checkpoint_every_steps = 4
    train_and_evaluate(config, directory)
    return directory


@pytest.fixture(scope="package")
def autoencoder_workdir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("viz") / "autoencoder_runlocal"
    train_and_evaluate(recipe("autoencoder", "runlocal"), directory)
    return directory
