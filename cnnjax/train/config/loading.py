"""Config files and command lines. A config file is a Python file defining `get_config(arg=None)`, loaded by
`load_config('file.py[:arg]')`.

If `get_config` takes an argument, the file lists those it knows in the tuple `ARGS` (e.g. `('runlocal',)`). A config
file may import a helper module from its own folder. The loader is cnnjax's own rather than ml_collections'
`config_flags` file parser because it reports any error of the file in one line naming the file and line, and puts
the file's folder on sys.path while importing it. Command-line settings (`override`) go through `config_flags`.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections
from absl import flags
from ml_collections import config_flags

from cnnjax import models as modellib
from cnnjax.train.config.validation import _a, fill, key_holder


def load_config(spec: str) -> ml_collections.ConfigDict:
    """Loads 'path/to/file.py' or 'path/to/file.py:arg' by calling the file's `get_config()` / `get_config(arg)`.

    Raises ValueError naming the file (and line) for a missing file, a syntax error or an exception while
    importing it or in get_config, an argument not in the file's `ARGS`, or a result that is not a config.
    """
    path, arg = spec, None
    if ":" in spec and not spec.endswith(".py"):
        path, arg = spec.rsplit(":", 1)
    file = Path(path)
    if file.suffix != ".py":
        raise ValueError(f"config: expected a Python file (optionally 'file.py:arg'), got {spec!r}")
    if not file.is_file():
        where = f"relative to the working directory {Path.cwd()}" if not file.is_absolute() else "on this machine"
        raise ValueError(f"config: {spec!r}: no such file ({where})")
    module = _run_file(file, lambda: _import(file))
    if not hasattr(module, "get_config"):
        raise ValueError(f"config: {file} defines no get_config()")
    valid = tuple(getattr(module, "ARGS", ()))
    if arg is not None and arg not in valid:
        raise ValueError(f"config: {file}:{arg}: expected an argument of {list(valid)} (the file's ARGS), got {arg!r}")
    if arg is None and _needs_argument(module.get_config):
        raise ValueError(
            f"config: {file}: get_config needs an argument, one of {list(valid)} (the file's ARGS); "
            f"got none: pass it as '{file}:{valid[0] if valid else 'ARG'}'"
        )
    result = _run_file(file, lambda: module.get_config() if arg is None else module.get_config(arg))
    if not isinstance(result, (ml_collections.ConfigDict, Mapping)):
        raise ValueError(
            f"config: {file}: get_config() returned {type(result).__name__}, expected an ml_collections.ConfigDict"
        )
    return fill(result)


def _needs_argument(get_config: Any) -> bool:
    """Whether get_config has a parameter without a default (it cannot be called without an argument)."""
    try:
        parameters = inspect.signature(get_config).parameters.values()
    except (TypeError, ValueError):  # not a function: calling it reports that
        return False
    return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def _import(file: Path):
    """The config file as a module; while it is imported, its folder is on sys.path, so that a family of config
    files can share a helper module next to them (e.g. experiments/imagenet/imagenet_common.py)."""
    module_spec = importlib.util.spec_from_file_location(f"cnnjax_config_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def _run_file(file: Path, call: Callable[[], Any]) -> Any:
    """call(), with any error from the config file turned into one ValueError naming the file and line."""
    try:
        return call()
    except SyntaxError as e:
        raise ValueError(f"config: {file}:{e.lineno}: syntax error: {e.msg}") from None
    except (Exception, SystemExit) as e:
        lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == file.absolute()]
        where = f"{file}:{lines[-1]}" if lines else str(file)
        raise ValueError(f"config: {where}: {type(e).__name__}: {e}") from None


# ------------------------------------------------------------------------------------------------ command lines
OVERRIDE = re.compile(r"--config\.([A-Za-z_][\w.]*)(=.*)?$")


def override(config: ml_collections.ConfigDict, argv: Sequence[str]) -> ml_collections.ConfigDict:
    """`config` with command-line settings applied: `['--config.optimizer.lr=0.05', '--config.augment.flip',
    'true', ...]`, each value parsed by ml_collections' `config_flags` for the type of the key it sets (floats,
    ints, true/false, strings, tuples as `30,60` or `'(30, 60)'`).

    `--config.model_options.NAME=VALUE` sets a model option, parsed by the type the model declares for it
    (`cnnjax.models.parse_option`); config.model must name the model by then.

    Raises:
      ValueError: an argument that is not `--config.KEY[=VALUE]`, an unknown key (naming the valid ones), a
        value that does not parse as the key's type (naming the key, the type and the value).
    """
    settings, options, i = [], [], 0
    while i < len(argv):
        match = OVERRIDE.match(argv[i])
        if not match:
            raise ValueError(
                f"unrecognized argument {argv[i]!r} (config overrides look like --config.optimizer.lr=0.05)"
            )
        key, value = match.group(1), match.group(2)
        if value is None:
            if i + 1 == len(argv):
                raise ValueError(f"{argv[i]}: expected a value (--config.{key}=VALUE)")
            value, i = argv[i + 1], i + 2
        else:
            value, i = value[1:], i + 1
        if key.startswith("model_options."):
            options.append((key.removeprefix("model_options."), value))
        else:
            key_holder(config, key)  # an unknown key fails here, naming the valid ones
            settings.append(f"--config.{key}={value}")
    if settings:
        _parse_with_config_flags(config, settings)
    for name, text in options:
        config.model_options[name] = modellib.parse_option(config.model, name, text)
    return config


def _parse_with_config_flags(config: ml_collections.ConfigDict, settings: list[str]) -> None:
    """Applies `--config.KEY=VALUE` settings (keys known to exist) to `config` in place through config_flags."""
    values = flags.FlagValues()
    config_flags.DEFINE_config_dict(
        "config", config, flag_values=values, lock_config=False, sys_argv=["cnnjax", *settings]
    )
    try:
        values(["cnnjax", *settings])
    except flags.Error as e:  # "flag --config.KEY=VALUE: why"
        match = re.match(r"flag --config\.([\w.]+)=(.*?): (.*)", str(e), re.S)
        if match is None:
            raise ValueError(f"config: {e}") from None
        key, text, why = match.groups()
        holder, leaf = key_holder(config, key)
        kind = holder.get_type(leaf)
        raise ValueError(f"config.{key}: expected {_a(kind)} like {holder[leaf]!r}, got {text!r} ({why})") from None
