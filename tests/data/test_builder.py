"""The LocalIdx tfds builder (prepared without TensorFlow) and tfds-backed datasets."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnnjax.data import LocalIdx, TfdsSource, batches, load_dataset, prepare_idx_dataset, write_idx

from .helpers import example_multiset


def idx_multiset(images, labels):
    return sorted((int(label), image[..., None].tobytes()) for image, label in zip(images, labels))


def test_prepare_and_read_back_without_tensorflow(idx_dir, tmp_path):
    directory, arrays = idx_dir
    data_dir = tmp_path / "tfds"
    builder = LocalIdx(config="mnist", data_dir=data_dir, idx_dir=directory)
    assert not builder.is_prepared()
    builder.download_and_prepare(file_format="array_record")
    assert builder.is_prepared()
    assert list((data_dir / "local_idx" / "mnist" / "1.0.0").glob("*.array_record*"))
    assert builder.info.splits["train"].num_examples == 40 and builder.info.splits["test"].num_examples == 12

    # Read back through the public tfds entry point (the builder is registered as 'local_idx').
    splits = tfds.data_source("local_idx/mnist", data_dir=data_dir, download=False)
    train, test = splits["train"], splits["test"]
    assert len(train) == 40 and len(test) == 12
    assert train[0]["image"].shape == (28, 28, 1) and train[0]["image"].dtype == np.uint8
    assert example_multiset(train) == idx_multiset(*arrays["train"])
    assert example_multiset(test) == idx_multiset(*arrays["t10k"])
    assert "tensorflow" not in sys.modules


def test_prepare_idx_dataset_reuses_the_prepared_copy(idx_dir, tmp_path):
    directory, arrays = idx_dir
    data_dir = tmp_path / "tfds"
    prepare_idx_dataset("fashion_mnist", data_dir=data_dir, idx_dir=directory)
    # Once prepared, the IDX files are no longer needed.
    ds = load_dataset("fashion_mnist", in_memory=False, data_dir=data_dir, idx_dir=tmp_path / "gone")
    assert isinstance(ds.train, TfdsSource) and len(ds.train) == 40 and len(ds.test) == 12
    assert ds.class_names[0] == "T-shirt/top"
    example = ds.train[3]
    assert set(example) == {"image", "label"} and isinstance(example["label"], int)
    assert example_multiset(ds.train) == idx_multiset(*arrays["train"])
    # The in-memory path reads the same examples (in file order).
    memory = load_dataset("fashion_mnist", idx_dir=directory)
    assert example_multiset(memory.train) == example_multiset(ds.train)
    # Batching a tfds source (grain path) covers the split.
    labels = np.concatenate([b["label"] for b in batches(ds.train, 8, seed=0, epoch=0)])
    assert sorted(labels) == sorted(memory.train.labels[np.random.default_rng([0, 0]).permutation(40)])


def test_prepare_rejects_labels_out_of_range_naming_the_file(idx_dir, tmp_path):
    directory, arrays = idx_dir
    labels = arrays["t10k"][1].copy()
    labels[3] = 10
    write_idx(directory / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(
        ValueError,
        match=r"t10k-labels-idx1-ubyte: expected labels in \[0, num_classes=10\), got 10 at "
        r"index 3",
    ):
        prepare_idx_dataset("mnist", data_dir=tmp_path / "tfds", idx_dir=directory)


def test_prepared_dataset_lists_its_files(idx_dir, tmp_path):
    directory, _ = idx_dir
    ds = load_dataset("mnist", in_memory=False, data_dir=tmp_path / "tfds", idx_dir=directory)
    names = [p.name for p in ds.files]
    assert "dataset_info.json" in names and any(".array_record" in name for name in names)
    assert all(p.parent == tmp_path / "tfds" / "local_idx" / "mnist" / "1.0.0" for p in ds.files)


def test_prepare_rejects_images_that_are_not_28x28(tmp_path):
    for split, n in (("train", 3), ("t10k", 2)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", np.zeros((n, 32, 32), np.uint8))
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", np.zeros(n, np.uint8))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: expected 28x28 images, got \(32, 32\)"):
        prepare_idx_dataset("mnist", data_dir=tmp_path / "tfds", idx_dir=tmp_path)
    assert not LocalIdx(config="mnist", data_dir=tmp_path / "tfds").is_prepared()


def test_prepare_without_idx_files_explains(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.*CNNJAX_MNIST_DIR"):
        prepare_idx_dataset("mnist", data_dir=tmp_path / "tfds", idx_dir=tmp_path)
    with pytest.raises(ValueError, match="prepare_idx_dataset: name must be one of"):
        prepare_idx_dataset("cifar10", data_dir=tmp_path)


@pytest.mark.parametrize("name, shape, size", [("cifar10", (32, 32, 3), 10), ("imagenet2012", (256, 256, 3), 1000)])
def test_stock_datasets_through_tfds_mock_data(name, shape, size):
    """tfds.testing.mock_data fakes an array_record copy without TensorFlow."""
    with tfds.testing.mock_data(num_examples=6):
        ds = load_dataset(name)
        assert len(ds.train) == 6 and len(ds.test) == 6
        assert ds.image_shape == shape and ds.num_classes == size and len(ds.class_names) == size
        example = ds.train[0]
        assert example["image"].shape == shape and example["image"].dtype == np.uint8
        assert 0 <= example["label"] < size
        batch = next(batches(ds.train, 4, seed=0, epoch=0))
        assert batch["image"].shape == (4, *shape)
        memory = load_dataset(name, in_memory=True)
        assert memory.train.images.shape == (6, *shape)


def test_variable_size_images_are_read_at_the_chosen_size():
    with tfds.testing.mock_data(num_examples=2):
        ds = load_dataset("imagenet2012", image_size=96)
        assert ds.image_shape == (96, 96, 3) and ds.train[0]["image"].shape == (96, 96, 3)
    with pytest.raises(ValueError, match=r"image_size: only \['imagenet2012', 'imagenette'\] .* for 'cifar10'"):
        load_dataset("cifar10", image_size=64)
    with pytest.raises(ValueError, match=r"image_size: expected a size in pixels \(an int >= 1\), got 0"):
        load_dataset("imagenet2012", image_size=0)


@pytest.mark.parametrize(
    "name, hint",
    [
        ("cifar10", "tfds build cifar10 --file_format=array_record --data_dir=DIR"),
        ("cifar100", "tfds build cifar100 --file_format=array_record"),
        ("imagenette", "tfds build imagenette/320px-v2 --file_format=array_record"),
        ("imagenet2012", "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in a directory MANUAL_DIR"),
    ],
)
def test_unprepared_stock_dataset_explains(tmp_path, name, hint):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset(name, data_dir=tmp_path)
    message = str(info.value)
    assert hint in message and str(tmp_path) in message and "array_record" in message


def test_import_is_lazy():
    code = "import sys, cnnjax.data; print('tensorflow_datasets' in sys.modules, 'grain' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_stock_dataset_prepared_as_tfrecord_explains(tmp_path):
    builder = tfds.builder("cifar10", data_dir=tmp_path)
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)  # Metadata of a (default) tfrecord copy.
    with pytest.raises(FileNotFoundError, match=r"is prepared in .*cifar10/3\.0\.2 as tfrecord, not array_record"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_an_empty_version_folder_gives_the_error_without_tfds_warnings_before_it(tmp_path, caplog):
    (tmp_path / "cifar10" / "3.0.2").mkdir(parents=True)  # what an interrupted `tfds build` leaves
    with caplog.at_level("WARNING"), pytest.raises(FileNotFoundError, match="no prepared copy"):
        load_dataset("cifar10", data_dir=tmp_path)
    assert not [r for r in caplog.records if "dataset_info.json" in r.getMessage()]
