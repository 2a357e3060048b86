"""`check_same_files`: a run's recorded data files against those loaded now, matched by name and sha256."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from cnnjax.data import check_same_files, fingerprint_files


@pytest.fixture
def recorded(tmp_path):
    """Two files in tmp_path/run, and their record."""
    folder = tmp_path / "run"
    folder.mkdir()
    for name, text in (("t10k-images-idx3-ubyte", "images"), ("t10k-labels-idx1-ubyte", "labels")):
        (folder / name).write_text(text)
    return fingerprint_files(sorted(folder.iterdir()))


def test_fingerprint_records_path_size_and_sha256(tmp_path, recorded):
    path = tmp_path / "run" / "t10k-images-idx3-ubyte"
    assert recorded[0] == {"path": str(path), "size": 6, "sha256": hashlib.sha256(b"images").hexdigest()}


def test_the_same_bytes_in_another_folder_are_the_same_files(tmp_path, recorded):
    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    check_same_files(recorded, sorted((tmp_path / "copy").iterdir()), dataset="fashion_mnist", source="m.json")


def test_a_changed_file_is_named_with_both_sha256_and_where_to_point(tmp_path, recorded):
    shutil.copytree(tmp_path / "run", tmp_path / "other")
    changed = tmp_path / "other" / "t10k-labels-idx1-ubyte"
    changed.write_text("other labels")
    with pytest.raises(ValueError) as info:
        check_same_files(recorded, sorted((tmp_path / "other").iterdir()), dataset="fashion_mnist", source="m.json")
    assert str(info.value) == (
        f"data: the fashion_mnist files loaded are not the run's: t10k-labels-idx1-ubyte: m.json records sha256 "
        f"{recorded[1]['sha256']} ({recorded[1]['path']}), the file loaded, {changed}, has sha256 "
        f"{hashlib.sha256(b'other labels').hexdigest()}. To use the run's data, point at the folder holding the "
        "run's files: config.data_dir (`cnnjax train --data-dir DIR`) where the command takes it, else "
        "CNNJAX_FASHION_MNIST_DIR=DIR (config.data_dir takes precedence)."
    )


def test_a_file_missing_on_either_side_is_named(tmp_path, recorded):
    folder = tmp_path / "run"
    (folder / "t10k-labels-idx1-ubyte").rename(folder / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(ValueError) as info:
        check_same_files(recorded, sorted(folder.iterdir()), dataset="cifar10", source="m.json")
    message = str(info.value)
    assert (
        f"m.json records {recorded[1]['path']} (sha256 {recorded[1]['sha256']}), but no file named "
        "t10k-labels-idx1-ubyte was loaded" in message
    )
    assert (
        f"{folder / 't10k-labels-idx1-ubyte.gz'} was loaded, but m.json records no file named "
        "t10k-labels-idx1-ubyte.gz" in message
    )
    assert message.endswith(
        "point at the tfds data directory holding the run's prepared copy: config.data_dir (`cnnjax train "
        "--data-dir DIR`) where the command takes it, else TFDS_DATA_DIR=DIR (config.data_dir takes precedence)."
    )


def test_a_run_given_arrays_records_no_files_to_check_against(tmp_path, recorded):
    with pytest.raises(ValueError, match=r"m.json records no data files \(the run was given its dataset as arrays\)"):
        check_same_files([], sorted((tmp_path / "run").iterdir()), dataset="fashion_mnist", source="m.json")
    check_same_files([], [], dataset="arrays", source="m.json")
