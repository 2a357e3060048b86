"""cnnjax's default XLA flags: merged under the user's, switchable, applied before JAX starts, recorded."""

import os
import subprocess
import sys

import pytest

from cnnjax import xla_flags


def test_with_defaults_keeps_the_users_value_of_a_flag_and_adds_the_others():
    flags = xla_flags.with_defaults("--xla_cpu_experimental_onednn_custom_call=false --xla_foo=1")
    assert flags.split()[:2] == ["--xla_cpu_experimental_onednn_custom_call=false", "--xla_foo=1"]
    assert flags.count("onednn_custom_call") == 1
    for name in xla_flags.DEFAULTS.keys() - {"xla_cpu_experimental_onednn_custom_call"}:
        assert f"--{name}={xla_flags.DEFAULTS[name]}" in flags


def test_with_defaults_of_nothing_is_the_defaults():
    assert xla_flags.with_defaults("") == " ".join(f"--{k}={v}" for k, v in xla_flags.DEFAULTS.items())


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", xla_flags.ENV_SWITCH)}
    return subprocess.run([sys.executable, "-c", code], env={**environment, **env}, capture_output=True, text=True,
                          check=True)


@pytest.mark.parametrize("switch, applied", [(None, True), ("0", False), ("off", False), ("1", True)])
def test_import_cnnjax_sets_xla_flags_unless_switched_off(switch, applied):
    env = {} if switch is None else {xla_flags.ENV_SWITCH: switch}
    out = _run("import os, cnnjax, jax; jax.devices(); from cnnjax import xla_flags as f; "
               "print(f.APPLIED, os.environ.get('XLA_FLAGS', ''))", **env).stdout.split(maxsplit=1)
    assert out[0] == str(applied)
    assert ("onednn_custom_call=true" in "".join(out[1:])) == applied


def test_a_backend_started_before_cnnjax_gets_a_warning_naming_the_fix():
    result = _run("import jax; jax.devices(); import cnnjax; from cnnjax import xla_flags as f; print(f.APPLIED)")
    assert result.stdout.strip() == "False"
    assert "import cnnjax before using JAX" in result.stderr and "XLA_FLAGS=" in result.stderr
