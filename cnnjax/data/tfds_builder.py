"""A tensorflow-datasets builder for local IDX files (MNIST, Fashion-MNIST).

Prepares without TensorFlow: images are stored as raw ``Tensor(uint8[28, 28, 1])``
features (``tfds.features.Image`` would need TensorFlow to PNG-encode NumPy
arrays) in the array_record format, and read back with ``tfds.data_source`` or
``builder.as_data_source()``::

    builder = LocalIdx(config="fashion_mnist", data_dir=..., idx_dir=...)
    builder.download_and_prepare(file_format="array_record")
    train = builder.as_data_source(split="train")  # or, once this module is imported:
    train = tfds.data_source("local_idx/fashion_mnist", split="train", data_dir=...)

The IDX directory is found by `cnnjax.data.idx.find_idx_files` (`idx_dir` argument,
``CNNJAX_FASHION_MNIST_DIR`` / ``CNNJAX_MNIST_DIR``, or the Debian default). This
module imports tensorflow_datasets, so `cnnjax.data` imports it lazily.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds

from cnnjax.data import idx


class LocalIdx(tfds.core.GeneratorBasedBuilder):
    """MNIST-format datasets read from local IDX files (configs 'mnist', 'fashion_mnist')."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Raw uint8[28, 28, 1] tensors from local IDX files."}
    BUILDER_CONFIGS: ClassVar[list[tfds.core.BuilderConfig]] = [
        tfds.core.BuilderConfig(name="mnist", description="MNIST handwritten digits."),
        tfds.core.BuilderConfig(name="fashion_mnist", description="Zalando Fashion-MNIST article images."),
    ]
    DEFAULT_CONFIG_NAME = "fashion_mnist"

    def __init__(self, *, idx_dir: str | os.PathLike | None = None, **kwargs):
        """Args: idx_dir: directory of the four IDX files (see `find_idx_files`);
        other keyword arguments (config, data_dir, file_format, ...) go to tfds."""
        self._idx_dir = idx_dir
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"{self.builder_config.description} Prepared from local IDX files by cnnjax.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(names=idx.IDX_DATASETS[self.builder_config.name].class_names),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Iterator]:
        del dl_manager  # The files are local; nothing is downloaded.
        files = idx.find_idx_files(self.builder_config.name, self._idx_dir)
        return {split: self._generate_examples(*paths) for split, paths in files.items()}

    def _generate_examples(self, images_path: Path, labels_path: Path) -> Iterator[tuple[int, dict]]:
        num_classes = len(idx.IDX_DATASETS[self.builder_config.name].class_names)
        images, labels = idx.load_idx_split(images_path, labels_path, num_classes=num_classes)
        if images.shape[1:] != (28, 28, 1):
            raise ValueError(f"IDX file {images_path}: expected 28x28 images, got {images.shape[1:3]}")
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": image, "label": int(label)}


def prepare_idx_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    idx_dir: str | os.PathLike | None = None,
) -> LocalIdx:
    """Returns the `LocalIdx` builder for `name`, prepared (array_record) if it was not yet.

    Args:
      name: 'mnist' or 'fashion_mnist'.
      data_dir: tfds data directory (None: ``$TFDS_DATA_DIR`` or ~/tensorflow_datasets).
      idx_dir: directory of the IDX files, used only when preparing.
    """
    if name not in idx.IDX_DATASETS:
        raise ValueError(f"prepare_idx_dataset: name must be one of {sorted(idx.IDX_DATASETS)}, got {name!r}")
    builder = LocalIdx(config=name, data_dir=data_dir, idx_dir=idx_dir, file_format="array_record")
    if not builder.is_prepared():
        builder.download_and_prepare(file_format="array_record")
    return builder
