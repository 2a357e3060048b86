"""Fixtures for the data pipeline tests."""

import pytest

from .helpers import make_idx_dir


@pytest.fixture
def idx_dir(tmp_path):
    """(directory, arrays): a small generated MNIST-format dataset, see `make_idx_dir`."""
    directory = tmp_path / "idx"
    directory.mkdir()
    return directory, make_idx_dir(directory)
