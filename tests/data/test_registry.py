"""load_dataset, from_arrays and the Source types."""

import pickle

import numpy as np
import pytest

from cnnjax.data import (
    ArraySource,
    ResizeCenterCrop,
    Source,
    TfdsSource,
    channel_stats,
    from_arrays,
    list_datasets,
    load_dataset,
    to_array_source,
    write_idx,
)


def test_list_datasets():
    assert list_datasets() == ("mnist", "fashion_mnist", "cifar10", "cifar100", "imagenette", "imagenet2012")


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"name must be one of \['mnist', 'fashion_mnist', 'cifar10'.*got 'svhn'"):
        load_dataset("svhn")


def test_idx_dir_only_for_idx_datasets(tmp_path):
    with pytest.raises(ValueError, match="idx_dir applies only to"):
        load_dataset("cifar10", idx_dir=tmp_path)


def test_mnist_in_memory_from_idx_dir(idx_dir):
    directory, arrays = idx_dir
    ds = load_dataset("mnist", idx_dir=directory)
    assert (ds.name, ds.num_classes, ds.image_shape) == ("mnist", 10, (28, 28, 1))
    assert ds.mean == (0.1307,) and ds.std == (0.3081,) and ds.class_names[3] == "3"
    assert isinstance(ds.train, ArraySource) and isinstance(ds.train, Source)
    np.testing.assert_array_equal(ds.train.images[..., 0], arrays["train"][0])
    np.testing.assert_array_equal(ds.test.labels, arrays["t10k"][1])
    example = ds.test[5]
    assert example["image"].shape == (28, 28, 1) and example["label"] == arrays["t10k"][1][5]


@pytest.mark.parametrize("split, index, value", [("train", 7, 10), ("t10k", 0, 255), ("t10k", 10, 12)])
def test_labels_out_of_range_name_the_file_index_and_value(idx_dir, split, index, value):
    directory, arrays = idx_dir
    labels = arrays[split][1].copy()
    labels[index] = value
    labels[-1] = 200  # a later bad label: the message names the first
    suffix = ".gz" if split == "train" else ""
    write_idx(directory / f"{split}-labels-idx1-ubyte{suffix}", labels)
    with pytest.raises(ValueError) as info:
        load_dataset("mnist", idx_dir=directory)
    message = str(info.value)
    assert f"{split}-labels-idx1-ubyte{suffix}" in message
    assert f"expected labels in [0, num_classes=10), got {value} at index {index}" in message
    assert f"of {len(labels)} labels are outside" in message


@pytest.mark.parametrize("split, suffix, shape", [("train", ".gz", (4, 4)), ("t10k", "", (28, 20))])
def test_images_of_another_size_than_the_datasets_name_the_file(idx_dir, split, suffix, shape):
    directory, arrays = idx_dir
    count = len(arrays[split][1])
    write_idx(directory / f"{split}-images-idx3-ubyte{suffix}", np.zeros((count, *shape), np.uint8))
    with pytest.raises(
        ValueError,
        match=rf"IDX file .*{split}-images-idx3-ubyte{suffix}: expected mnist's 28x28 "
        rf"images, got {shape[0]}x{shape[1]}: not mnist files",
    ):
        load_dataset("mnist", idx_dir=directory)


def test_dataset_lists_the_files_it_was_read_from(idx_dir):
    directory, _ = idx_dir
    ds = load_dataset("mnist", idx_dir=directory)
    assert sorted(p.name for p in ds.files) == sorted(p.name for p in directory.iterdir())
    assert from_arrays(np.zeros((2, 3, 3, 1), np.uint8), np.arange(2)).files == ()


def test_env_var_directory(idx_dir, monkeypatch):
    directory, _ = idx_dir
    monkeypatch.setenv("CNNJAX_FASHION_MNIST_DIR", str(directory))
    ds = load_dataset("fashion_mnist")
    assert len(ds.train) == 40 and ds.class_names[-1] == "Ankle boot"


def test_missing_files_explain(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNJAX_MNIST_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"IDX files missing in {tmp_path}.*CNNJAX_MNIST_DIR=DIR"):
        load_dataset("mnist")


def test_array_source_validation():
    with pytest.raises(ValueError, match=r"images must be uint8\[N, H, W, C\], got float32\[2, 3, 3\]"):
        ArraySource(np.zeros((2, 3, 3), np.float32), np.zeros(2, int))
    with pytest.raises(ValueError, match=r"labels must be integers of shape \[2\]"):
        ArraySource(np.zeros((2, 3, 3, 1), np.uint8), np.zeros(3, int))


def test_from_arrays_statistics_and_defaults():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 5, 5, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, 30)
    labels[0] = 3
    ds = from_arrays(images, labels)
    assert ds.num_classes == 4 and ds.image_shape == (5, 5, 3) and ds.test is ds.train
    np.testing.assert_allclose(ds.mean, (images / 255.0).mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(ds.std, (images / 255.0).std(axis=(0, 1, 2)), rtol=1e-10)
    assert channel_stats(images) == (ds.mean, ds.std)
    ds = from_arrays(
        images,
        labels,
        test_images=images[:4],
        test_labels=labels[:4],
        num_classes=7,
        mean=(0.5, 0.5, 0.5),
        class_names=tuple("abcdefg"),
    )
    assert len(ds.test) == 4 and ds.num_classes == 7 and ds.mean == (0.5, 0.5, 0.5) and ds.std[0] > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(test_images=np.zeros((2, 5, 5, 3), np.uint8)), "both test_images and test_labels"),
        (dict(test_images=np.zeros((2, 4, 4, 3), np.uint8), test_labels=np.zeros(2, int)), "training image shape"),
        (
            dict(num_classes=2),
            r"from_arrays: labels: expected labels in \[0, num_classes=2\), got 2 at index 2 \(2 of 4",
        ),
        (dict(class_names=("a", "b")), "class_names must have num_classes=4 entries, got 2"),
        (dict(mean=(0.5,)), r"one entry per channel \(3\), got 1 and 3"),
    ],
)
def test_from_arrays_errors(kwargs, match):
    images = np.zeros((4, 5, 5, 3), np.uint8)
    with pytest.raises(ValueError, match=match):
        from_arrays(images, np.arange(4), **kwargs)


def test_tfds_source_keeps_image_and_label_and_transforms():
    examples = [{"image": np.full((40, 60, 3), i, np.uint8), "label": np.int64(i), "id": b"x"} for i in range(3)]
    source = TfdsSource(examples, ResizeCenterCrop(20))
    assert len(source) == 3
    example = source[2]
    assert set(example) == {"image", "label"} and example["label"] == 2 and type(example["label"]) is int
    assert example["image"].shape == (20, 20, 3) and (example["image"] == 2).all()
    memory = to_array_source(source)
    assert memory.images.shape == (3, 20, 20, 3) and list(memory.labels) == [0, 1, 2]
    assert pickle.loads(pickle.dumps(source))[1]["label"] == 1  # Picklable for grain workers.


def test_resize_center_crop_geometry():
    image = np.zeros((100, 50, 1), np.uint8)
    image[:, 20:30] = 255  # A vertical bar in the middle columns.
    out = ResizeCenterCrop(25)(image)
    assert out.shape == (25, 25, 1)
    # Shorter side 50 -> 25 (scale 1/2), the central 25 rows of 50 kept; the bar stays centred.
    assert out[:, 12].min() == 255 and out[:, 0].max() == 0 and out[:, -1].max() == 0


def test_command_line_info_and_errors(idx_dir, tmp_path, capsys):
    from cnnjax.data.__main__ import main

    directory, _ = idx_dir
    main(["info", "mnist", "--idx-dir", str(directory)])
    assert "mnist: train=40 test=12 image_shape=(28, 28, 1) num_classes=10" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["info", "mnist", "--idx-dir", str(tmp_path)])
    assert info.value.code == 1 and "IDX files missing" in capsys.readouterr().err


def test_command_line_prepare(idx_dir, tmp_path, capsys):
    from cnnjax.data.__main__ import main

    directory, _ = idx_dir
    main(["prepare", "fashion_mnist", "--idx-dir", str(directory), "--data-dir", str(tmp_path / "tfds")])
    assert "fashion_mnist: train=40, test=12 in" in capsys.readouterr().out
    assert (tmp_path / "tfds" / "local_idx" / "fashion_mnist" / "1.0.0" / "dataset_info.json").exists()


def test_unprepared_tfds_dataset_says_how_to_prepare_it(tmp_path):
    """With no prepared copy, tfds raises KeyError deep inside; the user gets the path and the build command."""
    with pytest.raises(
        FileNotFoundError, match=r"no prepared copy in .*cifar10.*tfds build cifar10 --file_format=array_record"
    ):
        load_dataset("cifar10", data_dir=tmp_path)
