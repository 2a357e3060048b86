"""The real Fashion-MNIST files (Debian package dataset-fashion-mnist); skipped when absent."""

import numpy as np
import pytest

from cnnjax.data import batches, channel_stats, find_idx_files, load_dataset, num_batches

try:
    find_idx_files("fashion_mnist")
except FileNotFoundError as e:
    pytest.skip(f"Fashion-MNIST IDX files not installed: {e}", allow_module_level=True)


@pytest.fixture(scope="module")
def fashion_mnist():
    return load_dataset("fashion_mnist")


def test_sizes_shapes_and_classes(fashion_mnist):
    ds = fashion_mnist
    assert (len(ds.train), len(ds.test)) == (60000, 10000)
    assert ds.image_shape == (28, 28, 1) and ds.train.images.shape == (60000, 28, 28, 1)
    assert ds.num_classes == 10 and len(ds.class_names) == 10
    # Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
    np.testing.assert_array_equal(np.bincount(ds.train.labels), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(ds.test.labels), [1000] * 10)


def test_normalisation_constants_match_the_data(fashion_mnist):
    mean, std = channel_stats(fashion_mnist.train.images)
    np.testing.assert_allclose(fashion_mnist.mean, mean, atol=1e-4)
    np.testing.assert_allclose(fashion_mnist.std, std, atol=1e-4)


def test_one_epoch_of_batches(fashion_mnist):
    count, seen = 0, np.zeros(10, int)
    for batch in batches(fashion_mnist.train, 256, seed=0, epoch=0):
        count += 1
        seen += np.bincount(batch["label"], minlength=10)
    assert count == num_batches(fashion_mnist.train, 256) == 234
    assert seen.sum() == 234 * 256 and (seen > 5800).all()
