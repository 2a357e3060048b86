"""A small freshly trained LeNet-5 workdir (runlocal: 8 steps on 1024 Fashion-MNIST images), shared by the viz
tests."""

from __future__ import annotations

import pytest

from cnnjax.train import default_config, runlocal, train_and_evaluate


@pytest.fixture(scope="package")
def workdir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("viz") / "lenet5_runlocal"
    train_and_evaluate(runlocal(default_config()), directory)
    return directory
