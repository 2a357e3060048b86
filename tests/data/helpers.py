"""Test helpers: a small MNIST-format IDX dataset written to a directory."""

import numpy as np

from cnnjax.data import write_idx

NUM_TRAIN, NUM_TEST = 40, 12


def make_idx_dir(directory, *, seed=0):
    """Writes the four IDX files (train gzipped, test raw); returns {'train'|'t10k': (images, labels)}."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n, suffix in (("train", NUM_TRAIN, ".gz"), ("t10k", NUM_TEST, "")):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, (n,), dtype=np.uint8)
        write_idx(directory / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(directory / f"{split}-labels-idx1-ubyte{suffix}", labels)
        arrays[split] = (images, labels)
    return arrays


def example_multiset(source):
    """Sorted (label, image bytes) pairs of every example of a Source."""
    return sorted((int(source[i]["label"]), np.asarray(source[i]["image"]).tobytes()) for i in range(len(source)))
