"""cnnjax.repro.checks: bit-for-bit and relative comparisons of variables, the tolerances of the devices and
processes checks (from the seeds' spread), and the outcomes they give; checks a study cannot run are refused."""

import numpy as np
import pytest

from cnnjax.repro import checks
from cnnjax.repro import study as studylib

from .helpers import RUNLOCAL, fake_run


def variables(**arrays):
    return {name: np.asarray(value, dtype=np.float32) for name, value in arrays.items()}


def test_bitwise_differences_name_variables_that_differ_in_any_bit_shape_or_dtype():
    a = variables(w=[1.0, 2.0], b=[0.0], c=[3.0])
    b = {
        **a,
        "w": np.array([1.0, np.nextafter(np.float32(2.0), np.float32(3.0))], np.float32),
        "b": np.array([-0.0], np.float32),
        "c": np.array([3.0], np.float64),
        "d": np.zeros(1, np.float32),
    }
    assert checks.bitwise_differences(a, a) == []
    assert checks.bitwise_differences(a, b) == ["b", "c", "d", "w"]  # -0.0 differs from 0.0 in its bits


def test_relative_difference_is_per_variable_against_its_scale():
    a = variables(big=[100.0, -200.0], small=[0.01, 0.02])
    b = variables(big=[100.0, -199.0], small=[0.01, 0.021])
    # big: 1 / |(100, -200)|; small: 0.001 / |(0.01, 0.02)|: the small variable's own scale makes it the larger
    assert checks.relative_difference(b, a) == (pytest.approx(0.001 / np.hypot(0.01, 0.02)), "small")
    assert checks.relative_difference(a, a) == (0.0, "")
    with pytest.raises(ValueError, match=r"variables: expected the same variables in both runs, got \['x'\]"):
        checks.relative_difference(a, {**a, "x": np.zeros(1)})


def test_tolerances_are_the_nearest_other_seed_and_four_stds_of_the_seeds():
    values = {"test_accuracy": [0.90, 0.91, 0.92], "test_loss": [0.3, 0.3, 0.3]}
    limits = checks.tolerances({1: 0.8, 2: 0.6}, values, {"test_accuracy": 0.90, "test_loss": 0.3})
    assert (limits.parameters, limits.nearest_seed) == (0.6, 2)
    assert limits.metrics["test_accuracy"] == pytest.approx(4 * 0.01)
    assert limits.metrics["test_loss"] == pytest.approx(1e-4 * 0.3)  # no spread: the rounding tolerance
    # parameters nearer than rounding: the rounding tolerance
    assert checks.tolerances({1: 1e-6}, values, {}).parameters == checks.ROUNDING_RTOL


def tolerance_outcome(tmp_path, other_accuracy, other_w):
    reference = studylib.read_run(fake_run(tmp_path / "a", {"test_accuracy": 0.90}, [0.90], [1.0, 0.9]))
    other = studylib.read_run(fake_run(tmp_path / "b", {"test_accuracy": other_accuracy}, [0.9], [1.0, 0.9]))
    limits = checks.Tolerances(parameters=0.5, nearest_seed=1, metrics={"test_accuracy": 0.01})
    return checks.tolerance_result(reference, other, variables(w=[1.0, 2.0]), variables(w=other_w), limits)


def test_device_check_passes_within_both_tolerances_and_reports_the_largest_differences(tmp_path):
    outcome = tolerance_outcome(tmp_path, 0.905, [1.0, 2.5])
    assert outcome["passed"]
    assert outcome["parameter_relative_difference"] == pytest.approx(0.5 / np.sqrt(5))
    assert outcome["parameter_where"] == "w"
    assert outcome["metric_largest_where"] == "test_accuracy"
    assert outcome["metric_largest_relative_difference"] == pytest.approx(0.005 / 0.9)
    assert outcome["metrics"]["test_accuracy"]["within"]


@pytest.mark.parametrize("accuracy, w", [(0.92, [1.0, 2.5]), (0.905, [1.0, 3.5])])
def test_device_check_fails_beyond_either_tolerance(tmp_path, accuracy, w):
    assert not tolerance_outcome(tmp_path, accuracy, w)["passed"]


def test_rerun_check_requires_equal_variables_metrics_and_records(tmp_path):
    reference = studylib.read_run(fake_run(tmp_path / "a", {"test_accuracy": 0.9}, [0.9, 0.9], [1.0, 0.9, 0.8, 0.7]))
    same = studylib.read_run(fake_run(tmp_path / "b", {"test_accuracy": 0.9}, [0.9, 0.9], [1.0, 0.9, 0.8, 0.7]))
    other = studylib.read_run(fake_run(tmp_path / "c", {"test_accuracy": 0.9}, [0.9, 0.9], [1.0, 0.9, 0.8, 0.6]))
    w = variables(w=[1.0])
    passed = checks.rerun_result(reference, same, w, dict(w))
    assert passed["passed"] and passed["records_compared"] == 4 and passed["environment_differences"] == []
    failed = checks.rerun_result(reference, other, w, variables(w=[1.0 + 1e-7]))
    assert not failed["passed"]
    assert failed["variables_differing"] == ["w"] and failed["records_differing"] == 1
    assert failed["metrics_differing"] == {"train_loss": [0.7, 0.6]}


def test_rerun_check_names_the_environment_fields_that_differ(tmp_path):
    reference = studylib.read_run(fake_run(tmp_path / "a", {"test_accuracy": 0.9}, [0.9], [1.0, 0.9]))
    moved = dict(reference.environment, versions={"python": "3.12.1", "jax": "0.12.1"})
    rerun = studylib.read_run(fake_run(tmp_path / "b", {"test_accuracy": 0.9}, [0.9], [1.0, 0.9], moved))
    assert checks.environment_differences(reference, rerun) == ["versions.jax: 0.12.0 -> 0.12.1"]


@pytest.mark.parametrize(
    "seeds, check, overrides, message",
    [
        ([0], "devices:8", [], r"--check devices:8: expected 2 or more seeds .*got --seeds with 1"),
        (
            [0, 1],
            "devices:3",
            [],
            r"--check devices:3: config.batch_size: expected a multiple of the device count 3 "
            r".*got 128: 42.6667 examples per device; 126 or 129 would give 42 or 43 per device; set "
            r"--config.batch_size to one",
        ),
        (
            [0, 1],
            "processes:2",
            ["--config.eval_batch_size=999"],
            r"--check processes:2: config.eval_batch_size: expected a multiple .*got 999",
        ),
    ],
)
def test_checks_the_study_cannot_run_are_refused_before_training(tmp_path, seeds, check, overrides, message):
    study = studylib.open_study(RUNLOCAL, seeds, overrides=overrides, folder=tmp_path / "s")
    with pytest.raises(ValueError, match=message):
        checks.check_checks(study, studylib.parse_checks([check]))
    checks.check_checks(study, studylib.parse_checks(["rerun"]))
