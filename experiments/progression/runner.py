"""Running (row, seed) pairs: each trains in its own workdir and writes one small result JSON.

Run directories (checkpoints, logs, fitted classifiers) go under `runs/progression/<row>/seed<S>` (ignored by git);
result files under `experiments/progression/results/<row>/seed<S>.json` (committed). A (row, seed) is done when its
result file exists: `run_all` skips it; a CNN run interrupted before writing it resumes from its checkpoints.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from experiments.progression import cnn, descriptor
from experiments.progression.rows import ROWS, Row

PACKAGE_DIR = Path(__file__).parent
RESULTS_DIR = PACKAGE_DIR / "results"
WORKDIR_ROOT = Path("runs/progression")

RowRunner = Callable[[Row, int, Path, bool], dict[str, Any]]

RUNNERS: dict[str, RowRunner] = {  # kind -> (row, seed, workdir, runlocal) -> outcome
    "descriptor_svm": lambda row, seed, workdir, runlocal: descriptor.run_fashion_mnist(
        row.settings, seed, workdir, runlocal
    ),
    "cnn": lambda row, seed, workdir, runlocal: cnn.run(row.settings, seed, workdir, runlocal),
}


def result_path(row: str, seed: int, results_dir: Path = RESULTS_DIR) -> Path:
    return Path(results_dir) / row / f"seed{seed}.json"


def workdir_path(row: str, seed: int, workdir_root: Path = WORKDIR_ROOT) -> Path:
    return Path(workdir_root) / row / f"seed{seed}"


def versions() -> dict[str, Any]:
    """What produced a result: library versions, the git commit, the machine."""
    packages = {name: _version(name) for name in ("cnnjax", "jax", "jaxlib", "optax", "flax", "numpy")}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=PACKAGE_DIR
        ).stdout.strip()
        dirty = bool(subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=PACKAGE_DIR
        ).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {
        "python": platform.python_version(),
        **packages,
        "git_commit": commit,
        "git_dirty": dirty,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def run_one(
    row: Row,
    seed: int,
    *,
    workdir_root: Path = WORKDIR_ROOT,
    results_dir: Path = RESULTS_DIR,
    runlocal: bool = False,
    runners: Mapping[str, RowRunner] = RUNNERS,
) -> dict[str, Any]:
    """Trains (row, seed) in its workdir and writes its result file; returns the result.

    With `runlocal` (a smoke run of seconds) the workdir is `<workdir_root>-runlocal/...` and the result is written
    there, never into `results_dir`.
    """
    if runlocal:
        workdir_root = Path(f"{workdir_root}-runlocal")
        results_dir = workdir_root
    workdir = workdir_path(row.name, seed, workdir_root)
    path = result_path(row.name, seed, results_dir)
    previous = json.loads(path.read_text()) if path.exists() else None
    spent = workdir / "runner_seconds.json"  # seconds of every invocation that trained, interrupted ones included
    started = time.perf_counter()
    try:
        outcome = runners[row.kind](row, seed, workdir, runlocal)
    finally:
        if previous is None:  # running a finished (row, seed) again checks its result (re-evaluated, or retrained
            # when its workdir is gone); the committed training time stays
            total = (json.loads(spent.read_text()) if spent.exists() else 0.0) + time.perf_counter() - started
            if workdir.is_dir():
                spent.write_text(json.dumps(total))
    seconds = previous["train_seconds"] if previous is not None else json.loads(spent.read_text())
    if previous is not None and previous["test_error"] != outcome["test_error"]:
        raise RuntimeError(f"{row.name} seed {seed}: running it again gave test error {outcome['test_error']}, the "
                           f"result file {path} has {previous['test_error']}")
    result = {
        "row": row.name,
        "seed": seed,
        "test_error": outcome["test_error"],
        "train_seconds": round(seconds, 1),
        "epochs": outcome["epochs"],
        "params": outcome["params"],
        "macs": outcome["macs"],
        "command": row.command(seed) + (" --runlocal" if runlocal else ""),
        "argv": sys.argv,
        "workdir": str(workdir),
        "versions": versions(),
        "details": outcome.get("details", {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)  # a result file is whole or absent
    return result


def validate_one(
    row: Row,
    seed: int,
    *,
    config_file: str | None = None,
    workdir_root: Path = WORKDIR_ROOT,
    results_dir: Path = RESULTS_DIR,
    runlocal: bool = False,
) -> dict[str, Any]:
    """A CNN row's recipe on the validation split (`cnn.validation_run`) in `<workdir_root>/<row>/validation_seed<S>`;
    writes results/<row>/validation_seed<S>.json (with `runlocal`: into the runlocal workdir root) and returns it.

    `config_file`: a candidate config to compare with the row's own (`tune --row R --config FILE`), run in
    `validation_<file stem>_seed<S>` and written to results/<row>/validation_<file stem>_seed<S>.json."""
    if row.kind != "cnn":
        raise ValueError(f"row: expected a CNN row for a validation run, got {row.name!r} of kind {row.kind!r}")
    if config_file is not None and not Path(config_file).is_file():
        raise ValueError(f"config_file: expected a config file, got {config_file!r} (no such file)")
    if runlocal:
        workdir_root = Path(f"{workdir_root}-runlocal")
        results_dir = workdir_root
    name = "validation" if config_file is None else f"validation_{Path(config_file).stem}"
    workdir = Path(workdir_root) / row.name / f"{name}_seed{seed}"
    started = time.perf_counter()
    outcome = cnn.validation_run(config_file or row.settings, seed, workdir, runlocal)
    result = {
        "row": row.name,
        "seed": seed,
        "config": config_file or row.settings,
        **outcome,
        "train_seconds": round(time.perf_counter() - started, 1),
        "command": f"python -m experiments.progression tune --row {row.name} --seed {seed}"
                   + (f" --config {config_file}" if config_file else "") + (" --runlocal" if runlocal else ""),
        "workdir": str(workdir),
        "versions": versions(),
    }
    path = Path(results_dir) / row.name / f"{name}_seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def pending(rows: Mapping[str, Row] = ROWS, results_dir: Path = RESULTS_DIR) -> list[tuple[Row, int]]:
    """The (row, seed) pairs without a result file, in registry order."""
    return [(row, seed) for row in rows.values() for seed in row.seeds
            if not result_path(row.name, seed, results_dir).exists()]


def run_all(
    rows: Mapping[str, Row] = ROWS,
    *,
    workdir_root: Path = WORKDIR_ROOT,
    results_dir: Path = RESULTS_DIR,
    runners: Mapping[str, RowRunner] = RUNNERS,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Runs every (row, seed) that has no result file yet; returns the new results."""
    todo = pending(rows, results_dir)
    done = sum(len(row.seeds) for row in rows.values()) - len(todo)
    log(f"run --all: {done} done, {len(todo)} to run")
    results = []
    for row, seed in todo:
        log(f"run --all: {row.name} seed {seed}")
        results.append(run_one(row, seed, workdir_root=workdir_root, results_dir=results_dir, runners=runners))
        log(f"run --all: {row.name} seed {seed}: test_error {results[-1]['test_error']:.4f} "
            f"({results[-1]['train_seconds']:.0f} s)")
    return results
