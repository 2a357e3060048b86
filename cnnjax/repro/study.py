"""A reproducibility study: one config trained with several seeds, each in its own workdir under one folder.

    study = open_study("experiments/configs/lenet5_fashion_mnist.py", seeds=[0, 1, 2])  # numerics: portable
    train_seeds(study)                    # a finished seed is skipped, an interrupted one resumes
    runs = [read_run(study.workdir(seed)) for seed in study.seeds]

Folder layout (STUDY/):

    study.json          the config file and overrides, the settings that determine the numbers (all but the seed),
                        the numerics profile: a later command on the folder must name the same study
    seed_<S>/           the workdir of seed S (config.json, manifest.json, metrics.jsonl, checkpoints/)
    checks/<check>_seed<S>/   the workdirs of the checks (cnnjax.repro.checks)
    report.md, report.json, curves.png   (cnnjax.repro.report)

Every training is a `cnnjax train` command in a child process (`python -m cnnjax.cli train --config FILE[:ARG]
--numerics PROFILE --seed S --workdir DIR [--config.KEY=VALUE ...]`): the report lists the command that reproduces
each run, each run starts its JAX backend under the study's profile and its own device count, and `cnnjax train`
resumes a run from its workdir's checkpoint. SIGINT and SIGTERM are passed on to the training, which saves a
checkpoint and stops; the study then raises `Stopped`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections

from cnnjax import backend
from cnnjax import models as modellib
from cnnjax.train import config as configlib
from cnnjax.train import resume
from cnnjax.train.metrics import read_manifest, read_records
from cnnjax.train.rng import check_seed
from cnnjax.train.tasks import TASKS

STUDY_FILE = "study.json"
DEFAULT_ROOT = Path("runs/repro")
DEFAULT_NUMERICS = "portable"  # a study's profile unless chosen: the fewest CPU-dependent paths (cnnjax.backend)
# Keys of the final metrics that measure time, not the computation: left out of every comparison.
TIMING_KEYS = frozenset({"wall_time", "images_per_sec", "compile_seconds"})
DEVICE_COUNT_FLAG = "xla_force_host_platform_device_count"
POLL_SECONDS = 0.2


class Stopped(Exception):
    """A training of the study was stopped by SIGINT/SIGTERM after saving its checkpoint; the same command resumes
    the study."""

    def __init__(self, signum: int, what: str):
        self.signum = signum
        super().__init__(
            f"interrupted by {signal.Signals(signum).name} while training {what}; its checkpoint is "
            "saved: run the same command to resume the study"
        )


class TrainingFailed(RuntimeError):
    """A training of the study exited with an error (its own message is in the output above)."""


# ---------------------------------------------------------------------------------------------------- arguments
def parse_seeds(spec: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0,2,5' -> [0, 2, 5]; '3' -> [3]; ranges and single seeds may be mixed ('0-2,7').

    Raises:
      ValueError: a malformed spec, a reversed range, a seed given twice, a seed outside [0, 2**31).
    """
    seeds: list[int] = []
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None:
            raise ValueError(f"--seeds: expected seeds like '0-4', '0,2,5' or '3', got {spec!r}")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first:
            raise ValueError(
                f"--seeds: expected a range FIRST-LAST with FIRST <= LAST, got {part.strip()!r} in "
                f"{spec!r}; write {last}-{first}"
            )
        for seed in (first, last):
            check_seed(seed, "--seeds")
        seeds += range(first, last + 1)
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(
            f"--seeds: expected each seed once, got {', '.join(map(str, repeated))} more than once in {spec!r}"
        )
    return seeds


@dataclasses.dataclass(frozen=True)
class Check:
    """A check of the study on its first seed: 'rerun' (count 1), 'devices' or 'processes' (count N >= 2)."""

    kind: str
    count: int = 1

    @property
    def name(self) -> str:
        return self.kind if self.kind == "rerun" else f"{self.kind}:{self.count}"

    def folder(self, seed: int) -> str:
        return f"{self.kind}{'' if self.kind == 'rerun' else self.count}_seed{seed}"


CHECK_KINDS = ("rerun", "devices:N", "processes:N")


def parse_check(spec: str) -> Check:
    """'rerun' -> Check('rerun'); 'devices:8' -> Check('devices', 8); 'processes:2' -> Check('processes', 2).

    Raises:
      ValueError: another name, a count that is not an integer >= 2, a count given to rerun.
    """
    kind, sep, count = spec.partition(":")
    if kind == "rerun" and not sep:
        return Check("rerun")
    if kind in ("devices", "processes") and sep:
        if not count.isdigit() or int(count) < 2:
            raise ValueError(
                f"--check {spec}: expected {kind}:N with N an integer >= 2 (the {kind} to compare with "
                f"one), got {count!r}"
            )
        return Check(kind, int(count))
    raise ValueError(f"--check: expected one of {', '.join(CHECK_KINDS)} (e.g. devices:8), got {spec!r}")


def parse_checks(specs: Sequence[str]) -> list[Check]:
    """`parse_check` of each, each check once."""
    checks = [parse_check(spec) for spec in specs]
    names = [check.name for check in checks]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"--check: expected each check once, got {', '.join(repeated)} more than once")
    return checks


# ---------------------------------------------------------------------------------------------------- the study
@dataclasses.dataclass(frozen=True)
class Study:
    """A study: `config` (validated; its seed is replaced by each of `seeds`) loaded from `config_spec`
    ('file.py[:arg]') with `overrides` (['--config.KEY=VALUE', ...]), trained under the numerics profile
    `numerics` (a row of cnnjax.backend.PROFILES), in `folder`."""

    folder: Path
    config_spec: str
    overrides: tuple[str, ...]
    numerics: str
    seeds: tuple[int, ...]
    config: ml_collections.ConfigDict

    @property
    def settings(self) -> dict[str, Any]:
        """The settings that determine the numbers (`cnnjax.train.resume.hashed_settings`), less the seed: what
        makes two commands the same study."""
        return {k: v for k, v in resume.hashed_settings(self.config).items() if k != "seed"}

    @property
    def eval_split(self) -> str:
        return "validation" if self.config.validation_examples else "test"

    @property
    def main_metric(self) -> str:
        """The task's main evaluation metric, e.g. 'test_accuracy' (what `cnnjax train` prints last)."""
        return f"{self.eval_split}_{TASKS[modellib.task(self.config.model)].main_metric}"

    @property
    def name(self) -> str:
        return self.folder.name

    def workdir(self, seed: int) -> Path:
        return self.folder / f"seed_{seed}"

    def check_workdir(self, check: Check, seed: int) -> Path:
        return self.folder / "checks" / check.folder(seed)

    def train_argv(self, seed: int, workdir: Path, *extra: str) -> list[str]:
        """The `cnnjax train` arguments of seed `seed` in `workdir` (then `extra`, e.g. the multi-process flags)."""
        return [
            "train",
            "--config",
            self.config_spec,
            "--numerics",
            self.numerics,
            "--seed",
            str(seed),
            "--workdir",
            str(workdir),
            *extra,
            *self.overrides,
        ]

    def command(self, argv: Sequence[str], *, devices: int | None = None) -> str:
        """The shell command that runs `argv` (from `train_argv`) as this study does."""
        env = [] if devices is None else [f"XLA_FLAGS=--{DEVICE_COUNT_FLAG}={devices}"]
        return " ".join([*env, "cnnjax", shlex.join(argv)])

    def record(self) -> dict[str, Any]:
        """study.json's content."""
        return {
            "config": self.config_spec,
            "overrides": list(self.overrides),
            "numerics": self.numerics,
            "model": self.config.model,
            "dataset": self.config.dataset,
            "settings": self.settings,
        }


def default_folder(config_spec: str, root: Path = DEFAULT_ROOT) -> Path:
    """runs/repro/<config file stem>[_<arg>], e.g. runs/repro/lenet5_fashion_mnist_runlocal."""
    path, _, arg = config_spec.partition(":") if not config_spec.endswith(".py") else (config_spec, "", "")
    return root / "_".join(filter(None, (Path(path).stem, arg)))


def open_study(
    config_spec: str,
    seeds: Sequence[int],
    *,
    overrides: Sequence[str] = (),
    numerics: str | None = None,
    folder: str | Path | None = None,
) -> Study:
    """The study of `config_spec` with `overrides`, checked before anything runs: the config loads and validates,
    the profile exists, and `folder` (default: `default_folder`) is new, empty, or holds this same study.

    The profile is `numerics`, else the config's `numerics`, else $CNNJAX_PROFILE, else DEFAULT_NUMERICS
    (`cnnjax.backend.choose_profile`).

    Raises:
      ValueError: a missing or invalid config, an override that sets the seed, an unknown profile, a folder that
        holds another study (naming the settings that differ) or other files, a file where the folder should be.
    """
    if not seeds:
        raise ValueError("--seeds: expected one or more seeds, got none")
    seeded = [o for o in overrides if re.match(r"--config\.seed(=|$)", o)]
    if seeded:
        raise ValueError(f"{seeded[0]}: the study sets each run's seed from --seeds; leave config.seed unset")
    config = configlib.validate(configlib.override(configlib.load_config(config_spec), overrides))
    numerics = backend.choose_profile(numerics, config.numerics, default=DEFAULT_NUMERICS)
    study = Study(
        folder=Path(folder) if folder is not None else default_folder(config_spec),
        config_spec=config_spec,
        overrides=tuple(overrides),
        numerics=numerics,
        seeds=tuple(seeds),
        config=config,
    )
    check_folder(study)
    return study


def check_folder(study: Study) -> None:
    """Raises ValueError unless study.folder is absent, empty, or holds a study.json of the same settings and
    profile."""
    folder = study.folder
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out: expected a study folder, got {str(folder)!r}, a file")
    recorded_path = folder / STUDY_FILE
    if not recorded_path.is_file():
        held = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        if held:
            raise ValueError(
                f"--out: {str(folder)!r} holds {', '.join(held[:3])}{', ...' if len(held) > 3 else ''} "
                f"but no {STUDY_FILE}; name a new or empty folder for the study"
            )
        return
    recorded = read_study(folder)
    # a key the schema gained since the study was recorded counts as what was in effect then
    saved = resume.with_schema_defaults(recorded.get("settings", {}))
    changed = resume.differences({k: v for k, v in saved.items() if k in study.settings}, study.settings)
    if changed:
        raise ValueError(
            f"--out: {str(folder)!r} holds a study of another config ({recorded.get('config')} "
            f"{' '.join(recorded.get('overrides', []))}".rstrip()
            + f"); changed settings (study -> this command): "
            f"{'; '.join(changed)}. Name another --out, or repeat that study's config and overrides"
        )
    if recorded.get("numerics") != study.numerics:
        raise ValueError(
            f"--numerics: {str(folder)!r} holds a study run under the {recorded.get('numerics')!r} "
            f"profile, got {study.numerics!r}; use --numerics {recorded.get('numerics')} or another --out"
        )


def read_study(folder: Path) -> dict[str, Any]:
    path = Path(folder) / STUDY_FILE
    try:
        recorded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: expected the JSON file a study writes, could not read it ({e})") from None
    if not isinstance(recorded, dict):
        raise ValueError(f"{path}: expected a JSON object (the file a study writes), got {type(recorded).__name__}")
    return recorded


def write_study(study: Study) -> None:
    study.folder.mkdir(parents=True, exist_ok=True)
    (study.folder / STUDY_FILE).write_text(json.dumps(study.record(), indent=2, default=str) + "\n")


# ---------------------------------------------------------------------------------------------------- runs
@dataclasses.dataclass(frozen=True)
class Run:
    """What a finished training left in its workdir: the final metrics (manifest.json), the records
    (metrics.jsonl) and the environment's fingerprint of its start and each resumption."""

    workdir: Path
    final: dict[str, Any]
    records: list[dict[str, Any]]
    environments: list[dict[str, Any]]
    device_count: int | None
    process_count: int | None

    @property
    def environment(self) -> dict[str, Any]:
        return self.environments[0] if self.environments else {}

    def metrics(self) -> dict[str, float]:
        """The final metrics that the computation determines (TIMING_KEYS left out)."""
        return {
            k: v
            for k, v in self.final.items()
            if k not in TIMING_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)
        }


def finished(workdir: Path) -> bool:
    """Whether the training in `workdir` ran to its end (`cnnjax train` writes the final metrics to manifest.json
    last)."""
    return "final_metrics" in read_manifest(Path(workdir) / "manifest.json")


def read_run(workdir: Path) -> Run:
    """The `Run` of a finished workdir.

    Raises:
      ValueError: the workdir holds no finished training.
    """
    workdir = Path(workdir)
    manifest = read_manifest(workdir / "manifest.json")
    if "final_metrics" not in manifest:
        raise ValueError(
            f"workdir: expected a finished training in {str(workdir)!r} (final metrics in its "
            "manifest.json); run the study's command to finish it"
        )
    environments = [manifest.get("environment")] + [r.get("environment") for r in manifest.get("resumptions", [])]
    return Run(
        workdir=workdir,
        final=manifest["final_metrics"],
        records=read_records(workdir / "metrics.jsonl"),
        environments=[e for e in environments if isinstance(e, dict)],
        device_count=manifest.get("device_count"),
        process_count=manifest.get("process_count"),
    )


def train_seeds(study: Study, report=print) -> None:
    """Trains each seed of the study that has not finished (an interrupted one resumes from its checkpoint), one
    after another; writes study.json first."""
    write_study(study)
    for seed in study.seeds:
        workdir = study.workdir(seed)
        if finished(workdir):
            report(f"seed {seed}: finished in {workdir}, skipped")
            continue
        argv = study.train_argv(seed, workdir)
        report(f"seed {seed}: {study.command(argv)}")
        run_training([argv], what=f"seed {seed} ({workdir})")


def training_env(devices: int | None = None) -> dict[str, str]:
    """The environment of a study's `cnnjax train`: this process's as the user set it, without what this process's
    own profile added (XLA flags and variables that would otherwise keep their values in the child, whose
    profile is the study's), with `devices` emulated CPU devices when given."""
    configured = backend.configuration()
    added = set(configured["xla_flags_added"])
    env = {k: v for k, v in os.environ.items() if f"{k}={v}" not in configured["environment_added"]}
    flags = [f for f in env.get("XLA_FLAGS", "").split() if f not in added]
    if devices is not None:
        flags = [f for f in flags if not f.startswith(f"--{DEVICE_COUNT_FLAG}=")] + [f"--{DEVICE_COUNT_FLAG}={devices}"]
    env["XLA_FLAGS"] = " ".join(flags)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a local jax.distributed coordinator)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_training(argvs: Sequence[Sequence[str]], *, what: str, devices: int | None = None) -> None:
    """Runs `cnnjax train` with each of `argvs` (the processes of one training) in child processes and waits for
    them; SIGINT/SIGTERM received meanwhile are passed on to them (they save a checkpoint and stop).

    Raises:
      Stopped: a signal stopped the training.
      TrainingFailed: a process exited with an error (the others of the training are then killed).
    """
    env = training_env(devices)
    processes = [
        subprocess.Popen([sys.executable, "-m", "cnnjax.cli", *argv], env=env, start_new_session=True) for argv in argvs
    ]
    received: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)

    handled = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)} if handled else {}
    try:
        codes = _wait(processes)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if received:
        raise Stopped(received[0], what)
    if any(codes):
        raise TrainingFailed(
            f"training {what} failed (exit status {', '.join(map(str, codes))}); its error is in "
            "the output above. After fixing it, run the same command: finished seeds are kept"
        )


def _wait(processes: Sequence[subprocess.Popen]) -> list[int]:
    """Waits for all `processes`; once one fails, kills the rest (the others of a multi-process training would
    otherwise wait for it until jax.distributed times out). Returns the exit statuses."""
    while any(p.poll() is None for p in processes):
        if any(p.returncode for p in processes if p.returncode is not None):
            for p in processes:
                if p.poll() is None:
                    p.kill()
        time.sleep(POLL_SECONDS)
    return [p.returncode for p in processes]


def metric_values(runs: Mapping[int, Run], metric: str) -> list[float]:
    """The final value of `metric` of each run, in seed order.

    Raises:
      ValueError: a run without that metric (naming the ones it has).
    """
    values = []
    for seed, run in runs.items():
        if metric not in run.metrics():
            raise ValueError(
                f"metric: expected one of the final metrics {sorted(run.metrics())} of seed {seed}, got {metric!r}"
            )
        values.append(float(run.final[metric]))
    return values
