"""Random-access sources of examples ``{'image': uint8[H, W, C], 'label': int}``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

Example = dict[str, Any]


@runtime_checkable
class Source(Protocol):
    """A random-access split: ``len(source)`` examples, ``source[i]`` -> {'image', 'label'}."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Example: ...


class ArraySource:
    """A split held in memory as NumPy arrays (the fast path of `batches`).

    Attributes:
      images: uint8[N, H, W, C].
      labels: int32[N].
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError(f"ArraySource: images must be uint8[N, H, W, C], got {images.dtype}{list(images.shape)}")
        if labels.shape != images.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"ArraySource: labels must be integers of shape [{images.shape[0]}] (one per image), "
                f"got {labels.dtype}{list(labels.shape)}"
            )
        self.images = images
        self.labels = labels.astype(np.int32, copy=False)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Example:
        return {"image": self.images[index], "label": int(self.labels[index])}

    def __repr__(self) -> str:
        return f"ArraySource(images={self.images.dtype}{list(self.images.shape)}, labels={len(self)})"


class TfdsSource:
    """Adapts a tfds data source (e.g. ``tfds.data_source(...)['train']``) to `Source`.

    Keeps only 'image' and 'label'; `transform` (picklable, e.g. `ResizeCenterCrop`)
    maps each uint8 image to the dataset's fixed shape.
    """

    def __init__(self, data_source: Sequence[Example], transform: Callable[[np.ndarray], np.ndarray] | None = None):
        self.data_source = data_source
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data_source)

    def __getitem__(self, index: int) -> Example:
        example = self.data_source[index]
        image = np.asarray(example["image"], dtype=np.uint8)
        if self.transform is not None:
            image = self.transform(image)
        return {"image": image, "label": int(example["label"])}

    def __repr__(self) -> str:
        return f"TfdsSource({self.data_source!r}, transform={self.transform!r})"


class ResizeCenterCrop:
    """Resizes an image so its shorter side is `size` (bilinear, antialiased), then
    crops the central `size` x `size` square (AlexNet's 256 x 256 preprocessing).

    Maps uint8[H, W, C] -> uint8[size, size, C]; picklable for grain workers.
    """

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image: np.ndarray) -> np.ndarray:
        from PIL import Image

        h, w = image.shape[:2]
        scale = self.size / min(h, w)
        new_h, new_w = max(self.size, round(h * scale)), max(self.size, round(w * scale))
        pil = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)
        resized = np.asarray(pil.resize((new_w, new_h), Image.Resampling.BILINEAR)).reshape(new_h, new_w, -1)
        top, left = (new_h - self.size) // 2, (new_w - self.size) // 2
        return resized[top : top + self.size, left : left + self.size]

    def __repr__(self) -> str:
        return f"ResizeCenterCrop({self.size})"


def check_labels(labels: np.ndarray, num_classes: int, where: str) -> None:
    """Raises ValueError, naming `where`, the first index and value of a label outside [0, num_classes).

    One vectorised pass over `labels` (integer [N]), cheap next to reading the images.
    """
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        first = int(bad[0])
        raise ValueError(
            f"{where}: expected labels in [0, num_classes={num_classes}), got {int(labels[first])} at index {first} "
            f"({bad.size} of {labels.size} labels are outside)"
        )


def to_array_source(source: Source) -> ArraySource:
    """Reads every example of `source` (all of one image shape) into memory."""
    if isinstance(source, ArraySource):
        return source
    if len(source) == 0:
        raise ValueError("to_array_source: source is empty")
    first = source[0]
    images = np.empty((len(source), *np.shape(first["image"])), np.uint8)
    labels = np.empty(len(source), np.int32)
    for i in range(len(source)):
        example = first if i == 0 else source[i]
        images[i], labels[i] = example["image"], example["label"]
    return ArraySource(images, labels)
