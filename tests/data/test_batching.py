"""Deterministic, resumable, shardable batching; array and grain paths agree."""

import numpy as np
import pytest

from cnnjax.data import ArraySource, batches, epoch_indices, num_batches, padded_batches, take


def make_source(n=103, shape=(4, 4, 1)):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 256  # Makes each example identifiable.
    images[:, 0, 1, 0] = np.arange(n) // 256
    return ArraySource(images, np.arange(n) % 10)


class ListSource:
    """A plain random-access Source (not an ArraySource): takes the grain path."""

    def __init__(self, source):
        self.examples = [source[i] for i in range(len(source))]

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, index):
        return self.examples[index]


def ids(batch):
    return batch["image"][:, 0, 0, 0].astype(int) + 256 * batch["image"][:, 0, 1, 0].astype(int)


def all_ids(iterator):
    return [ids(batch) for batch in iterator]


def test_batch_format():
    source = make_source()
    out = list(batches(source, 10, seed=0, epoch=0))
    assert len(out) == 10 == num_batches(source, 10)
    for batch in out:
        assert batch["image"].shape == (10, 4, 4, 1) and batch["image"].dtype == np.uint8
        assert batch["label"].shape == (10,) and batch["label"].dtype == np.int32
        np.testing.assert_array_equal(batch["label"], ids(batch) % 10)


def test_order_is_a_pure_function_of_seed_and_epoch():
    source = make_source()
    a = all_ids(batches(source, 8, seed=3, epoch=2))
    b = all_ids(batches(source, 8, seed=3, epoch=2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, all_ids(batches(source, 8, seed=3, epoch=1)))
    assert not np.array_equal(a, all_ids(batches(source, 8, seed=4, epoch=2)))
    expected = np.random.default_rng([3, 2]).permutation(103)[: 12 * 8]
    np.testing.assert_array_equal(np.concatenate(a), expected)


def test_epoch_is_a_permutation_without_duplicates():
    order = np.concatenate(all_ids(batches(make_source(), 8, seed=0, epoch=0)))
    assert len(order) == 96 and len(set(order)) == 96


def test_no_shuffle_keeps_source_order_and_keeps_remainder():
    out = all_ids(batches(make_source(), 10, seed=0, epoch=5, shuffle=False, drop_remainder=False))
    assert [len(b) for b in out] == [10] * 10 + [3]
    np.testing.assert_array_equal(np.concatenate(out), np.arange(103))
    assert num_batches(103, 10, drop_remainder=False) == 11


@pytest.mark.parametrize("start_batch", [0, 1, 5, 11, 12])
def test_resume_equals_uninterrupted(start_batch):
    source = make_source()
    full = all_ids(batches(source, 8, seed=7, epoch=3))
    resumed = all_ids(batches(source, 8, seed=7, epoch=3, start_batch=start_batch))
    assert len(resumed) == len(full) - start_batch
    for a, b in zip(full[start_batch:], resumed):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shard_count", [2, 3, 4])
def test_shards_are_disjoint_and_even(shard_count):
    source = make_source()
    shards = [
        np.concatenate(all_ids(batches(source, 5, seed=1, epoch=0, shard_index=i, shard_count=shard_count)))
        for i in range(shard_count)
    ]
    per_shard = num_batches(source, 5, shard_count=shard_count) * 5
    assert all(len(shard) == per_shard for shard in shards)
    union = np.concatenate(shards)
    assert len(set(union)) == len(union)  # Disjoint.


@pytest.mark.parametrize("shard_count", [2, 3, 4])
def test_shards_cover_everything_without_drop_remainder(shard_count):
    source = make_source()
    union = []
    for i in range(shard_count):
        out = all_ids(batches(source, 6, seed=2, epoch=1, shard_index=i, shard_count=shard_count, drop_remainder=False))
        assert len(out) == num_batches(source, 6, drop_remainder=False, shard_index=i, shard_count=shard_count)
        union.extend(np.concatenate(out))
        assert len(out) in (
            num_batches(source, 6, drop_remainder=False, shard_count=shard_count) - 1,
            num_batches(source, 6, drop_remainder=False, shard_count=shard_count),
        )
    assert sorted(union) == list(range(103))


def test_epoch_indices_shards_partition_one_permutation():
    full = epoch_indices(103, seed=5, epoch=9, drop_remainder=False)
    parts = [epoch_indices(103, seed=5, epoch=9, shard_index=i, shard_count=3, drop_remainder=False) for i in range(3)]
    for i, part in enumerate(parts):
        np.testing.assert_array_equal(part, full[i::3])
    assert [len(p) for p in parts] == [35, 34, 34]
    assert len(epoch_indices(103, seed=5, epoch=9, shard_index=0, shard_count=3)) == 34


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(epoch=0),
        dict(epoch=4, start_batch=3),
        dict(epoch=1, shard_index=1, shard_count=2),
        dict(epoch=2, shuffle=False, drop_remainder=False),
    ],
)
def test_grain_path_matches_array_path(kwargs):
    source = make_source()
    array_batches = list(batches(source, 8, seed=11, **kwargs))
    grain_batches = list(batches(ListSource(source), 8, seed=11, **kwargs))
    assert len(grain_batches) == len(array_batches) > 0
    for a, g in zip(array_batches, grain_batches):
        np.testing.assert_array_equal(a["image"], g["image"])
        np.testing.assert_array_equal(a["label"], g["label"])
        assert g["image"].dtype == np.uint8 and g["label"].dtype == np.int32


@pytest.mark.slow
def test_grain_worker_processes_give_the_same_batches():
    source = make_source(n=40)
    expected = all_ids(batches(source, 8, seed=0, epoch=1, start_batch=1))
    got = all_ids(batches(ListSource(source), 8, seed=0, epoch=1, start_batch=1, worker_count=1))
    np.testing.assert_array_equal(got, expected)


def test_array_epoch_overhead_is_small():
    import time

    source = ArraySource(np.zeros((60000, 28, 28, 1), np.uint8), np.zeros(60000, np.int32))
    start = time.perf_counter()
    count = sum(1 for _ in batches(source, 128, seed=0, epoch=0))
    assert count == 468
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(seed=-1), ValueError, "seed must be >= 0"),
        (dict(epoch=1.0), TypeError, "epoch must be an int"),
        (dict(shard_index=2, shard_count=2), ValueError, r"shard_index must be in \[0, shard_count=2\), got 2"),
        (dict(shard_count=0), ValueError, "shard_count must be >= 1"),
        (dict(start_batch=13), ValueError, r"start_batch must be in \[0, 12\]"),
        (dict(worker_count=-1), ValueError, "worker_count must be >= 0"),
    ],
)
def test_argument_errors(kwargs, error, match):
    kwargs = dict(dict(seed=0, epoch=0), **kwargs)
    with pytest.raises(error, match=match):
        batches(make_source(), 8, **kwargs)


def test_batch_size_error():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        num_batches(make_source(), 0)


@pytest.mark.parametrize("wrap", [lambda s: s, ListSource], ids=["array", "random_access"])
def test_take_keeps_the_first_n_examples(wrap):
    source = wrap(make_source())
    head = take(source, 10)
    assert len(head) == 10 and [int(head[i]["label"]) for i in range(10)] == list(range(10))
    assert take(source, None) is source and take(source, 500) is source
    with pytest.raises(IndexError):
        head[10]
    with pytest.raises(ValueError, match="limit must be >= 1"):
        take(source, 0)


def test_padded_batches_cover_every_example_once_with_a_mask():
    source = make_source(n=23)
    shards = [list(padded_batches(source, 4, shard_index=i, shard_count=2)) for i in range(2)]
    assert len(shards[0]) == len(shards[1]) == 3  # 12 and 11 examples: the same number of batches
    seen = [i for shard in shards for b in shard for i in ids(b)[b["mask"]]]
    assert sorted(seen) == list(range(23))
    last = shards[1][-1]
    assert last["image"].shape == (4, 4, 4, 1) and last["mask"].tolist() == [True, True, True, False]
    assert (last["label"][~last["mask"]] == 0).all()
