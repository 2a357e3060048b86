"""Deterministic, resumable, shardable batching of a `Source`.

The examples of one epoch, for one shard, in order, are a pure function of
``(len(source), seed, epoch, shuffle, shard_index, shard_count, drop_remainder)``
(`epoch_indices`): the epoch's permutation comes from
``np.random.default_rng([seed, epoch])`` and is the same on every host; shard
``i`` takes every ``shard_count``-th position starting at ``i``. Batch ``b`` is
positions ``[b * batch_size, (b + 1) * batch_size)`` of that order, so a run
resumed at ``(epoch, start_batch)`` sees exactly the batches an uninterrupted run
would have seen, whatever the source type and `worker_count`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from cnnjax.data.sources import ArraySource, Example, Source

Batch = dict[str, np.ndarray]

# Grain reading of non-array sources: threads reading whole batches, and batches read ahead.
_READ_THREADS = 8
_PREFETCH_BATCHES = 16


def _check_int(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_shard(shard_index: int, shard_count: int) -> None:
    _check_int("shard_count", shard_count, 1)
    _check_int("shard_index", shard_index, 0)
    if shard_index >= shard_count:
        raise ValueError(f"shard_index must be in [0, shard_count={shard_count}), got {shard_index}")


def _shard_size(num_examples: int, shard_index: int, shard_count: int, drop_remainder: bool) -> int:
    if drop_remainder:  # Every shard gets the same number of examples.
        return num_examples // shard_count
    return len(range(shard_index, num_examples, shard_count))


def epoch_indices(
    num_examples: int,
    *,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    shard_index: int = 0,
    shard_count: int = 1,
    drop_remainder: bool = True,
) -> np.ndarray:
    """Returns the example indices (int64[M]) one shard visits in one epoch, in order.

    With `drop_remainder` every shard gets ``num_examples // shard_count`` examples
    (up to ``shard_count - 1`` examples, different ones each shuffled epoch, are
    left out); without it the shards partition all examples.
    """
    _check_int("num_examples", num_examples, 0)
    _check_int("seed", seed, 0)
    _check_int("epoch", epoch, 0)
    _check_shard(shard_index, shard_count)
    order = np.random.default_rng([seed, epoch]).permutation(num_examples) if shuffle else np.arange(num_examples)
    size = _shard_size(num_examples, shard_index, shard_count, drop_remainder)
    return order[shard_index::shard_count][:size]


def num_batches(
    source: Source | int,
    batch_size: int,
    *,
    drop_remainder: bool = True,
    shard_index: int = 0,
    shard_count: int = 1,
) -> int:
    """Number of batches `batches` yields per epoch for one shard.

    Without `drop_remainder`, shard 0 has the most examples, so the default
    ``shard_index=0`` gives the largest count over all shards (other shards have
    the same number of batches or one fewer).

    Args:
      source: a `Source` or its number of examples.
      batch_size: examples per batch (per shard).
      drop_remainder: drop the last partial batch (and even out shard sizes).
      shard_index, shard_count: which shard (only matters without `drop_remainder`).
    """
    num_examples = source if isinstance(source, (int, np.integer)) else len(source)
    _check_int("batch_size", batch_size, 1)
    _check_shard(shard_index, shard_count)
    size = _shard_size(num_examples, shard_index, shard_count, drop_remainder)
    return size // batch_size if drop_remainder else -(-size // batch_size)


def batches(
    source: Source,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    drop_remainder: bool = True,
    shard_index: int = 0,
    shard_count: int = 1,
    start_batch: int = 0,
    worker_count: int = 0,
) -> Iterator[Batch]:
    """Yields the batches of one epoch: {'image': uint8[B, H, W, C], 'label': int32[B]}.

    Args:
      source: an `ArraySource` (fast path: NumPy fancy indexing) or any random-access
        `Source` (read through grain, e.g. a `TfdsSource`).
      batch_size: B, examples per batch for this shard (host).
      seed: non-negative int; with `epoch` it fixes the order (see `epoch_indices`).
      epoch: non-negative int, the epoch number.
      shuffle: shuffle the examples (False: source order, e.g. for evaluation).
      drop_remainder: drop the last partial batch and even out shard sizes.
      shard_index, shard_count: this process's shard, e.g. ``jax.process_index()``
        and ``jax.process_count()``; shards are disjoint.
      start_batch: skip the first `start_batch` batches (resuming mid-epoch).
      worker_count: grain worker processes for non-array sources (0: 8 threads in
        this process, reading up to 16 batches ahead). Does not change the batches.
    """
    _check_int("batch_size", batch_size, 1)
    _check_int("worker_count", worker_count, 0)
    indices = epoch_indices(
        len(source),
        seed=seed,
        epoch=epoch,
        shuffle=shuffle,
        shard_index=shard_index,
        shard_count=shard_count,
        drop_remainder=drop_remainder,
    )
    total = num_batches(len(indices), batch_size, drop_remainder=drop_remainder)
    _check_int("start_batch", start_batch, 0)
    if start_batch > total:
        raise ValueError(f"start_batch must be in [0, {total}] (batches in this epoch), got {start_batch}")
    if isinstance(source, ArraySource):
        return _array_batches(source, indices, batch_size, start_batch, total)
    return _grain_batches(source, indices, batch_size, start_batch, total, worker_count)


def _array_batches(source: ArraySource, indices: np.ndarray, batch_size: int, start: int, stop: int) -> Iterator[Batch]:
    for b in range(start, stop):
        batch_indices = indices[b * batch_size : (b + 1) * batch_size]
        yield {"image": source.images[batch_indices], "label": source.labels[batch_indices]}


def _collate(examples: Sequence[Example]) -> Batch:
    return {
        "image": np.stack([np.asarray(e["image"], np.uint8) for e in examples]),
        "label": np.array([e["label"] for e in examples], np.int32),
    }


class _BatchReader:
    """Batch ``b`` of `source` read in the order `indices` (a picklable grain data source)."""

    def __init__(self, source: Source, indices: np.ndarray, batch_size: int):
        self.source = source
        self.indices = indices
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __getitem__(self, index: int) -> Batch:
        keys = self.indices[index * self.batch_size : (index + 1) * self.batch_size]
        return _collate([self.source[int(key)] for key in keys])


def _grain_batches(
    source: Source, indices: np.ndarray, batch_size: int, start: int, stop: int, worker_count: int
) -> Iterator[Batch]:
    import grain

    dataset = grain.MapDataset.source(_BatchReader(source, indices, batch_size))[start:stop]
    read_options = grain.ReadOptions(num_threads=_READ_THREADS, prefetch_buffer_size=_PREFETCH_BATCHES)
    dataset = dataset.to_iter_dataset(read_options)
    if worker_count > 0:
        from absl import flags

        if not flags.FLAGS.is_parsed():  # grain 0.2.18 reads an absl flag here:
            # https://github.com/google/grain/issues/1355
            flags.FLAGS.mark_as_parsed()
        dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_count))
    iterator = iter(dataset)
    try:
        yield from iterator
    finally:
        iterator.close()  # Stops worker processes now rather than at garbage collection.


class _Range:
    """Examples `start` .. `stop` - 1 of a random-access source."""

    def __init__(self, source: Source, start: int, stop: int):
        self.source, self.start, self.stop = source, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> Example:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.source[self.start + index]


def _range(source: Source, start: int, stop: int) -> Source:
    if isinstance(source, ArraySource):
        return ArraySource(source.images[start:stop], source.labels[start:stop])
    return _Range(source, start, stop)


def take(source: Source, limit: int | None) -> Source:
    """The first `limit` examples of `source` (all of them when limit is None or at least len(source))."""
    if limit is None or limit >= len(source):
        return source
    _check_int("limit", limit, 1)
    return _range(source, 0, limit)


def skip(source: Source, count: int) -> Source:
    """The examples of `source` after its first `count` (0 <= count <= len(source))."""
    _check_int("count", count, 0)
    if count > len(source):
        raise ValueError(f"count: expected at most the source's {len(source)} examples, got {count}")
    return source if count == 0 else _range(source, count, len(source))


def padded_batches(source: Source, batch_size: int, *, shard_index: int = 0, shard_count: int = 1) -> Iterator[Batch]:
    """The evaluation batches of one shard, in source order, each padded to `batch_size` examples, with a 'mask'
    (bool[B], False on padding): {'image', 'label', 'mask'}. Every shard yields the same number of batches (the
    largest shard's), so that processes evaluating together take the same number of steps."""
    count = num_batches(source, batch_size, drop_remainder=False, shard_count=shard_count)
    batches_ = batches(
        source,
        batch_size,
        seed=0,
        epoch=0,
        shuffle=False,
        drop_remainder=False,
        shard_index=shard_index,
        shard_count=shard_count,
    )
    empty = None
    for _ in range(count):
        batch = next(batches_, None)
        if batch is None:  # a shard with one batch fewer: a batch of padding only
            empty = empty or {
                "image": np.zeros((0, *source[0]["image"].shape), np.uint8),
                "label": np.zeros((0,), np.int32),
            }
            batch = empty
        n = len(batch["label"])
        yield {
            "image": np.pad(batch["image"], [(0, batch_size - n)] + [(0, 0)] * (batch["image"].ndim - 1)),
            "label": np.pad(batch["label"], (0, batch_size - n)),
            "mask": np.arange(batch_size) < n,
        }
