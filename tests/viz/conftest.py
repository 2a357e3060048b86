"""Small freshly trained workdirs (runlocal: 8 steps on 1024 Fashion-MNIST images) shared by the viz tests: a
LeNet-5 classifier, and the autoencoder (a model without classes)."""

from __future__ import annotations

import pytest

from cnnjax.train import default_config, recipe, runlocal, train_and_evaluate


@pytest.fixture(scope="package")
def workdir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("viz") / "lenet5_runlocal"
    train_and_evaluate(runlocal(default_config()), directory)
    return directory


@pytest.fixture(scope="package")
def autoencoder_workdir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("viz") / "autoencoder_runlocal"
    train_and_evaluate(recipe("autoencoder", "runlocal"), directory)
    return directory
