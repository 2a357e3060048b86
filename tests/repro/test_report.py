"""cnnjax.repro.report: the report files of a study (numbers from the seeds' runs, the same when written again, a
figure of the curves) and the comparison of two reports."""

import json

import numpy as np
import pytest
from PIL import Image

from cnnjax.repro import report as reportlib
from cnnjax.repro import stats
from cnnjax.repro import study as studylib

from .helpers import ENVIRONMENT, RUNLOCAL, fake_run

FINAL = {0: 0.81, 1: 0.84, 2: 0.80, 3: 0.83}


def make_study(folder, accuracies=FINAL, environments=None, overrides=()):
    study = studylib.open_study(RUNLOCAL, list(accuracies), overrides=list(overrides), folder=folder)
    runs = {}
    for seed, accuracy in accuracies.items():
        env = (environments or {}).get(seed)
        curve = [accuracy - 0.1, accuracy - 0.02, accuracy]
        losses = [2.0 - 0.1 * i - 0.01 * seed for i in range(6)]
        runs[seed] = studylib.read_run(fake_run(study.workdir(seed), {"test_accuracy": accuracy}, curve, losses, env))
    return study, runs


def test_report_files_hold_the_seeds_numbers_and_scipys_summary(tmp_path):
    study, runs = make_study(tmp_path / "s")
    report = reportlib.write_report(study, runs, [], "cnnjax repro X --seeds 0-3")
    written = json.loads((tmp_path / "s" / "report.json").read_text())
    assert written == report
    assert report["main_metric"] == "test_accuracy" and report["higher_is_better"]
    assert {seed: row["test_accuracy"] for seed, row in report["per_seed"].items()} == {
        str(seed): value for seed, value in FINAL.items()
    }
    assert report["summary"]["test_accuracy"] == stats.summarize(list(FINAL.values())).to_dict()
    assert list(report["summary"]) == ["test_accuracy", "test_loss", "train_accuracy", "train_loss"]
    assert report["summary"]["train_loss"]["mean"] == pytest.approx(1.5 - 0.015)
    assert report["environment"] == ENVIRONMENT and report["environment_differences"] == {}
    assert report["bootstrap"]["rng"] == "numpy.random.default_rng(0)"
    assert report["per_seed"]["2"]["command"] == (
        f"cnnjax train --config {RUNLOCAL} --numerics portable --seed 2 --workdir {study.workdir(2)}"
    )
    summary = report["summary"]["test_accuracy"]
    markdown = (tmp_path / "s" / "report.md").read_text()
    assert (
        f"**test_accuracy** (higher is better): {summary['mean']:.4f} ± {summary['std']:.4f} (mean ± sample std), "
        f"95% bootstrap confidence interval of the mean [{summary['ci95'][0]:.4f}, {summary['ci95'][1]:.4f}], "
        "min 0.8000, max 0.8400."
    ) in markdown
    assert "| 1 | 0.8400 | 0.1600 | 0.5000 | 1.4900 | 6 | 12.5 |" in markdown
    assert "Every seed's run agrees with it in the fields that decide the bits." in markdown


def test_report_is_the_same_when_written_again(tmp_path):
    study, runs = make_study(tmp_path / "s")
    reportlib.write_report(study, runs, [], "cnnjax repro X")
    first = (tmp_path / "s" / "report.json").read_text(), (tmp_path / "s" / "report.md").read_text()
    reportlib.write_report(study, runs, [], "cnnjax repro X")
    assert ((tmp_path / "s" / "report.json").read_text(), (tmp_path / "s" / "report.md").read_text()) == first


def test_figure_shows_each_seeds_curves_their_mean_and_band(tmp_path):
    study, runs = make_study(tmp_path / "s")
    figure = reportlib.curves_figure(study, runs)
    accuracy, loss = figure.axes
    assert (accuracy.get_ylabel(), loss.get_ylabel()) == ("test_accuracy", "train_loss")
    labels = [line.get_label() for line in accuracy.get_lines()]
    assert labels == ["seed 0", "seed 1", "seed 2", "seed 3", "mean"]
    mean = accuracy.get_lines()[-1]
    np.testing.assert_allclose(mean.get_xdata(), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(mean.get_ydata(), np.mean([[a - 0.1, a - 0.02, a] for a in FINAL.values()], axis=0))
    assert [c.get_label() for c in accuracy.collections] == ["mean ± 1 std"]
    reportlib.write_report(study, runs, [], "cnnjax repro X")
    pixels = np.asarray(Image.open(tmp_path / "s" / "curves.png").convert("L"), np.float32) / 255
    assert pixels.shape == (400, 1100) and pixels.std() > 0.05


def test_report_names_seeds_run_in_another_environment(tmp_path):
    moved = {**ENVIRONMENT, "devices": {"cpu": 8}}
    study, runs = make_study(tmp_path / "s", environments={3: moved})
    report = reportlib.write_report(study, runs, [], "cnnjax repro X")
    assert report["environment_differences"] == {"seed 3": ["devices.cpu: 1 -> 8"]}
    assert "seed 3: devices.cpu: 1 -> 8" in (tmp_path / "s" / "report.md").read_text()


@pytest.fixture
def two_reports(tmp_path):
    a = reportlib.write_report(*make_study(tmp_path / "a"), [], "cnnjax repro A")
    b_values = {0: 0.78, 1: 0.80, 2: 0.79}
    b = reportlib.write_report(
        *make_study(tmp_path / "b", b_values, overrides=["--config.optimizer.lr=0.01"]), [], "cnnjax repro B"
    )
    return reportlib.read_report(tmp_path / "a"), reportlib.read_report(tmp_path / "b"), a, b


def test_comparison_of_two_reports_is_scipys_on_their_seeds(two_reports, tmp_path):
    a, b, _, _ = two_reports
    result = reportlib.compare_reports(a, b)
    expected = stats.compare(list(FINAL.values()), [0.78, 0.80, 0.79], "test_accuracy").to_dict()
    assert {k: result[k] for k in expected} == json.loads(json.dumps(expected))
    assert result["studies"]["b"]["overrides"] == ["--config.optimizer.lr=0.01"]
    assert result["studies"]["a"]["folder"] == str(tmp_path / "a")  # the folder each report names
    moved = reportlib.compare_reports(a, b, folders=("committed/a", "committed/b"))
    assert [moved["studies"][k]["folder"] for k in "ab"] == ["committed/a", "committed/b"]
    assert result["environment_differences"] == []
    # each of A's 4 values beats each of B's 3, except 0.80 (A) against 0.80 (B): a tie
    assert result["p_a_better"] == pytest.approx(11.5 / 12)
    table = reportlib.compare_table(result)
    assert table.splitlines()[0] == "metric: test_accuracy (higher is better)"
    assert f"A - B: {result['difference']:+.4g}, 95% bootstrap CI" in table
    assert "P(A beats B on a random pair of seeds): 0.958 (ties count half)" in table
    json_path, md_path = reportlib.write_compare(result, tmp_path / "cmp", "cnnjax repro compare a b")
    assert json.loads(json_path.read_text()) == result and table in md_path.read_text()


def test_comparison_on_another_metric_and_a_missing_one(two_reports):
    a, b, _, _ = two_reports
    result = reportlib.compare_reports(a, b, "test_loss")
    assert result["metric"] == "test_loss" and not result["higher_is_better"]
    with pytest.raises(
        ValueError,
        match=r"--metric: expected a metric of both studies \(test_accuracy, test_loss, "
        r"train_accuracy, train_loss in study A, .*got 'test_mse'",
    ):
        reportlib.compare_reports(a, b, "test_mse")


def test_a_folder_without_a_report_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"study: expected a study folder with a report.json .*got '.*nothing'"):
        reportlib.read_report(tmp_path / "nothing")
    (tmp_path / "report.json").write_text("{")
    with pytest.raises(ValueError, match=r"report.json: not valid JSON"):
        reportlib.read_report(tmp_path)


def test_a_diverged_seed_leaves_its_metric_without_statistics_not_the_report(tmp_path):
    study = studylib.open_study(RUNLOCAL, [0, 1], folder=tmp_path / "s")
    runs = {
        seed: studylib.read_run(fake_run(study.workdir(seed), {"test_loss": loss}, [0.5, 0.5, 0.5], [2.0] * 6))
        for seed, loss in ((0, 1.2), (1, float("nan")))
    }
    report = reportlib.write_report(study, runs, [], "cnnjax repro X")
    assert report["summary"]["test_loss"] == {
        "n": 2,
        "mean": None,
        "std": None,
        "ci95": None,
        "min": None,
        "max": None,
        "not_finite": 1,
    }
    assert report["per_seed"]["1"]["test_loss"] is None and report["summary"]["test_accuracy"]["mean"] == 0.5
    assert "| test_loss (lower) | n/a | n/a | n/a | n/a | n/a |" in (tmp_path / "s" / "report.md").read_text()
