"""The files a dataset is read from, fingerprinted, and compared with the files a run recorded.

A run records `fingerprint_files(dataset.files)` (each file's path, size and sha256) in its manifest.json. Whoever reads
the run again with data loaded anew (figures of its test set, a resumption) calls `check_same_files` with that
record and the files loaded now, and so refuses other data, e.g. another folder of IDX files named by
$CNNJAX_FASHION_MNIST_DIR, instead of silently evaluating on it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cnnjax.data.idx import IDX_DATASETS


def sha256(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file's bytes (read in 1 MiB blocks: ~1 s per GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def fingerprint_files(paths: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """[{'path' (absolute), 'size', 'sha256'}] of each file, in order."""
    return [
        {"path": str(Path(path).absolute()), "size": Path(path).stat().st_size, "sha256": sha256(path)}
        for path in paths
    ]


def where_to_point(dataset: str) -> str:
    """How to make `load_dataset(dataset)` read another folder, as a sentence for error messages."""
    if dataset in IDX_DATASETS:
        return (
            "point at the folder holding the run's files: config.data_dir (`cnnjax train --data-dir DIR`) where "
            f"the command takes it, else {IDX_DATASETS[dataset].env_var}=DIR (config.data_dir takes precedence)"
        )
    return (
        "point at the tfds data directory holding the run's prepared copy: config.data_dir (`cnnjax train "
        "--data-dir DIR`) where the command takes it, else TFDS_DATA_DIR=DIR (config.data_dir takes precedence)"
    )


def check_same_files(
    recorded: Sequence[Mapping[str, Any]], loaded: Sequence[str | os.PathLike], *, dataset: str, source: str
) -> None:
    """Raises ValueError unless the files `loaded` are those `recorded` (by file name, then sha256).

    Reads each loaded file once (`sha256`). Files are matched by name, not by folder: the same bytes in another
    folder are the same data.

    Args:
      recorded: a run's record of its data files, entries {'path', 'size', 'sha256'} (as `fingerprint_files` writes).
      loaded: the files the dataset is read from now (`Dataset.files`).
      dataset: the dataset's registry name (for the hint on how to point at other files).
      source: where `recorded` comes from, for the message (e.g. the path of the run's manifest.json).

    Raises:
      ValueError: naming each differing file (the recorded and the found sha256, or the file that is missing on
        either side) and how to point at the run's data.
    """
    recorded_by_name = {Path(entry["path"]).name: entry for entry in recorded}
    loaded_by_name = {Path(path).name: Path(path) for path in loaded}
    if loaded_by_name and not recorded_by_name:
        raise ValueError(
            f"data: {source} records no data files (the run was given its dataset as arrays), so the {dataset} "
            f"files loaded ({', '.join(map(str, loaded_by_name.values()))}) cannot be checked against its data; "
            "use the arrays the run was trained on"
        )
    problems = []
    for name, entry in recorded_by_name.items():
        path = loaded_by_name.get(name)
        if path is None:
            problems.append(
                f"{source} records {entry['path']} (sha256 {entry['sha256']}), but no file named {name} was loaded"
            )
            continue
        found = sha256(path)
        if found != entry["sha256"]:
            problems.append(
                f"{name}: {source} records sha256 {entry['sha256']} ({entry['path']}), the file "
                f"loaded, {path}, has sha256 {found}"
            )
    problems += [
        f"{path} was loaded, but {source} records no file named {name}"
        for name, path in loaded_by_name.items()
        if name not in recorded_by_name
    ]
    if problems:
        raise ValueError(
            f"data: the {dataset} files loaded are not the run's: {'; '.join(problems)}. To use the "
            f"run's data, {where_to_point(dataset)}."
        )
