"""The 2012-2015 CNN rows: each config loads and validates, its registered model builds at 28x28x1 with the size
its docstring states, its 'validation' argument holds out the last 10,000 training images, and a tiny run through
the runner (run and tune) works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnjax.train import validate
from experiments.progression import __main__ as cli
from experiments.progression import cnn, runner
from experiments.progression.rows import ROWS, get_row

pytestmark = pytest.mark.slow  # the tests train study rows

# (row, registered model, trainable parameters, MACs per 28x28x1 image): `cnnjax summary` of each row's model.
SIZES = {
    "alexnet": ("alexnet", 1_467_194, 9_210_000),
    "zfnet": ("zfnet", 1_555_514, 10_170_000),
    "vgg": ("vgg11", 1_768_778, 10_770_000),
    "googlenet": ("googlenet", 376_838, 4_940_000),
    "resnet": ("resnet20", 269_434, 8_470_000),
}


def test_every_cnn_of_2012_2015_is_a_row():
    assert [name for name, row in ROWS.items() if 2012 <= row.year <= 2015 and row.kind == "cnn"] == list(SIZES)
    years = [row.year for row in ROWS.values()]
    assert years == sorted(years)


@pytest.mark.parametrize("name", list(SIZES))
def test_row_config_validates_and_builds_at_28x28x1(name):
    row = get_row(name)
    model, params, macs = SIZES[name]
    config = validate(cnn.cnn_config(row.settings, seed=1))
    assert config.seed == 1 and config.model == model and config.validation_examples == 0
    assert config.optimizer.name == "momentum" and config.optimizer.momentum == 0.9
    n_params, n_macs = cnn.size(config)  # at the row's input: VGG's pad_to=32
    assert n_params == params and abs(n_macs - macs) < 0.01 * macs
    held_out = cnn.cnn_config(row.settings, seed=1, validation=True)
    assert held_out.validation_examples == 10_000
    assert {k: v for k, v in held_out.items() if k != "validation_examples"} == {
        k: v for k, v in config.items() if k != "validation_examples"
    }
    docstring = Path(row.settings).read_text()
    assert f"cnnjax train --config {row.settings}" in docstring and row.command(0) in docstring


def test_cnn_row_runs_and_tunes_tiny_through_the_runner(tmp_path, capsys):
    row = get_row("resnet")
    result = runner.run_one(row, 0, workdir_root=tmp_path / "runs", results_dir=tmp_path / "results", runlocal=True)
    assert 0.0 < result["test_error"] < 1.0 and result["params"] == SIZES["resnet"][1]
    assert not (tmp_path / "results").exists()
    cli.main(
        [
            "tune",
            "--row",
            "resnet",
            "--seed",
            "0",
            "--workdir-root",
            str(tmp_path / "runs"),
            "--runlocal",
            "--numerics",
            "fast",
        ]
    )  # the suite's profile
    assert "validation_error" in capsys.readouterr().out
    tuned = json.loads((tmp_path / "runs-runlocal" / "resnet" / "validation_seed0.json").read_text())
    assert tuned["validation_examples"] == 10_000 and 0.0 < tuned["validation_error"] < 1.0


def test_tune_runs_a_candidate_config_beside_the_rows_own(tmp_path):
    candidate = "experiments/configs/resnet20s1_fashion_mnist.py"
    cli.main(
        [
            "tune",
            "--row",
            "resnet",
            "--config",
            candidate,
            "--workdir-root",
            str(tmp_path / "runs"),
            "--runlocal",
            "--numerics",
            "fast",
        ]
    )
    tuned = json.loads(
        (tmp_path / "runs-runlocal" / "resnet" / "validation_resnet20s1_fashion_mnist_seed0.json").read_text()
    )
    assert tuned["config"] == candidate and f"--config {candidate}" in tuned["command"]
    assert (tmp_path / "runs-runlocal" / "resnet" / "validation_resnet20s1_fashion_mnist_seed0").is_dir()
    with pytest.raises(ValueError, match="config_file: expected a config file"):
        runner.validate_one(get_row("resnet"), 0, config_file="no/such.py", workdir_root=tmp_path / "runs")


@pytest.mark.parametrize(
    "row, config, match",
    [
        ("resnet", "no/such.py", "no such file"),
        ("hog_svm", "experiments/configs/resnet20s1_fashion_mnist.py", "for CNN rows"),
    ],
)
def test_tune_config_errors_before_any_work(row, config, match, capsys):
    with pytest.raises(SystemExit):
        cli.main(["tune", "--row", row, "--config", config])
    assert match in capsys.readouterr().err
