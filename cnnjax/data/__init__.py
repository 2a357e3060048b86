"""Data pipeline: datasets, deterministic batching, JAX augmentation.

    ds = load_dataset("fashion_mnist")                 # Dataset: train/test Sources, mean, std, ...
    for batch in batches(ds.train, 128, seed=0, epoch=e, start_batch=b):
        ...                                            # {'image': uint8[B,H,W,C], 'label': int32[B]}
    x = normalize(random_crop(key, batch["image"], padding=2), ds.mean, ds.std)

tensorflow_datasets and grain are imported only when needed (`LocalIdx`, tfds
sources, non-array batching), so importing this package stays fast.
"""

from cnnjax.data.augment import (
    IMAGENET_PCA_EIGVALS,
    IMAGENET_PCA_EIGVECS,
    alexnet_crop,
    center_crop,
    color_jitter,
    inception_crop,
    normalize,
    pca_color_jitter,
    random_crop,
    random_flip,
    resample_boxes,
    scale_jitter_crop,
)
from cnnjax.data.batching import batches, epoch_indices, num_batches, padded_batches, skip, take
from cnnjax.data.files import check_same_files, fingerprint_files
from cnnjax.data.idx import IDX_DATASETS, find_idx_files, read_idx, write_idx
from cnnjax.data.registry import (
    Dataset,
    channel_stats,
    from_arrays,
    list_datasets,
    load_dataset,
    resized_datasets,
)
from cnnjax.data.sources import ArraySource, ResizeCenterCrop, Source, TfdsSource, to_array_source
from cnnjax.data.views import EVAL_CROPS, crop_offsets, crop_views, eval_views, five_crops, flip, rescale, ten_crops

__all__ = [
    "EVAL_CROPS",
    "IDX_DATASETS",
    "IMAGENET_PCA_EIGVALS",
    "IMAGENET_PCA_EIGVECS",
    "ArraySource",
    "Dataset",
    "LocalIdx",
    "ResizeCenterCrop",
    "Source",
    "TfdsSource",
    "alexnet_crop",
    "batches",
    "center_crop",
    "channel_stats",
    "check_same_files",
    "color_jitter",
    "crop_offsets",
    "crop_views",
    "epoch_indices",
    "eval_views",
    "find_idx_files",
    "fingerprint_files",
    "five_crops",
    "flip",
    "from_arrays",
    "inception_crop",
    "list_datasets",
    "load_dataset",
    "normalize",
    "num_batches",
    "padded_batches",
    "pca_color_jitter",
    "prepare_idx_dataset",
    "random_crop",
    "random_flip",
    "read_idx",
    "resample_boxes",
    "rescale",
    "resized_datasets",
    "scale_jitter_crop",
    "skip",
    "take",
    "ten_crops",
    "to_array_source",
    "write_idx",
]


def __getattr__(name: str):
    """Lazy exports that import tensorflow_datasets: `LocalIdx`, `prepare_idx_dataset`."""
    if name in ("LocalIdx", "prepare_idx_dataset"):
        from cnnjax.data import tfds_builder

        return getattr(tfds_builder, name)
    raise AttributeError(f"module 'cnnjax.data' has no attribute {name!r}")
