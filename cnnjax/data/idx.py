"""Reading, writing and locating IDX files (the MNIST / Fashion-MNIST format).

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then
``ndim`` big-endian uint32 dimension sizes, then the array in C order, big-endian.
Files may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cnnjax.data.sources import check_labels

# IDX type code -> big-endian NumPy dtype.
_IDX_DTYPES: Mapping[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dtype.newbyteorder("="): code for code, dtype in _IDX_DTYPES.items()}

# Split -> (images file, labels file), without the optional ".gz" suffix.
IDX_FILES: Mapping[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"IDX file {path}: corrupt or truncated gzip data ({e})") from e


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (raw or ``.gz``) into a native-endian NumPy array.

    Args:
      path: the file; a ``.gz`` suffix means gzip-compressed.

    Returns:
      The array with the shape stored in the file, e.g. uint8[60000, 28, 28] for
      MNIST training images and uint8[60000] for its labels.

    Raises:
      FileNotFoundError: the file does not exist.
      ValueError: bad magic number, unknown type code, or a file length that does
        not match the dimensions in its header (truncated or trailing bytes).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"IDX file {path}: {len(data)} bytes, too short for the 4-byte magic number")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"IDX file {path}: bad magic number 0x{data[:4].hex()}; expected 0x0000TTNN with "
            f"type code TT in {{{', '.join(f'{c:02x}' for c in _IDX_DTYPES)}}} and NN >= 1 dimensions"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"IDX file {path}: truncated header ({len(data)} bytes, {ndim} dimensions need {header})")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_DTYPES[code]
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"IDX file {path}: {len(data)} bytes, but its header (dims {shape}, {dtype.newbyteorder('=')}) "
            f"requires {expected} bytes; the file is {'truncated' if len(data) < expected else 'longer than declared'}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes `array` as an IDX file, gzip-compressed if `path` ends with ``.gz``.

    Args:
      path: destination file.
      array: at least 1-D, of dtype uint8, int8, int16, int32, float32 or float64.
    """
    array = np.asarray(array)
    code = _IDX_CODES.get(array.dtype)
    if code is None:
        raise TypeError(f"write_idx: array dtype must be one of {sorted(map(str, _IDX_CODES))}, got {array.dtype}")
    if array.ndim == 0:
        raise ValueError("write_idx: array must have at least one dimension, got a scalar")
    data = (
        struct.pack(">HBB", 0, code, array.ndim)
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.astype(_IDX_DTYPES[code], copy=False).tobytes()
    )
    path = Path(path)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def _find_file(directory: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


@dataclasses.dataclass(frozen=True)
class IdxDataset:
    """A dataset distributed as the four MNIST-style IDX files.

    Attributes:
      env_var: environment variable naming the directory (overrides `default_dir`).
      default_dir: directory used when neither an argument nor `env_var` is given.
      how_to_get: a sentence telling the user how to obtain the files.
      class_names: one name per label.
    """

    env_var: str
    default_dir: str
    how_to_get: str
    class_names: tuple[str, ...]


IDX_DATASETS: Mapping[str, IdxDataset] = {
    "mnist": IdxDataset(
        env_var="CNNJAX_MNIST_DIR",
        default_dir="/usr/share/datasets/mnist",
        how_to_get=(
            "download the four MNIST IDX files on a machine with network access (no Debian package ships "
            "them) and copy them to /usr/share/datasets/mnist"
        ),
        class_names=tuple(str(digit) for digit in range(10)),
    ),
    "fashion_mnist": IdxDataset(
        env_var="CNNJAX_FASHION_MNIST_DIR",
        default_dir="/usr/share/datasets/fashion-mnist",
        how_to_get="install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu)",
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    ),
}


def find_idx_files(name: str, idx_dir: str | os.PathLike | None = None) -> dict[str, tuple[Path, Path]]:
    """Locates the four IDX files of an IDX dataset.

    The directory is, in order of precedence: `idx_dir`, the dataset's environment
    variable (``CNNJAX_MNIST_DIR``, ``CNNJAX_FASHION_MNIST_DIR``), its default
    directory (``/usr/share/datasets/mnist``, ``/usr/share/datasets/fashion-mnist``).
    Each file may be gzip-compressed (``.gz``) or raw.

    Args:
      name: 'mnist' or 'fashion_mnist'.
      idx_dir: explicit directory, overriding the environment variable and default.

    Returns:
      {'train': (images path, labels path), 'test': (images path, labels path)}.

    Raises:
      ValueError: unknown `name`.
      FileNotFoundError: some of the files are missing; the message names the
        directory, the missing files and how to obtain them.
    """
    if name not in IDX_DATASETS:
        raise ValueError(f"find_idx_files: name must be one of {sorted(IDX_DATASETS)}, got {name!r}")
    dataset = IDX_DATASETS[name]
    if idx_dir is not None:
        directory, origin = Path(idx_dir), "the idx_dir argument"
    elif os.environ.get(dataset.env_var):
        directory, origin = Path(os.environ[dataset.env_var]), f"${dataset.env_var}"
    else:
        directory, origin = Path(dataset.default_dir), "the default directory"
    stems = [stem for pair in IDX_FILES.values() for stem in pair]
    found = {stem: _find_file(directory, stem) for stem in stems}
    missing = [stem for stem, path in found.items() if path is None]
    if missing:
        raise FileNotFoundError(
            f"{name}: IDX files missing in {directory} (from {origin}): "
            f"{', '.join(f'{stem}[.gz]' for stem in missing)}. To get them, {dataset.how_to_get}; "
            f"or put the four files ({', '.join(stems)}, gzipped or not) in a directory and set "
            f"{dataset.env_var}=DIR, or pass idx_dir=DIR (`cnnjax train --data-dir DIR`)."
        )
    return {split: (found[images], found[labels]) for split, (images, labels) in IDX_FILES.items()}


def load_idx_split(
    images_path: Path, labels_path: Path, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Reads one split: images uint8[N, H, W, 1] and labels int32[N].

    Args:
      images_path, labels_path: the split's two IDX files.
      num_classes: when given, every label must be in [0, num_classes).

    Raises:
      ValueError: the files are not uint8 images [N, H, W] and labels [N] of equal N, or a label is out of
        range (the message names the labels file, the first bad index and its value).
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"IDX file {images_path}: expected uint8 images [N, H, W], got {images.dtype}{list(images.shape)}"
        )
    if labels.shape != images.shape[:1] or labels.dtype != np.uint8:
        raise ValueError(
            f"IDX file {labels_path}: expected uint8 labels [{images.shape[0]}] to match {images_path.name}, "
            f"got {labels.dtype}{list(labels.shape)}"
        )
    if num_classes is not None:
        check_labels(labels, num_classes, f"IDX file {labels_path}")
    return images[..., None], labels.astype(np.int32)
