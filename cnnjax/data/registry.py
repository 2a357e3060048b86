"""Named datasets: `load_dataset(name)` -> `Dataset` with train/test `Source`s and stats.

MNIST and Fashion-MNIST come from local IDX files (in memory by default, or through
the `LocalIdx` tfds builder). CIFAR-10/100, Imagenette and ImageNet come from a
copy prepared in the array_record format by tfds (their stock builders need
TensorFlow, and network access or manually downloaded archives, to prepare).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cnnjax import logs
from cnnjax.data import idx
from cnnjax.data.sources import ArraySource, ResizeCenterCrop, Source, TfdsSource, check_labels, to_array_source

PathLike = str | os.PathLike

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A classification dataset.

    Attributes:
      name: registry name.
      num_classes: number of classes; labels are in [0, num_classes).
      image_shape: (H, W, C) of every image.
      mean, std: per-channel statistics of the training images scaled to [0, 1],
        for `cnnjax.data.normalize`.
      train, test: the splits (`ArraySource` when in memory).
      class_names: optional human-readable class names.
      files: the files the splits are read from (IDX files, or the prepared tfds directory's files); empty
        for in-memory arrays. The run manifest fingerprints them.
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train: Source
    test: Source
    class_names: tuple[str, ...] | None = None
    files: tuple[Path, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Spec:
    num_classes: int
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    tfds_name: str | None = None  # Stock tfds builder (None: read from IDX files).
    test_split: str = "test"
    resize: int | None = None  # ResizeCenterCrop size for variable-size images.
    prepare_hint: str = ""


def _tfds_hint(name: str) -> str:
    return (
        f"Its stock tfds builder needs TensorFlow and network access to prepare it: on a machine with both, run "
        f"`pip install tensorflow tensorflow-datasets && tfds build {name} --file_format=array_record "
        f"--data_dir=DIR`, then copy DIR to this machine and pass data_dir=DIR (or set TFDS_DATA_DIR=DIR)."
    )


_SPECS: Mapping[str, _Spec] = {
    "mnist": _Spec(10, (28, 28, 1), (0.1307,), (0.3081,)),
    "fashion_mnist": _Spec(10, (28, 28, 1), (0.2860,), (0.3530,)),
    "cifar10": _Spec(
        10,
        (32, 32, 3),
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        "cifar10",
        prepare_hint=_tfds_hint("cifar10"),
    ),
    "cifar100": _Spec(
        100,
        (32, 32, 3),
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
        "cifar100",
        prepare_hint=_tfds_hint("cifar100"),
    ),
    "imagenette": _Spec(
        10,
        (256, 256, 3),
        _IMAGENET_MEAN,
        _IMAGENET_STD,
        "imagenette/320px-v2",
        test_split="validation",
        resize=256,
        prepare_hint=_tfds_hint("imagenette/320px-v2"),
    ),
    "imagenet2012": _Spec(
        1000,
        (256, 256, 3),
        _IMAGENET_MEAN,
        _IMAGENET_STD,
        "imagenet2012",
        test_split="validation",
        resize=256,
        prepare_hint=(
            "ImageNet cannot be downloaded automatically: put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar "
            "in a directory MANUAL_DIR and, on a machine with TensorFlow (its tfds builder needs it), run "
            "`tfds build imagenet2012 --manual_dir=MANUAL_DIR --file_format=array_record --data_dir=DIR`, "
            "then pass data_dir=DIR (or set TFDS_DATA_DIR=DIR)."
        ),
    ),
}


def list_datasets() -> tuple[str, ...]:
    """Names accepted by `load_dataset`."""
    return tuple(_SPECS)


def resized_datasets() -> tuple[str, ...]:
    """The datasets of variable-size images, resized when read: those `load_dataset` takes an `image_size` for."""
    return tuple(sorted(name for name, spec in _SPECS.items() if spec.resize))


def _make(
    name: str, spec: _Spec, train: Source, test: Source, class_names: tuple[str, ...] | None, files: list[Path]
) -> Dataset:
    return Dataset(
        name, spec.num_classes, spec.image_shape, spec.mean, spec.std, train, test, class_names, tuple(files)
    )


def _tfds_files(data_dir: str | os.PathLike) -> list[Path]:
    """The files of a prepared tfds dataset version directory (array_record shards, dataset_info.json, ...);
    none for tfds's mock data, which has no directory."""
    return sorted(p for p in Path(data_dir).glob("*") if p.is_file())


def _check_tfds_classes(name: str, spec: _Spec, data_source) -> None:
    """A prepared copy's label feature must have the registry's number of classes (tfds checks each label
    against it when preparing, so this bounds every label without reading the examples)."""
    num_classes = data_source.dataset_info.features["label"].num_classes
    if num_classes != spec.num_classes:
        raise ValueError(
            f"{name}: the prepared copy in {data_source.dataset_info.data_dir} has labels in [0, {num_classes}), "
            f"expected num_classes={spec.num_classes}"
        )


def _load_idx(name: str, spec: _Spec, data_dir: PathLike | None, idx_dir: PathLike | None, in_memory: bool) -> Dataset:
    class_names = idx.IDX_DATASETS[name].class_names
    if in_memory:
        files = idx.find_idx_files(name, idx_dir)
        train, test = (
            ArraySource(*idx.load_idx_split(*files[split], num_classes=spec.num_classes)) for split in ("train", "test")
        )
        for split, source in (("train", train), ("test", test)):
            if source.images.shape[1:] != spec.image_shape:
                expected, got = ("x".join(map(str, shape[:2])) for shape in (spec.image_shape, source.images.shape[1:]))
                raise ValueError(
                    f"IDX file {files[split][0]}: expected {name}'s {expected} images, got {got}: not "
                    f"{name} files; to get them, {idx.IDX_DATASETS[name].how_to_get}"
                )
        return _make(name, spec, train, test, class_names, [path for pair in files.values() for path in pair])
    from cnnjax.data import tfds_builder  # Imports tensorflow_datasets.

    builder = tfds_builder.prepare_idx_dataset(name, data_dir=data_dir, idx_dir=idx_dir)
    splits = builder.as_data_source()
    _check_tfds_classes(name, spec, splits["train"])
    train, test = TfdsSource(splits["train"]), TfdsSource(splits["test"])
    return _make(name, spec, train, test, class_names, _tfds_files(builder.data_dir))


def _variant_folder_warning(record: logging.LogRecord) -> bool:
    """tfds's warning about a version folder without dataset_info.json, logged while it looks for a prepared copy:
    when there is none, the error below says so and how to prepare one, and the warnings only precede it."""
    return "has no dataset_info.json" in record.getMessage()


def _load_prepared(name: str, spec: _Spec, data_dir: PathLike | None, in_memory: bool) -> Dataset:
    import tensorflow_datasets as tfds

    try:
        with logs.absl_records_dropped(_variant_folder_warning):
            splits = tfds.data_source(
                spec.tfds_name, split=["train", spec.test_split], data_dir=data_dir, download=False
            )
    except (NotImplementedError, AssertionError, OSError, ValueError, KeyError) as e:  # tfds: no copy -> KeyError
        with logs.absl_records_dropped(_variant_folder_warning):
            builder = tfds.builder(spec.tfds_name, data_dir=data_dir)
            prepared = builder.is_prepared()
        if prepared:
            state = f"is prepared in {builder.data_dir} as {builder.info.file_format.value}, not array_record ({e})"
        else:
            state = f"was not found: no prepared copy in {builder.data_dir}"
        raise FileNotFoundError(f"{name}: tfds dataset '{spec.tfds_name}' {state}. {spec.prepare_hint}") from e
    _check_tfds_classes(name, spec, splits[0])
    class_names = tuple(splits[0].dataset_info.features["label"].names)
    transform = ResizeCenterCrop(spec.resize) if spec.resize else None
    train, test = (TfdsSource(split, transform) for split in splits)
    if in_memory:
        train, test = to_array_source(train), to_array_source(test)
        for source, split in ((train, "train"), (test, spec.test_split)):
            check_labels(source.labels, spec.num_classes, f"{name}: tfds split {split!r}")
    return _make(name, spec, train, test, class_names, _tfds_files(splits[0].dataset_info.data_dir))


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8[N, H, W, C] images scaled to [0, 1] (exact, via histograms)."""
    values = np.arange(256, dtype=np.float64) / 255.0
    mean, std = [], []
    for c in range(images.shape[-1]):
        counts = np.bincount(images[..., c].ravel(), minlength=256)
        m = counts @ values / counts.sum()
        mean.append(float(m))
        std.append(float(np.sqrt(max(counts @ values**2 / counts.sum() - m * m, 0.0))))
    return tuple(mean), tuple(std)


def load_dataset(
    name: str,
    *,
    data_dir: PathLike | None = None,
    idx_dir: PathLike | None = None,
    in_memory: bool | None = None,
    image_size: int | None = None,
) -> Dataset:
    """Loads a named dataset.

    Args:
      name: one of `list_datasets()`: 'mnist', 'fashion_mnist', 'cifar10',
        'cifar100', 'imagenette' (320px, resized and center-cropped to 256 x 256),
        'imagenet2012' (resized and center-cropped to 256 x 256; test = validation).
      data_dir: tfds data directory of prepared datasets (None: ``$TFDS_DATA_DIR``
        or ~/tensorflow_datasets).
      idx_dir: for 'mnist' / 'fashion_mnist', the directory of the IDX files
        (overrides ``CNNJAX_MNIST_DIR`` / ``CNNJAX_FASHION_MNIST_DIR`` and the
        default ``/usr/share/datasets/...``).
      in_memory: load both splits into NumPy `ArraySource`s. Default: True for
        the MNIST family (read straight from the IDX files), False otherwise
        (random access to the array_record files). For the MNIST family,
        False prepares the `LocalIdx` tfds builder in `data_dir` on first use.
      image_size: for the datasets of variable-size images ('imagenette',
        'imagenet2012'), the size they are read at: each image's shorter side
        resized to it and its centre square kept (None: 256). A scale
        augmentation up to shorter side S (VGG's 512, ResNet's 480) keeps the
        full resolution only from images read at S or more.

    Raises:
      ValueError: unknown `name`, or `idx_dir` for a non-IDX dataset.
      FileNotFoundError: the data is missing; the message says how to get it.
    """
    if name not in _SPECS:
        raise ValueError(f"load_dataset: name must be one of {list(_SPECS)}, got {name!r}")
    spec = _SPECS[name]
    if image_size is not None:
        if not spec.resize:
            raise ValueError(
                f"image_size: only {list(resized_datasets())} are read at a chosen size, got image_size for {name!r}"
            )
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size: expected a size in pixels (an int >= 1), got {image_size!r}")
        spec = dataclasses.replace(spec, resize=image_size, image_shape=(image_size, image_size, spec.image_shape[2]))
    if name in idx.IDX_DATASETS:
        return _load_idx(name, spec, data_dir, idx_dir, True if in_memory is None else in_memory)
    if idx_dir is not None:
        raise ValueError(f"load_dataset: idx_dir applies only to {sorted(idx.IDX_DATASETS)}, got it for {name!r}")
    return _load_prepared(name, spec, data_dir, bool(in_memory))


def from_arrays(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    test_images: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
    name: str = "arrays",
    num_classes: int | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    class_names: tuple[str, ...] | None = None,
) -> Dataset:
    """Makes an in-memory `Dataset` from arrays.

    Args:
      images, labels: training split, uint8[N, H, W, C] and integer [N].
      test_images, test_labels: test split; both or neither. Neither: the test
        split is the training split (for smoke tests only).
      name: dataset name.
      num_classes: default ``max(labels) + 1``.
      mean, std: per-channel statistics of the [0, 1]-scaled images; default
        computed from the training images.
      class_names: optional, one per class.
    """
    train = ArraySource(images, labels)
    if (test_images is None) != (test_labels is None):
        raise ValueError("from_arrays: pass both test_images and test_labels, or neither")
    test = train if test_images is None else ArraySource(test_images, test_labels)
    if test.images.shape[1:] != train.images.shape[1:]:
        raise ValueError(
            f"from_arrays: test_images must have the training image shape {train.images.shape[1:]}, "
            f"got {test.images.shape[1:]}"
        )
    if num_classes is None:
        num_classes = int(max(train.labels.max(initial=0), test.labels.max(initial=0))) + 1
    for labels_, split in ((train.labels, "labels"), (test.labels, "test_labels")):
        check_labels(labels_, num_classes, f"from_arrays: {split}")
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(
            f"from_arrays: class_names must have num_classes={num_classes} entries, got {len(class_names)}"
        )
    channels = train.images.shape[-1]
    if mean is None or std is None:
        data_mean, data_std = channel_stats(train.images)
        mean = data_mean if mean is None else mean
        std = data_std if std is None else std
    mean, std = tuple(mean), tuple(std)
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f"from_arrays: mean and std must have one entry per channel ({channels}), got {len(mean)} and {len(std)}"
        )
    return Dataset(
        name,
        num_classes,
        train.images.shape[1:],
        mean,
        std,
        train,
        test,
        None if class_names is None else tuple(class_names),
    )
