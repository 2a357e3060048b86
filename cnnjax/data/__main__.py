"""Data setup from the command line.

    python -m cnnjax.data info fashion_mnist [--idx-dir DIR] [--data-dir DIR] [--no-in-memory]
    python -m cnnjax.data prepare fashion_mnist [--idx-dir DIR] [--data-dir DIR]

`info` loads a dataset and prints its splits and statistics (checks that the files
are found); `prepare` writes the array_record copy of an IDX dataset with the
`LocalIdx` tfds builder (needed only for ``in_memory=False``).
"""

from __future__ import annotations

import argparse
import time

from cnnjax.data.idx import IDX_DATASETS
from cnnjax.data.registry import list_datasets, load_dataset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cnnjax.data", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="load a dataset and print its splits and statistics")
    info.add_argument("name", choices=list_datasets())
    info.add_argument(
        "--no-in-memory",
        dest="in_memory",
        action="store_false",
        default=None,
        help="read through tfds (array_record) instead of NumPy arrays",
    )
    prepare = commands.add_parser("prepare", help="write the array_record copy of an IDX dataset")
    prepare.add_argument("name", choices=sorted(IDX_DATASETS))
    for command in (info, prepare):
        command.add_argument("--idx-dir", help="directory of the IDX files (MNIST family)")
        command.add_argument("--data-dir", help="tfds data directory (default $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        if args.command == "prepare":
            from cnnjax.data.tfds_builder import prepare_idx_dataset

            builder = prepare_idx_dataset(args.name, data_dir=args.data_dir, idx_dir=args.idx_dir)
            splits = ", ".join(f"{name}={split.num_examples}" for name, split in builder.info.splits.items())
            print(f"{args.name}: {splits} in {builder.data_dir} ({time.perf_counter() - start:.1f} s)")
            return
        ds = load_dataset(args.name, data_dir=args.data_dir, idx_dir=args.idx_dir, in_memory=args.in_memory)
    except (FileNotFoundError, ValueError) as e:
        parser.exit(1, f"error: {e}\n")
    print(
        f"{ds.name}: train={len(ds.train)} test={len(ds.test)} image_shape={ds.image_shape} "
        f"num_classes={ds.num_classes} mean={ds.mean} std={ds.std} ({time.perf_counter() - start:.1f} s)"
    )
    print(f"  train source: {ds.train!r}")


if __name__ == "__main__":
    main()
