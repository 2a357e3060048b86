"""`curves`: a run's evaluations and the two numbers behind the study's findings, on synthetic metrics.jsonl records
(no training), and the command's JSON and figure from workdirs that hold only config.json and metrics.jsonl."""

import json

import pytest

from experiments.progression import __main__ as cli
from experiments.progression import cnn, curves
from experiments.progression.rows import get_row


def records(lrs, test_accuracies, steps_per_epoch=10):
    """Training records every 5 steps at the given per-epoch learning rates, an evaluation at each epoch's end."""
    out = []
    for epoch, (lr, test) in enumerate(zip(lrs, test_accuracies, strict=True)):
        for k in (5, 10):
            step = epoch * steps_per_epoch + k
            out.append({"step": step, "epoch": step / steps_per_epoch, "learning_rate": lr, "train_loss": 1.0,
                        "train_accuracy": 0.5 + 0.1 * epoch + 0.01 * k})
        out[-1] |= {"test_loss": 1.0, "test_accuracy": test}
    return out


def test_a_step_decay_cut_while_still_learning():
    described = curves.describe(records([0.1, 0.1, 0.1, 0.01, 0.001], [0.70, 0.75, 0.82, 0.85, 0.86]))
    assert described["first_cut_epoch"] == 3.5  # the first record logged at 0.01
    assert described["test_accuracy_gain_before_cut"] == pytest.approx(0.82 - 0.75)  # epochs 2 -> 3
    assert described["train_accuracy_last_epoch"] == pytest.approx(0.5 + 0.4 + 0.075)  # k = 5, 10 of epoch 5
    assert described["test_accuracy_final"] == 0.86
    assert [e["epoch"] for e in described["evaluations"]] == [1, 2, 3, 4, 5]


def test_a_warm_up_is_not_a_cut_and_a_constant_rate_is_never_cut():
    warm = curves.describe(records([0.01, 0.1, 0.1, 0.1], [0.5, 0.6, 0.7, 0.8]))
    assert warm["first_cut_epoch"] is None and warm["test_accuracy_gain_before_cut"] == pytest.approx(0.1)
    described = curves.describe(records([0.1, 0.1, 0.05, 0.01], [0.5, 0.6, 0.7, 0.8]))
    assert described["first_cut_epoch"] == 3.5  # 0.05 is half the peak: not below CUT x peak; 0.01 is


def test_records_without_evaluations_raise():
    with pytest.raises(ValueError, match="records: expected training and evaluation records, got 2 and 0"):
        curves.describe([{"step": 5, "epoch": 0.5, "learning_rate": 0.1}, {"step": 10, "epoch": 1.0,
                                                                          "learning_rate": 0.1}])


def test_curves_command_writes_json_and_figure(tmp_path, capsys):
    for name in ("alexnet", "vgg"):  # two rows' workdirs: config.json and metrics.jsonl only
        workdir = tmp_path / "runs" / name / "seed1"
        workdir.mkdir(parents=True)
        (workdir / "config.json").write_text(cnn.cnn_config(get_row(name).settings, 1).to_json())
        (workdir / "metrics.jsonl").write_text(
            "\n".join(json.dumps(r) for r in records([0.01, 0.01, 0.001], [0.6, 0.7, 0.75])) + "\n")
    cli.main(["curves", "--seed", "1", "--workdir-root", str(tmp_path / "runs"), "--out-dir", str(tmp_path)])
    saved = json.loads((tmp_path / "curves_seed1.json").read_text())
    assert saved["command"] == "python -m experiments.progression curves --seed 1"
    assert list(saved["rows"]) == ["alexnet", "vgg"]  # the study's order; rows without a workdir left out
    assert saved["rows"]["vgg"]["test_accuracy_gain_before_cut"] == pytest.approx(0.1)
    assert (tmp_path / "curves_seed1.png").stat().st_size > 10_000
    assert "vgg: lr below 0.2 x its peak at epoch 2.50; test accuracy +10.0 points" in capsys.readouterr().out


def test_curves_of_a_seed_without_workdirs_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["curves", "--seed", "7", "--workdir-root", str(tmp_path)])
    assert f"seed: no trained CNN row has a workdir for seed 7 under {tmp_path}" in capsys.readouterr().err
