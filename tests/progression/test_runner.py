"""`run` / `run --all` / `merge` on a fake row of instant runs (result files checked, files in place compared and
kept, under the same environment or reported as not comparable, seeds in range, an interrupted run's one line), and
the descriptor row end to end on toy images."""

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from cnnjax import backend, environment
from cnnjax.train import Interrupted
from experiments.progression import __main__ as cli
from experiments.progression import cnn, descriptor, merge, outputs, paths, runner
from experiments.progression.hog import HogSpec
from experiments.progression.rows import IMAGENET, Row, get_row
from experiments.progression.svm import SvmSpec

ERRORS = {0: 0.10, 1: 0.12, 2: 0.17}
FIELDS = {
    "year",
    "row",
    "model",
    "adaptation",
    "params",
    "macs",
    "test_error_mean",
    "test_error_std",
    "seeds",
    "per_seed_errors",
    "train_seconds_mean",
    "epochs",
}


def fake_rows():
    return {
        "fake": Row(
            name="fake", year=2012, model="a fake", kind="cnn", adaptation="none", imagenet=IMAGENET[2], settings=None
        ),
        "older": Row(
            name="older",
            year=2010,
            model="an older fake",
            kind="descriptor_svm",
            adaptation="none",
            imagenet=None,
            settings=None,
            seeds=(0,),
        ),
    }


@pytest.fixture
def calls():
    return []


@pytest.fixture
def runners(calls):
    def fake(row, seed, workdir, runlocal):
        calls.append((row.name, seed))
        workdir.mkdir(parents=True)  # fails if a done (row, seed) were run again into the same workdir
        return {"test_error": ERRORS[seed] + (0.2 if row.name == "older" else 0), "epochs": 3, "params": 10, "macs": 20}

    return {"cnn": fake, "descriptor_svm": fake}


def test_run_all_runs_what_is_missing_and_skips_what_is_done(tmp_path, runners, calls):
    dirs = {"workdir_root": tmp_path / "runs", "results_dir": tmp_path / "results", "runners": runners}
    rows = fake_rows()
    runner.run_all(rows, log=lambda _: None, **dirs)
    assert calls == [("fake", 0), ("fake", 1), ("fake", 2), ("older", 0)]
    result = json.loads(runner.result_path("fake", 1, tmp_path / "results").read_text())
    assert result["test_error"] == ERRORS[1] and result["seed"] == 1 and result["row"] == "fake"
    assert result["command"] == "python -m experiments.progression run --row fake --seed 1"
    assert {"train_seconds", "epochs", "params", "macs", "environment"} <= set(result)
    assert environment.reproducibility_differences(result["environment"], environment.fingerprint()) == []
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

    dirs = {
        "workdir_root": tmp_path / "runs",
        "results_dir": tmp_path / "results",
        "runners": {"cnn": flaky, "descriptor_svm": flaky},
    }
    row = fake_rows()["fake"]
    with pytest.raises(KeyboardInterrupt):
        runner.run_one(row, 0, **dirs)
    spent = json.loads((tmp_path / "runs" / "fake" / "seed0" / "runner_seconds.json").read_text())
    first = runner.run_one(row, 0, **dirs)
    assert (
        first["train_seconds"]
        == round(json.loads((tmp_path / "runs" / "fake" / "seed0" / "runner_seconds.json").read_text()), 1)
        and spent > 0
    )
    assert runner.run_one(row, 0, **dirs)["train_seconds"] == first["train_seconds"]
    with pytest.raises(
        outputs.Differs,
        match=r"seed0.json: differs from the recomputed one \(test_error: 0.1 in "
        r"the file, 0.2 recomputed\) under the same environment "
        r"\(cnnjax.environment.reproducibility_fields\); it is kept: add "
        r"--overwrite",
    ):
        runner.run_one(row, 0, **dirs)


def test_a_result_file_in_place_is_checked_and_kept_unless_overwrite(tmp_path, runners, calls):
    dirs = {"workdir_root": tmp_path / "runs", "results_dir": tmp_path / "results", "runners": runners}
    row = fake_rows()["fake"]
    runner.run_one(row, 1, **dirs)
    path = runner.result_path("fake", 1, tmp_path / "results")
    committed = path.read_text()
    shutil.rmtree(tmp_path / "runs")  # trained again from scratch: the same error
    lines = []
    assert runner.run_one(row, 1, log=lines.append, **dirs)["test_error"] == ERRORS[1]
    assert path.read_text() == committed
    assert lines == [f"fake seed 1: reproduces {path} bitwise (test_error {ERRORS[1]}); left as it is"]
    result = json.loads(committed)
    path.write_text(json.dumps({**result, "test_error": 0.5}))
    shutil.rmtree(tmp_path / "runs")
    with pytest.raises(outputs.Differs, match=r"test_error: 0.5 in the file, 0.12 recomputed"):
        runner.run_one(row, 1, **dirs)
    assert json.loads(path.read_text())["test_error"] == 0.5
    shutil.rmtree(tmp_path / "runs")
    assert runner.run_one(row, 1, overwrite=True, **dirs)["test_error"] == ERRORS[1]
    assert json.loads(path.read_text())["test_error"] == ERRORS[1]


def test_the_numbers_compared_leave_out_timings_and_how_the_run_went(tmp_path):
    outcomes = iter(
        [
            {"feature_seconds": 3.0, "resumed_from_checkpoint": False, "final_objective": 0.25},
            {"feature_seconds": 9.0, "resumed_from_checkpoint": True, "final_objective": 0.25},
            {"feature_seconds": 9.0, "resumed_from_checkpoint": True, "final_objective": 0.5},
        ]
    )

    def fake(row, seed, workdir, runlocal):
        workdir.mkdir(parents=True, exist_ok=True)
        return {"test_error": 0.1, "epochs": 3, "params": 10, "macs": 20, "details": next(outcomes)}

    dirs = {
        "workdir_root": tmp_path / "runs",
        "results_dir": tmp_path / "results",
        "runners": {"cnn": fake, "descriptor_svm": fake},
    }
    row = fake_rows()["fake"]
    runner.run_one(row, 0, **dirs)
    lines = []
    runner.run_one(row, 0, log=lines.append, **dirs)
    assert lines[0].startswith("fake seed 0: reproduces")
    with pytest.raises(outputs.Differs, match=r"details.final_objective: 0.25 in the file, 0.5 recomputed"):
        runner.run_one(row, 0, **dirs)


def recorded_elsewhere(path, fields):
    """The result file at `path` as if computed in another environment: its fingerprint with `fields` (a dict)
    replaced, or without one (None) and with the versions files without one record."""
    result = json.loads(path.read_text())
    if fields is None:
        result["versions"] = {"python": "3.12.1", "jax": "0.0.1", "git_commit": "0" * 40, "machine": "x86_64, 2 CPUs"}
        del result["environment"]
    else:
        result["environment"] |= fields
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path.read_bytes()


@pytest.mark.parametrize(
    "error, words",
    [
        (
            0.5,
            "not comparable: {field} differs; test_error 0.5 in the file, 0.12 recomputed; {path} is kept as it is "
            "(--overwrite replaces it)",
        ),
        (ERRORS[1], "reproduces {path} (test_error 0.12), although {field} differs; left as it is"),
    ],
)
def test_a_result_file_of_another_environment_is_reported_not_raised_and_kept(tmp_path, runners, error, words):
    dirs = {"workdir_root": tmp_path / "runs", "results_dir": tmp_path / "results", "runners": runners}
    row = fake_rows()["fake"]
    runner.run_one(row, 1, **dirs)
    path = runner.result_path("fake", 1, tmp_path / "results")
    edit(path, test_error=error)
    recorded = json.loads(path.read_text())["environment"]
    other = "avx2" if recorded["isa_class"] != "avx2" else "avx512"  # the suite runs "fast": the ISA class counts
    committed = recorded_elsewhere(path, {"isa_class": other})
    shutil.rmtree(tmp_path / "runs")
    lines = []
    assert runner.run_one(row, 1, log=lines.append, **dirs)["test_error"] == ERRORS[1]
    assert lines == ["fake seed 1: " + words.format(field=f"isa_class: {other} -> {recorded['isa_class']}", path=path)]
    assert path.read_bytes() == committed
    shutil.rmtree(tmp_path / "runs")
    runner.run_one(row, 1, overwrite=True, log=lines.append, **dirs)  # replaced: this environment's result
    assert (
        environment.reproducibility_differences(json.loads(path.read_text())["environment"], environment.fingerprint())
        == []
    )


def test_a_result_file_recorded_without_a_fingerprint_is_compared_loosely(tmp_path, runners):
    dirs = {"workdir_root": tmp_path / "runs", "results_dir": tmp_path / "results", "runners": runners}
    row = fake_rows()["fake"]
    runner.run_one(row, 1, **dirs)
    path = runner.result_path("fake", 1, tmp_path / "results")
    committed = recorded_elsewhere(path, None)
    shutil.rmtree(tmp_path / "runs")
    lines = []
    runner.run_one(row, 1, log=lines.append, **dirs)
    unknown = (
        f"{path} was recorded without a fingerprint (its CPU's ISA class and numerics profile are not known; "
        f"its recorded versions differ: jax: 0.0.1 -> {environment.fingerprint()['versions']['jax']})"
    )
    assert lines == [f"fake seed 1: reproduces {path} (test_error 0.12), although {unknown}; left as it is"]
    edit(path, test_error=0.5)
    committed = path.read_bytes()
    shutil.rmtree(tmp_path / "runs")
    runner.run_one(row, 1, log=lines.append, **dirs)
    assert lines[1] == (
        f"fake seed 1: not comparable: {unknown}; test_error 0.5 in the file, 0.12 recomputed; "
        "it is kept as it is (--overwrite replaces it)"
    )
    assert path.read_bytes() == committed


def test_a_result_whose_workdir_ran_in_more_than_one_environment_is_not_comparable(tmp_path):
    changes = ["resumed at step 40 under another environment (numerics.profile: fast -> xla)"]

    def fake(row, seed, workdir, runlocal):
        workdir.mkdir(parents=True, exist_ok=True)
        return {
            "test_error": 0.1 if seed == 0 and not fake.resumed else 0.3,
            "epochs": 3,
            "params": 10,
            "macs": 20,
            "environment_changes": changes if fake.resumed else [],
        }

    fake.resumed = False
    dirs = {
        "workdir_root": tmp_path / "runs",
        "results_dir": tmp_path / "results",
        "runners": {"cnn": fake, "descriptor_svm": fake},
    }
    row = fake_rows()["fake"]
    runner.run_one(row, 0, **dirs)
    path = runner.result_path("fake", 0, tmp_path / "results")
    assert "environment_changes" not in json.loads(path.read_text())
    fake.resumed, lines = True, []
    runner.run_one(row, 0, log=lines.append, **dirs)
    assert lines == [
        f"fake seed 0: not comparable: the recomputed result's workdir ran in more than one environment "
        f"({changes[0]}); test_error 0.1 in the file, 0.3 recomputed; {path} is kept as it is "
        "(--overwrite replaces it)"
    ]


@pytest.mark.parametrize(
    "seed, match",
    [
        (-1, r"seed: expected a seed in \[0, 2\*\*31\), got -1"),
        (2**31, r"seed: expected a seed in \[0, 2\*\*31\), got 2147483648"),
        (3, r"seed: expected one of row fake's seeds \[0, 1, 2\], got 3; add it to the row's seeds"),
    ],
)
def test_seeds_outside_the_rows_are_refused_before_running(tmp_path, runners, calls, seed, match):
    with pytest.raises(ValueError, match=match):
        runner.run_one(
            fake_rows()["fake"], seed, workdir_root=tmp_path / "runs", results_dir=tmp_path / "results", runners=runners
        )
    assert calls == [] and not (tmp_path / "results").exists()


def test_merge_writes_results_table_and_plot(tmp_path, runners):
    rows = fake_rows()
    runner.run_all(
        rows, workdir_root=tmp_path / "runs", results_dir=tmp_path / "results", runners=runners, log=lambda _: None
    )
    summaries = merge.merge(rows, tmp_path / "results", tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert saved == summaries
    assert [s["row"] for s in saved] == ["older", "fake"]  # by year
    fake = saved[1]
    assert set(fake) >= FIELDS
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


@pytest.fixture
def results(tmp_path, runners):
    """A results folder of every fake (row, seed)."""
    runner.run_all(
        fake_rows(),
        workdir_root=tmp_path / "runs",
        results_dir=tmp_path / "results",
        runners=runners,
        log=lambda _: None,
    )
    return tmp_path / "results"


def test_merge_of_no_result_files_is_an_error_naming_the_folder(tmp_path):
    with pytest.raises(
        ValueError,
        match=rf"results_dir: expected a folder of result files .* got "
        rf"'{tmp_path / 'typo'}', which is not a folder",
    ):
        merge.merge(fake_rows(), tmp_path / "typo", tmp_path / "out")
    (tmp_path / "empty" / "fake").mkdir(parents=True)
    (tmp_path / "empty" / "fake" / "validation_seed0.json").write_text("{}")  # not a result file
    with pytest.raises(
        ValueError,
        match=rf"results_dir: no result files \(<row>/seed<S>.json\) in "
        rf"{tmp_path / 'empty'}",
    ):
        merge.merge(fake_rows(), tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def edit(path, **changes):
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize(
    "change, match",
    [
        ({"test_error": 7.5}, r"test_error: expected a fraction in \[0, 1\] \(0.075 for 7.5%\), got 7.5"),
        ({"test_error": float("nan")}, r"test_error: expected a fraction in \[0, 1\] .*got nan"),
        ({"test_error": None}, r"test_error: expected a fraction in \[0, 1\] .*got None"),
        ({"params": -3}, r"params: expected a count >= 0, got -3"),
        ({"row": "older"}, r"row: expected 'fake' \(its folder\), got 'older'"),
        ({"seed": 2}, r"seed: expected 1 \(its file name\), got 2"),
    ],
)
def test_merge_refuses_a_result_file_out_of_range_or_incomplete(results, tmp_path, change, match):
    path = runner.result_path("fake", 1, results)
    edit(path, **change)
    with pytest.raises(ValueError, match=rf"{path}: {match}; correct the file, or move it away"):
        merge.merge(fake_rows(), results, tmp_path / "out")


def test_merge_refuses_a_result_file_without_its_fields_or_not_json(results, tmp_path):
    path = runner.result_path("fake", 0, results)
    result = json.loads(path.read_text())
    del result["macs"]
    path.write_text(json.dumps(result))
    with pytest.raises(ValueError, match=rf"{path}: macs: expected a count >= 0, got nothing"):
        merge.merge(fake_rows(), results, tmp_path / "out")
    path.write_text('{"row": ')
    with pytest.raises(ValueError, match=rf"{path}: not valid JSON"):
        merge.merge(fake_rows(), results, tmp_path / "out")


def test_merge_refuses_result_files_of_other_seeds_or_no_row(results, tmp_path):
    extra = results / "fake" / "seed7.json"
    shutil.copy(runner.result_path("fake", 0, results), extra)
    with pytest.raises(
        ValueError,
        match=rf"{extra}: expected seed<S>.json with S one of row fake's seeds "
        r"\[0, 1, 2\] \(experiments/progression/rows.py\); move it out of",
    ):
        merge.merge(fake_rows(), results, tmp_path / "out")
    extra.unlink()
    (results / "fak").mkdir()
    stray = results / "fak" / "seed0.json"
    shutil.copy(runner.result_path("fake", 0, results), stray)
    with pytest.raises(
        ValueError,
        match=rf"{stray}: a result file of no row \(the folder names the row: one of "
        r"\['fake', 'older'\]\)",
    ):
        merge.merge(fake_rows(), results, tmp_path / "out")


def test_merge_keeps_equal_files_and_replaces_differing_ones_only_with_overwrite(results, tmp_path):
    out = tmp_path / "out"
    lines = []
    merge.merge(fake_rows(), results, out, log=lines.append)
    written = {name: (out / name).read_bytes() for name in ("results.json", "results.md", "error_vs_year.png")}
    for name in written:
        os.utime(out / name, (0, 0))
    merge.merge(fake_rows(), results, out, log=lines.append)
    assert all((out / name).stat().st_mtime == 0 for name in written)  # not written again
    assert lines == [
        f"merge: wrote results.json, results.md, error_vs_year.png in {out}",
        f"merge: results.json, results.md and error_vs_year.png in {out} are up to date; nothing written",
    ]
    edit(runner.result_path("fake", 2, results), test_error=0.2)
    with pytest.raises(
        outputs.Differs,
        match=rf"{out / 'results.json'}: differs from the recomputed one "
        r"\(rows\[1\].test_error_mean: .*\); it is kept",
    ):
        merge.merge(fake_rows(), results, out)
    assert {name: (out / name).read_bytes() for name in written} == written
    merge.merge(fake_rows(), results, out, overwrite=True, log=lines.append)
    assert json.loads((out / "results.json").read_text())["rows"][1]["per_seed_errors"][2] == 0.2


def test_runlocal_results_stay_out_of_the_results_dir(tmp_path, runners):
    result = runner.run_one(
        fake_rows()["fake"],
        0,
        workdir_root=tmp_path / "runs",
        results_dir=tmp_path / "results",
        runlocal=True,
        runners=runners,
    )
    assert result["command"].endswith("--runlocal")
    assert not (tmp_path / "results").exists()
    assert runner.result_path("fake", 0, tmp_path / "runs-runlocal").exists()


def bars(n, seed):
    """Toy 28x28 images: class 0 vertical bars, class 1 horizontal bars, at random positions."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28, 1), np.uint8)
    labels = rng.integers(0, 2, n).astype(np.int32)
    for image, label, at in zip(images, labels, rng.integers(4, 20, n), strict=True):
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
    config = cnn.cnn_config(get_row("lenet5").settings, seed=2)
    assert config.seed == 2 and config.model == "lenet5"
    assert cnn.size(config) == (61_706, 416_520)  # LeNet-5's counts in docs/models.md's zoo table


def test_cli_list(capsys):
    cli.main(["list"])
    out = capsys.readouterr().out
    assert "hog_svm" in out and "28.2%" in out


def test_cli_merge_into_a_folder(tmp_path, capsys):
    cli.main(["merge", "--out-dir", str(tmp_path)])  # the committed result files
    assert [s["row"] for s in json.loads((tmp_path / "results.json").read_text())["rows"]][:2] == ["lenet5", "hog_svm"]
    assert f"merge: wrote results.json, results.md, error_vs_year.png in {tmp_path}" in capsys.readouterr().out


def test_cli_merge_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["merge", "--results-dir", str(tmp_path / "none"), "--out-dir", str(tmp_path)])
    assert info.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("python -m experiments.progression merge: error: results_dir: expected a folder")
    assert list(tmp_path.iterdir()) == []


def test_the_committed_merged_files_are_reproduced_from_the_committed_results(tmp_path):
    for name in ("results.json", "results.md"):
        shutil.copy(runner.PACKAGE_DIR / name, tmp_path / name)
    merge.merge(out_dir=tmp_path, log=lambda _: None)  # Differs if the committed files are not merge's output
    assert (tmp_path / "error_vs_year.png").exists()


@pytest.mark.parametrize(
    "error, status, words",
    [
        (
            Interrupted(signal.SIGINT, 12, runner.WORKDIR_ROOT / "lenet5" / "seed0"),
            130,
            "interrupted by SIGINT at step 12, checkpoint saved in {checkpoints}; resume with: python -m "
            "experiments.progression run --row lenet5 --seed 0",
        ),
        (Interrupted(signal.SIGTERM, 12, runner.WORKDIR_ROOT / "lenet5" / "seed0"), 143, "interrupted by SIGTERM"),
        (
            KeyboardInterrupt(),
            130,
            "interrupted (a CNN run resumes from its last checkpoint); run it again with: "
            "python -m experiments.progression run --row lenet5 --seed 0",
        ),
    ],
)
def test_an_interrupted_row_is_one_line_with_the_command_that_resumes_it(monkeypatch, capsys, error, status, words):
    def interrupted(row, seed, workdir, runlocal):
        raise error

    monkeypatch.setitem(runner.RUNNERS, "cnn", interrupted)
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--row", "lenet5", "--seed", "0", "--numerics", "fast"])  # the suite's profile
    assert info.value.code == status
    [line] = capsys.readouterr().err.splitlines()
    checkpoints = runner.WORKDIR_ROOT / "lenet5" / "seed0" / "checkpoints"
    assert line.startswith("python -m experiments.progression: ") and words.format(checkpoints=checkpoints) in line


def test_the_study_runs_from_any_folder_with_the_repository_on_the_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = cnn.cnn_config(get_row("lenet5").settings, seed=0)  # a path from the repository root
    assert config.model == "lenet5"
    assert runner.WORKDIR_ROOT == paths.REPO_ROOT / "runs" / "progression"
    assert paths.shown(runner.WORKDIR_ROOT / "lenet5" / "seed0") == "runs/progression/lenet5/seed0"
    env = {**os.environ, "PYTHONPATH": str(paths.REPO_ROOT)}
    listed = subprocess.run(
        [sys.executable, "-m", "experiments.progression", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "lenet5" in listed.stdout and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, environ, profile",
    [
        ([], {}, "portable"),
        ([], {backend.ENV_PROFILE: "fast"}, "fast"),
        (["--numerics", "xla"], {backend.ENV_PROFILE: "fast"}, "xla"),
    ],
)
def test_run_computes_under_the_portable_profile_unless_told_otherwise(
    monkeypatch, tmp_path, runners, argv, environ, profile
):
    configured = []
    monkeypatch.setattr(cli.backend, "configure", configured.append)
    monkeypatch.delenv(backend.ENV_PROFILE, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(runner.RUNNERS, "descriptor_svm", runners["descriptor_svm"])
    cli.main(
        [
            "run",
            "--row",
            "hog_svm",
            "--seed",
            "0",
            "--results-dir",
            str(tmp_path / "results"),
            "--workdir-root",
            str(tmp_path / "runs"),
            *argv,
        ]
    )
    assert configured == [profile]


def test_an_unknown_numerics_profile_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setenv(backend.ENV_PROFILE, "fastest")
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--row", "hog_svm", "--seed", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "CNNJAX_PROFILE: expected a profile of cnnjax.backend.PROFILES" in err and "got 'fastest'" in err


def test_run_on_a_committed_file_without_a_fingerprint_reports_both_and_exits_normally(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    shutil.copytree(runner.RESULTS_DIR / "alexnet", results / "alexnet")  # recorded without a fingerprint
    committed = (results / "alexnet" / "seed0.json").read_bytes()
    recorded = json.loads(committed)["test_error"]
    monkeypatch.setitem(
        runner.RUNNERS,
        "cnn",
        lambda row, seed, workdir, runlocal: {"test_error": recorded + 0.01, "epochs": 1, "params": 1, "macs": 1},
    )
    cli.main(
        [
            "run",
            "--row",
            "alexnet",
            "--seed",
            "0",
            "--results-dir",
            str(results),
            "--workdir-root",
            str(tmp_path / "runs"),
            "--numerics",
            "fast",
        ]
    )
    out = capsys.readouterr().out
    assert "alexnet seed 0: not comparable: " in out and "was recorded without a fingerprint" in out
    assert f"test_error {recorded} in the file, {recorded + 0.01} recomputed" in out
    assert (results / "alexnet" / "seed0.json").read_bytes() == committed
