"""`curves`: a run's evaluations and the two numbers behind the study's findings, on synthetic metrics.jsonl records
(no training), and the command's JSON and figure from workdirs that hold only config.json and metrics.jsonl."""

import json

import pytest

from experiments.progression import __main__ as cli
from experiments.progression import cnn, curves, outputs
from experiments.progression.rows import get_row


def records(lrs, test_accuracies, steps_per_epoch=10):
    """Training records every 5 steps at the given per-epoch learning rates, an evaluation at each epoch's end."""
    out = []
    for epoch, (lr, test) in enumerate(zip(lrs, test_accuracies, strict=True)):
        for k in (5, 10):
            step = epoch * steps_per_epoch + k
            out.append(
                {
                    "step": step,
                    "epoch": step / steps_per_epoch,
                    "learning_rate": lr,
                    "train_loss": 1.0,
                    "train_accuracy": 0.5 + 0.1 * epoch + 0.01 * k,
                }
            )
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
        curves.describe(
            [{"step": 5, "epoch": 0.5, "learning_rate": 0.1}, {"step": 10, "epoch": 1.0, "learning_rate": 0.1}]
        )


def workdir(root, name, seed, epochs=3, planned=3):
    """A row's workdir holding config.json (planned epochs) and metrics.jsonl (records of `epochs` epochs)."""
    folder = root / name / f"seed{seed}"
    folder.mkdir(parents=True)
    config = cnn.cnn_config(get_row(name).settings, seed)
    config.num_epochs, config.num_steps = planned, 0
    (folder / "config.json").write_text(config.to_json())
    lrs, accuracies = [0.01, 0.01, 0.001, 0.001][:epochs], [0.6, 0.7, 0.75, 0.76][:epochs]
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records(lrs, accuracies)) + "\n")
    return folder


def test_curves_command_writes_json_and_figure(tmp_path, capsys):
    for name in ("alexnet", "vgg"):  # two rows' workdirs: config.json and metrics.jsonl only
        workdir(tmp_path / "runs", name, 1)
    cli.main(["curves", "--seed", "1", "--workdir-root", str(tmp_path / "runs"), "--out-dir", str(tmp_path)])
    saved = json.loads((tmp_path / "curves_seed1.json").read_text())
    assert saved["command"] == "python -m experiments.progression curves --seed 1"
    assert list(saved["rows"]) == ["alexnet", "vgg"]  # the study's order; rows without a workdir left out
    assert saved["rows"]["vgg"]["test_accuracy_gain_before_cut"] == pytest.approx(0.1)
    assert (tmp_path / "curves_seed1.png").stat().st_size > 10_000
    assert saved["rows"]["vgg"]["test_accuracy_final"] == 0.75 and "unfinished" not in saved["rows"]["vgg"]
    out = capsys.readouterr().out
    assert "vgg: lr below 0.2 x its peak at epoch 2.50; test accuracy +10.0 points" in out
    assert out.rstrip().endswith(", test 0.750") and "curves: wrote curves_seed1.json and curves_seed1.png" in out


def test_an_unfinished_run_has_no_final_accuracy_and_says_how_to_resume(tmp_path, capsys):
    workdir(tmp_path / "runs", "alexnet", 0, epochs=2, planned=4)
    described = curves.curves(0, workdir_root=tmp_path / "runs", out_dir=tmp_path, log=lambda _: None)["alexnet"]
    assert described["test_accuracy_final"] is None
    assert described["unfinished"] == {"last_step": 20, "planned_steps": 40}
    line = curves.summary_line("alexnet", described, "RESUME")
    assert line.endswith("; UNFINISHED: its records end at step 20 of 40, test 0.700 there (resume: RESUME)")


def test_curves_in_place_are_kept_when_equal_and_refused_when_different(tmp_path):
    folder = workdir(tmp_path / "runs", "vgg", 2)
    lines = []
    curves.curves(2, workdir_root=tmp_path / "runs", out_dir=tmp_path, log=lines.append)
    curves.curves(2, workdir_root=tmp_path / "runs", out_dir=tmp_path, log=lines.append)
    assert lines[1] == f"curves: curves_seed2.json and curves_seed2.png in {tmp_path} are up to date; nothing written"
    (folder / "metrics.jsonl").write_text((folder / "metrics.jsonl").read_text().replace("0.75", "0.74"))
    with pytest.raises(outputs.Differs, match=r"curves_seed2.json: differs from the recomputed one \(rows.vgg"):
        curves.curves(2, workdir_root=tmp_path / "runs", out_dir=tmp_path)
    curves.curves(2, workdir_root=tmp_path / "runs", out_dir=tmp_path, overwrite=True, log=lambda _: None)
    assert json.loads((tmp_path / "curves_seed2.json").read_text())["rows"]["vgg"]["test_accuracy_final"] == 0.74


def test_curves_of_a_seed_without_workdirs_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["curves", "--seed", "7", "--workdir-root", str(tmp_path)])
    assert f"seed: no trained CNN row has a workdir for seed 7 under {tmp_path}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["curves", "--seed", "-1", "--workdir-root", str(tmp_path)])
    assert "seed: expected a seed in [0, 2**31), got -1" in capsys.readouterr().err


def test_a_run_interrupted_before_its_first_evaluation_is_named_with_the_command_that_resumes_it(tmp_path):
    folder = workdir(tmp_path / "runs", "alexnet", 0)
    first = (folder / "metrics.jsonl").read_text().splitlines()[0]
    (folder / "metrics.jsonl").write_text(json.dumps({k: v for k, v in json.loads(first).items() if "test" not in k}))
    with pytest.raises(ValueError, match=r"row alexnet seed 0 \(.*\): records: .* resume it with `python -m "):
        curves.curves(0, workdir_root=tmp_path / "runs", out_dir=tmp_path, log=lambda _: None)
