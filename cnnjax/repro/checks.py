"""The checks of a study, each on the study's first seed, each trained into STUDY/checks/<check>_seed<S>/ (kept, so a
finished check is read again, not retrained):

  rerun        the same `cnnjax train` command in a fresh workdir must give the same bits: every variable
               (`cnnjax.train.restore_run`), every final metric and every record of metrics.jsonl equal to the
               seed's own run (times left out). Promised when the two runs' environments agree in the fields that
               decide the bits (`cnnjax.environment.reproducibility_differences`); the result names any that differ.
  devices:N    the seed on N emulated CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=N)
  processes:N  the seed on N local processes joined by jax.distributed (`cnnjax train --coordinator-address
               127.0.0.1:PORT --num-processes N --process-id I`)

A device or process count changes only the order in which the gradient is summed (and, with per-example
randomness, which keys the examples of a batch get), so its bits differ from the single-device run's, and training
amplifies that rounding: after a few hundred steps the trajectory is another one. Hence the tolerances of
devices:N and processes:N, against the seed's single-device run:

  parameters  the largest relative difference (per variable: ||a - b|| / ||b||, L2 norms; the largest over
              variables) must be below the smallest such difference between the seed's run and another seed's run of the
              study (and in any case may reach ROUNDING_RTOL): the count changes the rounding only, another seed
              changes the initialisation and the data order, so a run that is not nearer its own seed's run than
              any other seed's has lost the seed (a wrong key, a wrong data shard).
  metrics     each final metric (the evaluation metrics and the training loss and metric) may differ by at most
              SPREAD_STDS standard deviations of that metric over the study's seeds (and in any case by
              ROUNDING_RTOL relative): rounding noise amplified by training gives final metrics that vary at most
              about as much as those of other seeds do (Summers & Dinneen, "Nondeterminism and Instability in Neural
              Network Optimization", ICML 2021: a one-bit change of one initial weight gave as much run-to-run
              variability as all sources of nondeterminism together). Were it as large as a seed's (std s), the
              difference of two runs would have std 1.41 s, and 4 s is 2.8 of those: a false failure of 0.5% for
              a normal spread with s known, about 5% with s estimated from 5 seeds; the run of the same seed shares
              its initialisation and data order, so its differences are smaller than that.

Both need two or more seeds. ROUNDING_RTOL alone is what short runs meet (8 devices and 2 processes on 8 steps:
tests/train/test_parallel.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from cnnjax import environment, parallel
from cnnjax.repro import stats
from cnnjax.repro.study import TIMING_KEYS, Check, Run, Study, finished, free_port, read_run, run_training
from cnnjax.train import restore_run

ROUNDING_RTOL = 1e-4
SPREAD_STDS = 4.0


def variables_of(workdir: Path) -> dict[str, np.ndarray]:
    """{'params/conv1/kernel': array, ...}: the newest checkpoint's variables of a workdir, flattened."""
    _, _, variables = restore_run(workdir)
    leaves, _ = jax.tree_util.tree_flatten_with_path(variables)
    return {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(leaf) for path, leaf in leaves}


def bitwise_differences(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> list[str]:
    """The names of the variables of `a` and `b` that are not bit-for-bit equal (shape, dtype and bytes), and of
    those only one of them has."""
    names = sorted(set(a) | set(b))
    return [
        n
        for n in names
        if n not in a
        or n not in b
        or a[n].dtype != b[n].dtype
        or a[n].shape != b[n].shape
        or a[n].tobytes() != b[n].tobytes()
    ]


def relative_difference(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> tuple[float, str]:
    """(the largest over the variables of ||a - b|| / ||b|| (L2 norms of the whole variable), the variable where it
    is: '' when all are equal); both must have the same variables and shapes."""
    if set(a) != set(b):
        raise ValueError(
            f"variables: expected the same variables in both runs, got {sorted(set(a) ^ set(b))} in only one"
        )
    worst = (0.0, "")
    for name in sorted(a):
        x, y = a[name].astype(np.float64), b[name].astype(np.float64)
        scale, diff = float(np.linalg.norm(y)), float(np.linalg.norm(x - y))
        relative = diff / scale if scale else (0.0 if diff == 0 else float("inf"))
        if relative > worst[0]:
            worst = (relative, name)
    return worst


def _comparable(run: Run) -> list[dict[str, Any]]:
    return [{k: v for k, v in record.items() if k not in TIMING_KEYS} for record in run.records]


def environment_differences(a: Run, b: Run) -> list[str]:
    """The fields deciding the bits (`cnnjax.environment.reproducibility_differences`) in which the environments of
    run `b` (its start and each resumption) differ from the start of run `a`."""
    found = []
    for i, env in enumerate(b.environments):
        where = "" if i == 0 else f" (resumption {i})"
        found += [f"{d}{where}" for d in environment.reproducibility_differences(a.environment, env)]
    return found


def rerun_result(
    reference: Run, rerun: Run, reference_vars: Mapping[str, np.ndarray], rerun_vars: Mapping[str, np.ndarray]
) -> dict[str, Any]:
    """The rerun check's outcome: passed when every variable, final metric and record is equal."""
    variables = bitwise_differences(reference_vars, rerun_vars)
    a, b = reference.metrics(), rerun.metrics()
    metrics = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    ra, rb = _comparable(reference), _comparable(rerun)
    records = [i for i, (x, y) in enumerate(zip(ra, rb)) if x != y] + list(
        range(min(len(ra), len(rb)), max(len(ra), len(rb)))
    )
    return {
        "passed": not (variables or metrics or records),
        "variables_compared": len(set(reference_vars) | set(rerun_vars)),
        "variables_differing": variables,
        "metrics_compared": len(set(a) | set(b)),
        "metrics_differing": {k: [a.get(k), b.get(k)] for k in metrics},
        "records_compared": max(len(ra), len(rb)),
        "records_differing": len(records),
        "environment_differences": environment_differences(reference, rerun),
    }


@dataclasses.dataclass(frozen=True)
class Tolerances:
    """Of a devices:N / processes:N check (module docstring): `parameters`, relative; `metrics`, absolute, per
    metric."""

    parameters: float
    nearest_seed: int | None  # the other seed whose run is nearest the checked seed's
    metrics: dict[str, float]


def tolerances(
    seed_distances: Mapping[int, float], seed_values: Mapping[str, Sequence[float]], reference: Mapping[str, float]
) -> Tolerances:
    """The tolerances of a devices/processes check.

    Args:
      seed_distances: {other seed: `relative_difference` between its variables and the checked seed's}.
      seed_values: {metric: its final values over the study's seeds}.
      reference: {metric: the checked seed's final value}.
    """
    nearest = min(seed_distances, key=seed_distances.get) if seed_distances else None
    parameters = max(ROUNDING_RTOL, seed_distances[nearest]) if nearest is not None else ROUNDING_RTOL
    metrics = {}
    for name, value in reference.items():
        summary = stats.summarize(seed_values[name])
        metrics[name] = max(ROUNDING_RTOL * abs(value), SPREAD_STDS * (summary.std or 0.0))
    return Tolerances(parameters=parameters, nearest_seed=nearest, metrics=metrics)


def tolerance_result(
    reference: Run,
    other: Run,
    reference_vars: Mapping[str, np.ndarray],
    other_vars: Mapping[str, np.ndarray],
    limits: Tolerances,
) -> dict[str, Any]:
    """The outcome of a devices/processes check: the largest relative parameter and metric differences against the
    reference run, each metric's difference against its tolerance; passed when all are within."""
    parameter, where = relative_difference(other_vars, reference_vars)
    metrics = {}
    for name, limit in limits.metrics.items():
        a, b = float(other.final[name]), float(reference.final[name])
        metrics[name] = {
            "value": a,
            "reference": b,
            "difference": a - b,
            "relative": abs(a - b) / abs(b) if b else (0.0 if a == b else float("inf")),
            "tolerance": limit,
            "within": abs(a - b) <= limit,
        }
    worst = max(metrics, key=lambda k: metrics[k]["relative"]) if metrics else None
    return {
        "passed": parameter <= limits.parameters and all(m["within"] for m in metrics.values()),
        "parameter_relative_difference": parameter,
        "parameter_where": where,
        "parameter_tolerance": limits.parameters,
        "parameter_tolerance_nearest_seed": limits.nearest_seed,
        "metric_largest_relative_difference": metrics[worst]["relative"] if worst else 0.0,
        "metric_largest_where": worst,
        "metrics": metrics,
        "device_count": other.device_count,
        "process_count": other.process_count,
        "reference_device_count": reference.device_count,
        "reference_process_count": reference.process_count,
    }


# Final metrics a devices/processes check holds to a tolerance: the evaluation metrics and the training loss and
# metric (the step, epoch and learning rate follow from the config; nonfinite_steps is a count).
def checked_metrics(run: Run, eval_split: str) -> dict[str, float]:
    return {k: float(v) for k, v in run.metrics().items() if k.startswith((f"{eval_split}_", "train_"))}


def check_checks(study: Study, checks: Sequence[Check]) -> None:
    """Raises ValueError, before anything runs, for a check the study cannot run: devices:N or processes:N with
    fewer than 2 seeds (their tolerances come from the seeds' spread), or with batches that do not split over N."""
    for check in checks:
        if check.kind == "rerun":
            continue
        if len(study.seeds) < 2:
            raise ValueError(
                f"--check {check.name}: expected 2 or more seeds (its tolerances come from the spread "
                f"between the seeds' runs), got --seeds with {len(study.seeds)}"
            )
        processes = check.count if check.kind == "processes" else 1
        for key in ("batch_size", "eval_batch_size"):
            try:
                parallel.check_batch_size(study.config[key], f"config.{key}", devices=check.count, processes=processes)
            except ValueError as e:
                raise ValueError(f"--check {check.name}: {e}; set --config.{key} to one") from None


def check_argvs(study: Study, check: Check, seed: int, address: str) -> list[list[str]]:
    """The `cnnjax train` arguments of each process of `check` on `seed` (processes:N joined at `address`)."""
    workdir = study.check_workdir(check, seed)
    if check.kind != "processes":
        return [study.train_argv(seed, workdir)]
    return [
        study.train_argv(
            seed, workdir, "--coordinator-address", address, "--num-processes", str(check.count), "--process-id", str(i)
        )
        for i in range(check.count)
    ]


def run_check(study: Study, check: Check, runs: Mapping[int, Run], report=print) -> dict[str, Any]:
    """Trains `check` on the study's first seed (unless its workdir holds a finished run) and compares it with the
    seed's run in `runs` ({seed: Run} of the study's seeds); returns the outcome (JSON-serialisable)."""
    seed = study.seeds[0]
    workdir = study.check_workdir(check, seed)
    done = finished(workdir)
    argvs = check_argvs(study, check, seed, "127.0.0.1:PORT" if done else f"127.0.0.1:{free_port()}")
    devices = check.count if check.kind == "devices" else None
    commands = [study.command(argv, devices=devices) for argv in argvs]
    if done:
        report(f"check {check.name}: finished in {workdir}, compared again")
    else:
        for command in commands:
            report(f"check {check.name}: {command}")
        run_training(argvs, what=f"check {check.name} ({workdir})", devices=devices)
    reference, other = runs[seed], read_run(workdir)
    reference_vars, other_vars = variables_of(reference.workdir), variables_of(workdir)
    if check.kind == "rerun":
        outcome = rerun_result(reference, other, reference_vars, other_vars)
    else:
        distances = {
            s: relative_difference(variables_of(run.workdir), reference_vars)[0] for s, run in runs.items() if s != seed
        }
        checked = checked_metrics(reference, study.eval_split)
        values = {name: [float(run.final[name]) for run in runs.values()] for name in checked}
        outcome = tolerance_result(reference, other, reference_vars, other_vars, tolerances(distances, values, checked))
    return {"check": check.name, "seed": seed, "workdir": str(workdir), "commands": commands, **outcome}
