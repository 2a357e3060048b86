"""cnnjax.repro.stats: each number is scipy's (called here directly with the same settings) or a hand-counted
value; the direction of a metric follows from its name."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from cnnjax.repro import stats

A = [0.9012, 0.9047, 0.8991, 0.9063, 0.9030]
B = [0.8950, 0.8987, 0.9001, 0.8942, 0.8979]


def scipy_interval(samples, statistic):
    result = scipy_stats.bootstrap(
        samples, statistic, n_resamples=9999, confidence_level=0.95, method="BCa", rng=np.random.default_rng(0)
    )
    return result.confidence_interval.low, result.confidence_interval.high


def test_summary_is_mean_sample_std_min_max_and_scipys_bootstrap_interval():
    summary = stats.summarize(A)
    assert summary.n == 5
    assert summary.mean == pytest.approx(sum(A) / 5, abs=1e-15)
    assert summary.std == pytest.approx(np.sqrt(sum((a - sum(A) / 5) ** 2 for a in A) / 4), rel=1e-12)
    assert (summary.min, summary.max) == (0.8991, 0.9063)
    assert summary.ci == scipy_interval((np.array(A),), lambda x, axis: np.mean(x, axis=axis))
    assert summary.min < summary.ci[0] < summary.mean < summary.ci[1] < summary.max


def test_summary_is_the_same_when_computed_again():
    assert stats.summarize(A) == stats.summarize(list(A))


def test_one_seed_has_no_std_and_no_interval_and_equal_values_no_interval():
    one = stats.summarize([0.5])
    assert (one.n, one.mean, one.std, one.ci, one.min, one.max) == (1, 0.5, None, None, 0.5, 0.5)
    same = stats.summarize([0.25, 0.25, 0.25])
    assert (same.std, same.ci) == (0.0, None)
    assert same.to_dict() == {"n": 3, "mean": 0.25, "std": 0.0, "ci95": None, "min": 0.25, "max": 0.25}


@pytest.mark.parametrize("values", [[], [0.1, float("nan")], [[0.1, 0.2]]])
def test_summary_refuses_empty_non_finite_or_nested_values(values):
    with pytest.raises(ValueError, match="values: expected"):
        stats.summarize(values)


def test_comparison_numbers_are_scipys():
    result = stats.compare(A, B, "test_accuracy")
    welch = scipy_stats.ttest_ind(A, B, equal_var=False)
    assert result.difference == pytest.approx(np.mean(A) - np.mean(B), abs=1e-15)
    assert (result.t, result.p_value) == (pytest.approx(welch.statistic), pytest.approx(welch.pvalue))
    assert result.difference_ci == scipy_interval(
        (np.array(A), np.array(B)), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis)
    )
    assert result.higher_is_better and result.a == stats.summarize(A) and result.b == stats.summarize(B)


def test_probability_that_a_beats_b_counts_pairs_with_ties_half():
    # a = 1 beats none of b, 2 beats 1.5 and ties 2, 3 beats all three: (0 + 1.5 + 3) / 9
    assert stats.compare([1.0, 2.0, 3.0], [2.0, 2.5, 1.5], "test_accuracy").p_a_better == pytest.approx(0.5)
    # every a above every b: A always wins when higher is better, never when lower is
    assert stats.compare([3.0, 4.0], [1.0, 2.0], "test_accuracy").p_a_better == 1.0
    assert stats.compare([3.0, 4.0], [1.0, 2.0], "test_loss").p_a_better == 0.0
    # of the 6 pairs, A is higher in 5 and ties in 1 (0.2, 0.2)
    assert stats.compare([0.2, 0.3, 0.4], [0.1, 0.2], "test_psnr").p_a_better == pytest.approx(5.5 / 6)
    assert stats.compare([0.2, 0.3, 0.4], [0.1, 0.2], "test_mse").p_a_better == pytest.approx(0.5 / 6)


def test_comparison_needs_two_seeds_in_each_study():
    with pytest.raises(ValueError, match=r"b: expected the values of 2 or more seeds to compare, got 1"):
        stats.compare(A, [0.9], "test_accuracy")


@pytest.mark.parametrize(
    "metric, higher",
    [
        ("test_accuracy", True),
        ("test_top5_accuracy", True),
        ("test_mean_iou", True),
        ("test_psnr", True),
        ("train_pixel_accuracy", True),
        ("test_loss", False),
        ("train_mse", False),
        ("validation_loss", False),
        ("test_error", False),
    ],
)
def test_direction_follows_the_metric_name(metric, higher):
    assert stats.higher_is_better(metric) is higher


@pytest.mark.parametrize("metric", ["test_f1", "accuracy_loss"])
def test_a_metric_without_a_clear_direction_is_refused(metric):
    with pytest.raises(ValueError, match=rf"metric: expected a name holding one of .*got '{metric}'"):
        stats.higher_is_better(metric)
