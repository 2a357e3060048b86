"""`run` / `run --all` / `merge` on a fake row of instant runs, and the descriptor row end to end on toy images."""

import json
import shutil

import numpy as np
import pytest

from experiments.progression import descriptor, merge, runner
from experiments.progression import __main__ as cli
from experiments.progression.hog import HogSpec
from experiments.progression.rows import IMAGENET, ROWS, Row, get_row
from experiments.progression.svm import SvmSpec

ERRORS = {0: 0.10, 1: 0.12, 2: 0.17}
FIELDS = {"year", "row", "model", "adaptation", "params", "macs", "test_error_mean", "test_error_std", "seeds",
          "per_seed_errors", "train_seconds_mean", "epochs"}


def fake_rows():
    return {
        "fake": Row(name="fake", year=2012, model="a fake", kind="cnn", adaptation="none", imagenet=IMAGENET[2],
                    settings=None),
        "older": Row(name="older", year=2010, model="an older fake", kind="descriptor_svm", adaptation="none",
                     imagenet=None, settings=None, seeds=(0,)),
    }


@pytest.fixture
def calls():
    return []


@pytest.fixture
def runners(calls):
    def fake(row, seed, workdir, runlocal):
        calls.append((row.name, seed))
        workdir.mkdir(parents=True)  # fails if a done (row, seed) were run again into the same workdir
        return {"test_error": ERRORS[seed] + (0.2 if row.name == "older" else 0), "epochs": 3, "params": 10,
                "macs": 20}

    return {"cnn": fake, "descriptor_svm": fake}


def test_run_all_runs_what_is_missing_and_skips_what_is_done(tmp_path, runners, calls):
    dirs = {"workdir_root": tmp_path / "runs", "results_dir": tmp_path / "results", "runners": runners}
    rows = fake_rows()
    runner.run_all(rows, log=lambda _: None, **dirs)
    assert calls == [("fake", 0), ("fake", 1), ("fake", 2), ("older", 0)]
    result = json.loads(runner.result_path("fake", 1, tmp_path / "results").read_text())
    assert result["test_error"] == ERRORS[1] and result["seed"] == 1 and result["row"] == "fake"
    assert result["command"] == "python -m experiments.progression run --row fake --seed 1"
    assert {"train_seconds", "epochs", "params", "macs", "versions"} <= set(result)
    assert result["workdir"] == str(tmp_path / "runs" / "fake" / "seed1")

    calls.clear()
    assert runner.run_all(rows, log=lambda _: None, **dirs) == []
    assert calls == []

    runner.result_path("fake", 2, tmp_path / "results").unlink()
    shutil.rmtree(tmp_path / "runs" / "fake" / "seed2")
    runner.run_all(rows, log=lambda _: None, **dirs)
    assert calls == [("fake", 2)]


def test_train_seconds_add_up_over_interrupted_invocations_and_a_rerun_keeps_them(tmp_path):
    # An interrupted invocation's seconds count; running a finished (row, seed) again re-evaluates: it must give the
    # same error, and its seconds are not training.
    attempts = []

    def flaky(row, seed, workdir, runlocal):
        workdir.mkdir(parents=True, exist_ok=True)
        attempts.append(seed)
        if len(attempts) == 1:
            raise KeyboardInterrupt
        return {"test_error": 0.1 if len(attempts) < 4 else 0.2, "epochs": 3, "params": 10, "macs": 20}

    dirs = {"workdir_root": tmp_path / "runs", "results_dir": tmp_path / "results",
            "runners": {"cnn": flaky, "descriptor_svm": flaky}}
    row = fake_rows()["fake"]
    with pytest.raises(KeyboardInterrupt):
        runner.run_one(row, 0, **dirs)
    spent = json.loads((tmp_path / "runs" / "fake" / "seed0" / "runner_seconds.json").read_text())
    first = runner.run_one(row, 0, **dirs)
    assert first["train_seconds"] == round(json.loads(
        (tmp_path / "runs" / "fake" / "seed0" / "runner_seconds.json").read_text()), 1) and spent > 0
    assert runner.run_one(row, 0, **dirs)["train_seconds"] == first["train_seconds"]
    with pytest.raises(RuntimeError, match="running it again gave test error 0.2"):
        runner.run_one(row, 0, **dirs)


def test_merge_writes_results_table_and_plot(tmp_path, runners):
    rows = fake_rows()
    runner.run_all(rows, workdir_root=tmp_path / "runs", results_dir=tmp_path / "results", runners=runners,
                   log=lambda _: None)
    summaries = merge.merge(rows, tmp_path / "results", tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert saved == summaries
    assert [s["row"] for s in saved] == ["older", "fake"]  # by year
    fake = saved[1]
    assert FIELDS <= set(fake)
    errors = [ERRORS[s] for s in (0, 1, 2)]
    assert fake["per_seed_errors"] == errors and fake["seeds"] == [0, 1, 2]
    assert fake["test_error_mean"] == pytest.approx(np.mean(errors))
    assert fake["test_error_std"] == pytest.approx(np.std(errors, ddof=1))
    assert saved[0]["test_error_std"] == 0.0 and saved[0]["seeds"] == [0]
    assert fake["imagenet_top5_error"] == IMAGENET[2].top5_error and fake["epochs"] == 3
    table = (tmp_path / "results.md").read_text()
    assert "| 2012 | `fake` |" in table
    assert f"{100 * np.mean(errors):.2f} ± {100 * np.std(errors, ddof=1):.2f}" in table
    png = (tmp_path / "error_vs_year.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_merge_of_nothing_still_writes_the_imagenet_panel(tmp_path):
    assert merge.merge(fake_rows(), tmp_path / "results", tmp_path) == []
    assert (tmp_path / "error_vs_year.png").stat().st_size > 0


def test_runlocal_results_stay_out_of_the_results_dir(tmp_path, runners):
    result = runner.run_one(fake_rows()["fake"], 0, workdir_root=tmp_path / "runs", results_dir=tmp_path / "results",
                            runlocal=True, runners=runners)
    assert result["command"].endswith("--runlocal")
    assert not (tmp_path / "results").exists()
    assert runner.result_path("fake", 0, tmp_path / "runs-runlocal").exists()


def bars(n, seed):
    """Toy 28x28 images: class 0 vertical bars, class 1 horizontal bars, at random positions."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28, 1), np.uint8)
    labels = rng.integers(0, 2, n).astype(np.int32)
    for image, label, at in zip(images, labels, rng.integers(4, 20, n)):
        if label == 0:
            image[4:24, at : at + 4] = 255
        else:
            image[at : at + 4, 4:24] = 255
    return images, labels


def test_descriptor_row_fits_and_tunes_on_toy_images(tmp_path):
    images, labels = bars(120, 0)  # 80 to fit + 40 to validate (the same shapes as `run` below: one compilation)
    test_images, test_labels = bars(40, 1)
    settings = descriptor.DescriptorSettings(HogSpec(cells=(7,), orientations=4), SvmSpec(C=1.0, epochs=5, lr=0.05))
    outcome = descriptor.run(settings, 0, tmp_path, images[:80], labels[:80], test_images, test_labels)
    assert outcome["test_error"] == 0.0
    assert outcome["params"] == settings.hog.dim(28, 28) * 10 + 10 == 3 * 3 * 4 * 4 * 10 + 10
    assert (tmp_path / "classifier.npz").exists()

    grid = {"hog": (HogSpec(cells=(7,), orientations=4), HogSpec(cells=(14,), orientations=2)), "C": (1.0, 2.0)}
    kwargs = {"svm": SvmSpec(epochs=5, lr=0.05), "refine": (0.5, 1.0), "validation_size": 40}
    tuned = descriptor.tune(images, labels, grid, log=lambda _: None, **kwargs)
    assert [r["stage"] for r in tuned["grid"]] == [1, 1, 1, 1, 2]  # refine 1.0 repeats a stage-1 C: skipped
    stage1_best = min(tuned["grid"][:4], key=lambda r: r["val_error"])
    assert tuned["grid"][4]["hog"] == stage1_best["hog"]
    assert tuned["grid"][4]["svm"]["C"] == stage1_best["svm"]["C"] / 2
    assert tuned["split"]["validation"].startswith("training images [80, 120)")
    assert tuned["best"]["val_error"] == min(r["val_error"] for r in tuned["grid"])
    assert descriptor.settings_from_record(tuned["best"]).hog in grid["hog"]

    lines, saved = [], json.loads(json.dumps(tuned))  # a rerun on the same split and seed reuses every record
    again = descriptor.tune(images, labels, grid, previous=saved, log=lines.append, **kwargs)
    assert json.loads(json.dumps(again)) == saved
    assert len(lines) == 5 and all(line.endswith("(reused)") for line in lines)


def test_descriptor_row_uses_the_committed_tuning_choice():
    path = runner.RESULTS_DIR / "hog_svm" / "tune.json"
    if not path.exists():
        pytest.skip("no committed tuning of hog_svm")
    best = json.loads(path.read_text())["best"]
    assert get_row("hog_svm").settings == descriptor.settings_from_record(best)


def test_lenet5_row_config_and_size():
    from experiments.progression import cnn

    config = cnn.cnn_config(get_row("lenet5").settings, seed=2)
    assert config.seed == 2 and config.model == "lenet5"
    assert cnn.size(config) == (61_706, 416_520)  # LeNet-5's counts in docs/models.md's zoo table


def test_cli_list(capsys):
    cli.main(["list"])
    out = capsys.readouterr().out
    assert "hog_svm" in out and "28.2%" in out


def test_cli_merge_into_a_folder(tmp_path, capsys):
    cli.main(["merge", "--results-dir", str(tmp_path / "none"), "--out-dir", str(tmp_path)])
    assert json.loads((tmp_path / "results.json").read_text()) == {"rows": []}
    assert "merge: wrote" in capsys.readouterr().out
