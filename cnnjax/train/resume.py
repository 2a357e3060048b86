"""Resuming and reading runs: the config hash that a checkpoint must match, `restore_run(workdir)`, and
`run_differences(workdir_a, workdir_b)` (config and environment; `environment_changes` within one run).

A checkpoint's meta holds the hash of the settings that determine the run's numbers (all but RUN_ONLY_KEYS) and
the settings themselves, so a resumption with another config fails naming each changed setting. It also holds the
options the model was created with, so `restore_run` rebuilds the model of a workdir without its dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flax.linen as nn
import ml_collections

from cnnjax import environment
from cnnjax import models as modellib
from cnnjax.train import config as configlib
from cnnjax.train.checkpoint import Checkpointer
from cnnjax.train.metrics import read_manifest

# Keys that do not change the numbers a run computes: they may differ between a run and its resumption and are
# left out of the config hash.
RUN_ONLY_KEYS = frozenset(
    {
        "data_dir",
        "data_workers",
        "idx_dir",
        "log_every_steps",
        "checkpoint_every_steps",
        "checkpoint_keep",
        "tensorboard",
        "stop_after_step",
        "steps_per_call",
        "distributed.coordinator_address",
        "distributed.num_processes",
        "distributed.process_id",
    }
)


def hashed_settings(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The settings that determine a run's numbers (all but RUN_ONLY_KEYS), flattened."""
    return {k: v for k, v in configlib.flatten(config.to_dict()).items() if k not in RUN_ONLY_KEYS}


def config_hash(config: ml_collections.ConfigDict | Mapping[str, Any]) -> str:
    """A 16-hex-digit SHA-256 of `hashed_settings(config)` (or of such settings themselves): equal hashes, equal
    numbers."""
    settings = config if not isinstance(config, ml_collections.ConfigDict) else hashed_settings(config)
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """'key: saved -> current' for each setting that differs between two `hashed_settings` dicts."""
    keys = sorted(set(saved) | set(current))
    return [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]


# For a key that a checkpoint's config lacks, what `cnnjax train` ran when it wrote one without it, where that is
# not the key's schema default: a config without `numerics` comes from a cnnjax whose only profile for training
# was "fast" (CNNJAX_XLA_DEFAULTS=0 gave XLA's own flags, the "xla" profile).
_IN_EFFECT_BEFORE_THE_KEY = {"numerics": "fast"}


def with_schema_defaults(saved: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's settings with, for each key the schema gained since it was written, what was in effect then."""
    defaults = {**hashed_settings(configlib.default_config()), **_IN_EFFECT_BEFORE_THE_KEY}
    return {**{k: v for k, v in defaults.items() if k not in saved}, **saved}


def changed_settings(meta: Mapping[str, Any], config: ml_collections.ConfigDict) -> list[str]:
    """'key: checkpoint's -> config's' for each setting that differs between checkpoint `meta`'s config and
    `config`; [] when the checkpoint was written by this config."""
    if meta["config_hash"] == config_hash(config):
        return []
    # [] also when written before the schema gained keys, which `config` leaves at their defaults
    return differences(with_schema_defaults(meta["config"]), hashed_settings(config))


def check_same_config(meta: Mapping[str, Any], config: ml_collections.ConfigDict, directory: Path) -> None:
    """Raises ValueError naming the changed settings when checkpoint `meta` was written by another config."""
    changed = changed_settings(meta, config)
    if changed:
        raise ValueError(
            f"config: the checkpoint in {directory} was written with config hash {meta['config_hash']}, this run "
            f"has {config_hash(config)}; changed settings (checkpoint -> now): {changed}. Use a new workdir, or the "
            "checkpoint's settings to resume."
        )


def read_config(workdir: str | Path) -> ml_collections.ConfigDict:
    """The config a run wrote to `workdir`/config.json, on the schema (`config.fill`).

    Raises:
      ValueError: there is no config.json, or it is not JSON, not a JSON object or not a config; the message names
        the file.
    """
    path = Path(workdir) / "config.json"
    if not path.is_file():
        raise ValueError(f"workdir: expected a training workdir with a config.json, got {str(workdir)!r}")
    try:
        settings = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); expected the config that training writes") from None
    if not isinstance(settings, dict):
        raise ValueError(
            f"{path}: expected a JSON object (the config that training writes), got {type(settings).__name__}"
        )
    try:
        return configlib.fill(settings)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a valid config: {e}") from None


def restore_run(
    workdir: str | Path, step: int | None = None
) -> tuple[ml_collections.ConfigDict, nn.Module, dict[str, Any]]:
    """(config, model, variables) of a workdir's checkpoint `step` (default: the newest), without its dataset.

    The variables are {'params': ..., 'batch_stats': ...} ('batch_stats' only for models with BatchNorm; 'params'
    the moving average of the parameters when the run keeps one, config.ema_decay > 0), ready for
    `model.apply(variables, x, train=False)` on inputs preprocessed like the run's (normalised with the dataset's
    mean and std, padded to config.pad_to / center-cropped to config.augment.crop_size).
    """
    if not isinstance(workdir, str | os.PathLike):
        raise TypeError(f"workdir: expected a path (str or os.PathLike) of a run's workdir, got {workdir!r}")
    workdir = Path(workdir)
    config = read_config(workdir)
    checkpointer = Checkpointer(workdir / "checkpoints", keep=max(config.checkpoint_keep, 1), read_only=True)
    try:
        state, meta = checkpointer.read(step)
    finally:
        checkpointer.close()
    if "model_options" not in meta:
        raise ValueError(
            f"workdir: the checkpoint of step {meta['step']} in {workdir} records no model options "
            "(written before cnnjax recorded them)"
        )
    changed = changed_settings(meta, config) if {"config_hash", "config"} <= set(meta) else []
    if changed:
        raise ValueError(
            f"{workdir / 'config.json'}: expected the config its checkpoint of step {meta['step']} was written with, "
            f"got other settings (checkpoint -> config.json): {changed}; put the run's config.json back (running "
            "its training command again on this workdir rewrites it)"
        )
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["model_options"].items()}  # JSON lists
    model = modellib.create(config.model, **options)
    params = state.get("ema_params") or state["params"]  # a run that keeps an average evaluates it
    variables = {"params": params, **({"batch_stats": state["batch_stats"]} if state["batch_stats"] else {})}
    return config, model, variables


def _recorded_environments(workdir: Path) -> list[tuple[int, dict[str, Any]]]:
    """[(step, fingerprint)] of a run's start (step 0) and each resumption that records one, from its manifest.json.

    Raises:
      ValueError: no manifest.json, or one whose start records no environment.
    """
    path = workdir / "manifest.json"
    manifest = read_manifest(path)
    if not manifest:
        raise ValueError(f"workdir: expected a training workdir with a manifest.json, got {str(workdir)!r}")
    if not isinstance(manifest.get("environment"), dict):
        raise ValueError(
            f"{path}: records no environment (cnnjax.environment.fingerprint()); its run's versions and "
            "numerics are under 'versions' and 'backend'"
        )
    resumptions = [r for r in manifest.get("resumptions", []) if isinstance(r.get("environment"), dict)]
    return [(0, manifest["environment"])] + [(r.get("step"), r["environment"]) for r in resumptions]


def environment_changes(workdir: str | Path) -> list[str]:
    """'resumed at step S under another environment (<field>: a -> b; ...)' for each resumption of the run in
    `workdir` (each invocation after the first) whose reproducibility fields
    (`cnnjax.environment.reproducibility_differences`) differ from its start's; [] when all agree.

    Raises:
      ValueError: no manifest.json, or one whose start records no environment.
    """
    (_, start), *resumptions = _recorded_environments(Path(workdir))
    changes = [(step, environment.reproducibility_differences(start, fp)) for step, fp in resumptions]
    return [f"resumed at step {step} under another environment ({'; '.join(c)})" for step, c in changes if c]


def run_differences(workdir_a: str | Path, workdir_b: str | Path, *, reproducibility_only: bool = False) -> list[str]:
    """What differs between two training runs, read from their workdirs' config.json and manifest.json; [] when
    nothing does.

    In order: 'config.<key>: a -> b' for each setting that changes the numbers (`hashed_settings`);
    'environment.<field>: a -> b' for each field of their fingerprints at their starts
    (`cnnjax.environment.fingerprint`; with `reproducibility_only`, only those that decide the bits:
    `cnnjax.environment.reproducibility_differences`); then '<workdir>: ' + each of `environment_changes` for a run
    resumed where its start's reproducibility fields did not hold.

    Raises:
      ValueError: a workdir without config.json or manifest.json, or whose manifest records no environment.
    """
    workdir_a, workdir_b = Path(workdir_a), Path(workdir_b)
    config = [
        f"config.{d}"
        for d in differences(hashed_settings(read_config(workdir_a)), hashed_settings(read_config(workdir_b)))
    ]
    (_, start_a), (_, start_b) = _recorded_environments(workdir_a)[0], _recorded_environments(workdir_b)[0]
    compare = environment.reproducibility_differences if reproducibility_only else environment.differences
    found = config + [f"environment.{d}" for d in compare(start_a, start_b)]
    return found + [f"{w}: {change}" for w in (workdir_a, workdir_b) for change in environment_changes(w)]
