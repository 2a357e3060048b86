"""IDX reading/writing and locating the IDX files."""

import gzip

import numpy as np
import pytest

from cnnjax.data import find_idx_files, read_idx, write_idx
from cnnjax.data.idx import load_idx_split


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "dtype, shape",
    [
        (np.uint8, (5, 4, 3)),
        (np.int8, (7,)),
        (np.int16, (2, 3)),
        (np.int32, (3, 1, 2, 2)),
        (np.float32, (4, 5)),
        (np.float64, (6,)),
    ],
)
def test_round_trip(tmp_path, suffix, dtype, shape):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    path = tmp_path / f"a-idx{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == shape
    np.testing.assert_array_equal(back, array)


def test_known_bytes(tmp_path):
    # Header of an MNIST label file: magic 0x00000801, one dimension of size 3.
    path = tmp_path / "labels"
    path.write_bytes(bytes.fromhex("00000801 00000003 050007"))
    np.testing.assert_array_equal(read_idx(path), [5, 0, 7])
    write_idx(tmp_path / "again", np.array([5, 0, 7], np.uint8))
    assert (tmp_path / "again").read_bytes() == path.read_bytes()


def test_big_endian_payload(tmp_path):
    path = tmp_path / "ints"
    path.write_bytes(bytes.fromhex("00000c01 00000002 00000001 000001ff"))
    np.testing.assert_array_equal(read_idx(path), [1, 511])


@pytest.mark.parametrize(
    "payload, match",
    [
        (bytes.fromhex("00000801 00000005 0102"), "truncated"),
        (bytes.fromhex("00000801 00000002 010203"), "longer than declared"),
        (bytes.fromhex("08030000 00000001 00"), "bad magic number"),
        (bytes.fromhex("00000a01 00000001 00"), "bad magic number"),
        (bytes.fromhex("00000803 0000"), "truncated header"),
        (bytes.fromhex("0000"), "too short"),
    ],
)
def test_corrupt_files_name_the_file(tmp_path, payload, match):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "images.gz"
    write_idx(path, np.arange(1000, dtype=np.uint8).reshape(10, 10, 10))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_gzip_of_truncated_idx(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(bytes.fromhex("00000803 00000002 00000002 00000002 010203")))
    with pytest.raises(ValueError, match=r"19 bytes, but .* requires 24 bytes; the file is truncated"):
        read_idx(path)


def test_write_rejects_unsupported(tmp_path):
    with pytest.raises(TypeError, match="dtype"):
        write_idx(tmp_path / "x", np.zeros(3, np.uint32))
    with pytest.raises(ValueError, match="at least one dimension"):
        write_idx(tmp_path / "x", np.uint8(3))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


def test_find_idx_files_explicit_dir(idx_dir):
    directory, _ = idx_dir
    files = find_idx_files("fashion_mnist", directory)
    assert files["train"] == (directory / "train-images-idx3-ubyte.gz", directory / "train-labels-idx1-ubyte.gz")
    assert files["test"] == (directory / "t10k-images-idx3-ubyte", directory / "t10k-labels-idx1-ubyte")


def test_find_idx_files_env_var_and_precedence(idx_dir, tmp_path, monkeypatch):
    directory, _ = idx_dir
    monkeypatch.setenv("CNNJAX_MNIST_DIR", str(directory))
    assert find_idx_files("mnist")["train"][0].parent == directory
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="the idx_dir argument"):
        find_idx_files("mnist", empty)  # The argument overrides the variable.


def test_find_idx_files_error_message(tmp_path, monkeypatch):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    monkeypatch.setenv("CNNJAX_FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        find_idx_files("fashion_mnist")
    message = str(info.value)
    assert str(tmp_path) in message and "$CNNJAX_FASHION_MNIST_DIR" in message
    assert "t10k-labels-idx1-ubyte[.gz]" in message and "train-images-idx3-ubyte[.gz]," not in message
    assert "apt-get install dataset-fashion-mnist" in message and "idx_dir" in message


def test_find_idx_files_unknown_name():
    with pytest.raises(ValueError, match="fashion_mnist"):
        find_idx_files("emnist")


def test_load_idx_split(idx_dir):
    directory, arrays = idx_dir
    files = find_idx_files("mnist", directory)
    images, labels = load_idx_split(*files["train"])
    assert images.shape == (40, 28, 28, 1) and labels.dtype == np.int32
    np.testing.assert_array_equal(images[..., 0], arrays["train"][0])
    np.testing.assert_array_equal(labels, arrays["train"][1])


def test_load_idx_split_mismatched_counts(idx_dir):
    directory, _ = idx_dir
    files = find_idx_files("mnist", directory)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.*expected uint8 labels \[40\]"):
        load_idx_split(files["train"][0], files["test"][1])
