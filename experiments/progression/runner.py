"""Running (row, seed) pairs: each trains in its own workdir and writes one small result JSON.

Run directories (checkpoints, logs, fitted classifiers) go under `runs/progression/<row>/seed<S>` (ignored by git);
result files under `experiments/progression/results/<row>/seed<S>.json` (committed). A (row, seed) is done when its
result file exists: `run_all` skips it; a CNN run interrupted before writing it resumes from its checkpoints.

Every result file records the environment it was computed in (`"environment"`: `cnnjax.environment.fingerprint()`:
CPU, ISA class, numerics profile, versions, git commit). A result file in place is an input to check against:
running its (row, seed) again compares the numbers with it and leaves it as it is (`outputs.check_reproduction`):
under the same reproducibility fields they must be the same bits (`outputs.Differs` when not); under others, or
against a file recorded without a fingerprint, a difference is reported, not raised. `overwrite` replaces it.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cnnjax import environment
from cnnjax.train.rng import check_seed
from experiments.progression import cnn, descriptor, outputs
from experiments.progression.paths import PACKAGE_DIR, RESULTS_DIR, WORKDIR_ROOT, shown
from experiments.progression.rows import ROWS, Row

__all__ = [
    "PACKAGE_DIR",
    "RESULTS_DIR",
    "RUNNERS",
    "WORKDIR_ROOT",
    "check_row_seed",
    "measured",
    "pending",
    "read_result",
    "result_path",
    "run_all",
    "run_one",
    "validate_one",
    "workdir_path",
]

RowRunner = Callable[[Row, int, Path, bool], dict[str, Any]]

RUNNERS: dict[str, RowRunner] = {  # kind -> (row, seed, workdir, runlocal) -> outcome
    "descriptor_svm": lambda row, seed, workdir, runlocal: descriptor.run_fashion_mnist(
        row.settings, seed, workdir, runlocal
    ),
    "cnn": lambda row, seed, workdir, runlocal: cnn.run(row.settings, seed, workdir, runlocal),
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# A result file's fields: (test, what is expected).
RESULT_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "test_error": (lambda v: _number(v) and 0 <= v <= 1, "a fraction in [0, 1] (0.075 for 7.5%)"),
    "train_seconds": (lambda v: _number(v) and v >= 0, "seconds >= 0"),
    "epochs": (lambda v: _number(v) and v > 0, "a number of epochs > 0"),
    "params": (_count, "a count >= 0"),
    "macs": (_count, "a count >= 0"),
    "command": (lambda v: isinstance(v, str), "the command that ran it"),
}


def read_result(path: Path, row: str, seed: int) -> dict[str, Any]:
    """The result file of (row, seed) at `path`, checked: JSON, its row and seed, every field of RESULT_FIELDS.

    Raises:
      ValueError: naming the file and each problem.
    """
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); expected a result file") from None
    if not isinstance(result, dict):
        raise ValueError(f"{path}: expected a JSON object (a result file), got {type(result).__name__}")
    problems = [
        f"{key}: expected {what}, got {'nothing' if key not in result else repr(result[key])}"
        for key, (valid, what) in RESULT_FIELDS.items()
        if key not in result or not valid(result[key])
    ]
    if result.get("row") != row:
        problems.insert(0, f"row: expected {row!r} (its folder), got {result.get('row')!r}")
    if result.get("seed") != seed or isinstance(result.get("seed"), bool):
        problems.insert(0, f"seed: expected {seed} (its file name), got {result.get('seed')!r}")
    if problems:
        raise ValueError(
            f"{path}: {'; '.join(problems)}; correct the file, or move it away and run the (row, seed) again"
        )
    return result


def result_path(row: str, seed: int, results_dir: Path = RESULTS_DIR) -> Path:
    return Path(results_dir) / row / f"seed{seed}.json"


def workdir_path(row: str, seed: int, workdir_root: Path = WORKDIR_ROOT) -> Path:
    return Path(workdir_root) / row / f"seed{seed}"


# Fields of a result's details that say how it ran, not what it computed: left out of the comparison.
RUN_ONLY_DETAILS = frozenset({"resumed_from_checkpoint"})


def measured(text: str) -> dict[str, Any]:
    """What of a result file's text must reproduce: its row, seed, test error, epochs, size and details, less
    timings ('*_seconds') and RUN_ONLY_DETAILS."""
    result = json.loads(text)
    details = result.get("details") or {}
    return {
        **{k: result.get(k) for k in ("row", "seed", "test_error", "epochs", "params", "macs")},
        "details": {k: v for k, v in details.items() if not k.endswith("_seconds") and k not in RUN_ONLY_DETAILS},
    }


def command_line() -> list[str]:
    """sys.argv with the script's path from the repository root (`shown`), as result files record it."""
    return [shown(sys.argv[0]) if sys.argv and sys.argv[0] else "", *sys.argv[1:]]


def check_row_seed(row: Row, seed: int, *, runlocal: bool = False) -> None:
    """Raises ValueError for a seed outside [0, 2**31) or, unless `runlocal`, outside the row's seeds (a result file
    of another seed would be one that `merge` refuses)."""
    check_seed(seed, "seed")
    if not runlocal and seed not in row.seeds:
        raise ValueError(
            f"seed: expected one of row {row.name}'s seeds {list(row.seeds)}, got {seed}; add it to "
            "the row's seeds (experiments/progression/rows.py) to extend the study, or make a smoke run "
            "(--runlocal)"
        )


def run_one(
    row: Row,
    seed: int,
    *,
    workdir_root: Path = WORKDIR_ROOT,
    results_dir: Path = RESULTS_DIR,
    runlocal: bool = False,
    overwrite: bool = False,
    runners: Mapping[str, RowRunner] = RUNNERS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Trains (row, seed) in its workdir and writes its result file, or, when one is in place (and not
    `overwrite`), checks the test error against it and leaves it as it is; returns the result.

    With `runlocal` (a smoke run of seconds) the workdir is `<workdir_root>-runlocal/...` and the result is written
    there, never into `results_dir`, replacing an earlier one.

    Raises:
      ValueError: a seed outside the row's (`check_row_seed`), or a result file in place that is not valid.
      outputs.Differs: the numbers (`measured`) differ from those of the result file in place (which is kept),
        computed under the same reproducibility fields (`outputs.check_reproduction`).
    """
    check_row_seed(row, seed, runlocal=runlocal)
    if runlocal:
        workdir_root = Path(f"{workdir_root}-runlocal")
        results_dir, overwrite = workdir_root, True
    workdir = workdir_path(row.name, seed, workdir_root)
    path = result_path(row.name, seed, results_dir)
    checked = read_result(path, row.name, seed) if path.exists() and not overwrite else None
    spent = workdir / "runner_seconds.json"  # seconds of every invocation that trained, interrupted ones included
    started = time.perf_counter()
    try:
        outcome = runners[row.kind](row, seed, workdir, runlocal)
    finally:
        if checked is None:  # running a finished (row, seed) again checks its result (re-evaluated, or retrained
            # when its workdir is gone); the recorded training time stays
            total = (json.loads(spent.read_text()) if spent.exists() else 0.0) + time.perf_counter() - started
            if workdir.is_dir():
                spent.write_text(json.dumps(total))
    seconds = checked["train_seconds"] if checked is not None else json.loads(spent.read_text())
    result = {
        "row": row.name,
        "seed": seed,
        "test_error": outcome["test_error"],
        "train_seconds": round(seconds, 1),
        "epochs": outcome["epochs"],
        "params": outcome["params"],
        "macs": outcome["macs"],
        "command": row.command(seed) + (" --runlocal" if runlocal else ""),
        "argv": command_line(),
        "workdir": shown(workdir),
        "environment": environment.fingerprint(),
        **({"environment_changes": outcome["environment_changes"]} if outcome.get("environment_changes") else {}),
        "details": outcome.get("details", {}),
    }
    text = json.dumps(result, indent=2) + "\n"
    write, found = outputs.check_reproduction(
        path, text, overwrite=overwrite, view=measured, label=f"{row.name} seed {seed}", key="test_error"
    )
    if write:
        outputs.write(path, text)  # a result file is whole or absent
    else:
        log(found)
    return result


def validate_one(
    row: Row,
    seed: int,
    *,
    config_file: str | None = None,
    workdir_root: Path = WORKDIR_ROOT,
    results_dir: Path = RESULTS_DIR,
    runlocal: bool = False,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """A CNN row's recipe on the validation split (`cnn.validation_run`) in `<workdir_root>/<row>/validation_seed<S>`;
    writes results/<row>/validation_seed<S>.json (with `runlocal`: into the runlocal workdir root) and returns it.
    A file in place is checked (its validation_error) and left as it is unless `overwrite`, as in `run_one`.

    `config_file`: a candidate config to compare with the row's own (`tune --row R --config FILE`), run in
    `validation_<file stem>_seed<S>` and written to results/<row>/validation_<file stem>_seed<S>.json."""
    if row.kind != "cnn":
        raise ValueError(f"row: expected a CNN row for a validation run, got {row.name!r} of kind {row.kind!r}")
    if config_file is not None and not Path(config_file).is_file():
        raise ValueError(f"config_file: expected a config file, got {config_file!r} (no such file)")
    check_seed(seed, "seed")
    if runlocal:
        workdir_root = Path(f"{workdir_root}-runlocal")
        results_dir, overwrite = workdir_root, True
    name = "validation" if config_file is None else f"validation_{Path(config_file).stem}"
    workdir = Path(workdir_root) / row.name / f"{name}_seed{seed}"
    started = time.perf_counter()
    outcome = cnn.validation_run(config_file or row.settings, seed, workdir, runlocal)
    changes = outcome.pop("environment_changes")
    config = row.settings if config_file is None else shown(config_file)
    result = {
        "row": row.name,
        "seed": seed,
        "config": config,
        **outcome,
        "train_seconds": round(time.perf_counter() - started, 1),
        "command": f"python -m experiments.progression tune --row {row.name} --seed {seed}"
        + (f" --config {config}" if config_file else "")
        + (" --runlocal" if runlocal else ""),
        "workdir": shown(workdir),
        "environment": environment.fingerprint(),
        **({"environment_changes": changes} if changes else {}),
    }
    path = Path(results_dir) / row.name / f"{name}_seed{seed}.json"
    text = json.dumps(result, indent=2) + "\n"
    write, found = outputs.check_reproduction(
        path,
        text,
        overwrite=overwrite,
        view=outputs.json_view(("row", "seed", "config", *outcome)),
        label=f"tune: {row.name} seed {seed}",
        key="validation_error",
    )
    if write:
        outputs.write(path, text)
    else:
        log(found)
    return result


def pending(rows: Mapping[str, Row] = ROWS, results_dir: Path = RESULTS_DIR) -> list[tuple[Row, int]]:
    """The (row, seed) pairs without a result file, in registry order."""
    return [
        (row, seed)
        for row in rows.values()
        for seed in row.seeds
        if not result_path(row.name, seed, results_dir).exists()
    ]


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
        log(
            f"run --all: {row.name} seed {seed}: test_error {results[-1]['test_error']:.4f} "
            f"({results[-1]['train_seconds']:.0f} s)"
        )
    return results
