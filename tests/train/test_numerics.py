"""A training run's numerics profile: chosen by `cnnjax train --numerics` > config.numerics > CNNJAX_PROFILE > "fast"
before JAX starts, recorded in config.json (config.numerics, covered by the config hash) and in the manifest; a
config naming another profile than the process runs is refused, and so is a resumption under another profile."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnnjax.train import train_and_evaluate

from .helpers import REPO, TinyNet, cli_env, tiny_config, tiny_dataset, write_fake_fashion_mnist


def _recorded(workdir) -> tuple[str, str]:
    """(config.json's numerics, the manifest's backend profile)."""
    config = json.loads((workdir / "config.json").read_text())
    manifest = json.loads((workdir / "manifest.json").read_text())
    return config["numerics"], manifest["backend"]["profile"]


def test_a_run_records_the_profile_its_process_runs(tmp_path):
    workdir = tmp_path / "run"
    train_and_evaluate(tiny_config(num_epochs=1), workdir, dataset=tiny_dataset(), model=TinyNet())
    assert _recorded(workdir) == ("fast", "fast")  # tests/conftest.py configured "fast"


def test_a_config_naming_another_profile_is_refused_before_anything_is_written(tmp_path):
    workdir = tmp_path / "run"
    message = (
        r"^config\.numerics: this process runs the 'fast' profile, got 'portable'; .*"
        r"cnnjax\.backend\.configure\('portable'\) first thing"
    )
    with pytest.raises(ValueError, match=message):
        train_and_evaluate(tiny_config(numerics="portable"), workdir, dataset=tiny_dataset(), model=TinyNet())
    assert not workdir.exists()


def test_an_unknown_profile_in_a_config_is_refused_naming_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"^config\.numerics: expected one of \['', 'fast', 'portable', 'xla'\]"):
        train_and_evaluate(tiny_config(numerics="quick"), tmp_path / "run", dataset=tiny_dataset(), model=TinyNet())


CONFIG_FILE = """
from cnnjax.train import recipe

def get_config(arg=None):
    config = recipe("lenet5")
    config.numerics = "xla"
    return config
"""


def _train(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnnjax.cli", "train", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_cnnjax_train_runs_the_flag_over_the_config_over_cnnjax_profile_and_refuses_a_resumption_under_another(
    tmp_path,
):
    data_dir = write_fake_fashion_mnist(tmp_path / "data", 128, 50)
    config_file = tmp_path / "config.py"
    config_file.write_text(CONFIG_FILE)
    common = [
        "--config",
        str(config_file),
        "--dataset",
        "fashion_mnist",
        "--data-dir",
        str(data_dir),
        "--steps",
        "2",
        "--batch-size",
        "32",
        "--config.eval_batch_size=50",
    ]
    env = {**cli_env(), "CNNJAX_PROFILE": "portable"}

    by_config = _train(*common, "--workdir", str(tmp_path / "config"), env=env)
    assert by_config.returncode == 0, by_config.stderr[-3000:]
    assert _recorded(tmp_path / "config") == ("xla", "xla")

    by_flag = _train(*common, "--workdir", str(tmp_path / "flag"), "--numerics", "portable", env=env)
    assert by_flag.returncode == 0, by_flag.stderr[-3000:]
    assert _recorded(tmp_path / "flag") == ("portable", "portable")

    resumed = _train(*common, "--workdir", str(tmp_path / "flag"), env=env)  # the config's "xla" on a portable run
    assert resumed.returncode == 1
    assert "numerics: 'portable' -> 'xla'" in resumed.stderr
