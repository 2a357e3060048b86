"""The statistics of a reproducibility study, all computed by scipy: the summary of one metric over seeds
(`summarize`: mean, sample std, a bootstrap confidence interval of the mean, min, max) and the comparison of two
studies (`compare`: the difference of means with its bootstrap interval, Welch's t-test, and the probability that A
beats B on a random pair of seeds).

The bootstrap draws from a generator seeded with BOOTSTRAP_SEED, so a report computed twice from the same numbers
gives the same interval. With 5 seeds a bootstrap interval is rough (it cannot be wider than what 5 values show,
and BCa corrects only part of that): it says how much the seeds disagree, not more.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
N_RESAMPLES = 9999  # scipy's default
BOOTSTRAP_METHOD = "BCa"  # scipy's default: bias-corrected and accelerated
BOOTSTRAP_SEED = 0

# Metric names (after the train_ / test_ / validation_ prefix) by direction; a metric names one of these words.
HIGHER_IS_BETTER = ("accuracy", "iou", "psnr")
LOWER_IS_BETTER = ("loss", "mse", "error")


def bootstrap_settings() -> dict[str, object]:
    """How the intervals are computed, as a report records it."""
    return {
        "function": "scipy.stats.bootstrap",
        "method": BOOTSTRAP_METHOD,
        "n_resamples": N_RESAMPLES,
        "confidence_level": CONFIDENCE,
        "rng": f"numpy.random.default_rng({BOOTSTRAP_SEED})",
    }


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` is better: accuracy, iou and psnr metrics are, loss, mse and error metrics
    are not (e.g. 'test_accuracy', 'test_mean_iou' -> True; 'test_loss', 'train_mse' -> False).

    Raises:
      ValueError: the name holds none of those words, or words of both directions.
    """
    name = metric.lower()
    higher = [w for w in HIGHER_IS_BETTER if w in name]
    lower = [w for w in LOWER_IS_BETTER if w in name]
    if bool(higher) == bool(lower):
        raise ValueError(
            f"metric: expected a name holding one of {', '.join(HIGHER_IS_BETTER)} (higher is better) or "
            f"{', '.join(LOWER_IS_BETTER)} (lower is better), got {metric!r}"
        )
    return bool(higher)


@dataclasses.dataclass(frozen=True)
class Summary:
    """One metric over n seeds. std is the sample standard deviation (ddof=1); ci is the CONFIDENCE bootstrap
    interval of the mean. std and ci are None for one seed; ci is None when all values are equal (the bootstrap
    distribution is a single point, so BCa's interval is undefined)."""

    n: int
    mean: float
    std: float | None
    ci: tuple[float, float] | None
    min: float
    max: float

    def to_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "mean": self.mean,
            "std": self.std,
            "ci95": None if self.ci is None else list(self.ci),
            "min": self.min,
            "max": self.max,
        }


def _values(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name}: expected a non-empty sequence of numbers, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: expected finite numbers, got {array.tolist()}")
    return array


def _bootstrap(samples: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray]) -> tuple[float, float] | None:
    """scipy.stats.bootstrap's interval of `statistic` over `samples` (each resampled on its own); None when it
    is undefined (every resample gives one value)."""
    if all(np.ptp(sample) == 0 for sample in samples):
        return None
    with warnings.catch_warnings():  # nearly constant samples: BCa warns and may return nan, reported as None
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            samples,
            statistic,
            n_resamples=N_RESAMPLES,
            confidence_level=CONFIDENCE,
            method=BOOTSTRAP_METHOD,
            rng=np.random.default_rng(BOOTSTRAP_SEED),
        )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return None if math.isnan(low) or math.isnan(high) else (low, high)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def summarize(values: Sequence[float]) -> Summary:
    """The `Summary` of one metric's final values, one per seed."""
    x = _values(values, "values")
    several = x.size > 1
    return Summary(
        n=int(x.size),
        mean=float(np.mean(x)),
        std=float(np.std(x, ddof=1)) if several else None,
        ci=_bootstrap((x,), _mean) if several else None,
        min=float(np.min(x)),
        max=float(np.max(x)),
    )


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Study A against study B on one metric.

    difference: mean(A) - mean(B); difference_ci: its CONFIDENCE bootstrap interval (the two samples resampled
    independently; None when both are constant); t, p_value: Welch's t-test (unequal variances), two-sided;
    p_a_better: the probability that A's value is better than B's for a seed of each drawn at random (the fraction
    of all (a, b) pairs where a is better, ties counting half: the Mann-Whitney U statistic over n_a * n_b)."""

    metric: str
    higher_is_better: bool
    a: Summary
    b: Summary
    difference: float
    difference_ci: tuple[float, float] | None
    t: float
    p_value: float
    p_a_better: float

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "difference": self.difference,
            "difference_ci95": None if self.difference_ci is None else list(self.difference_ci),
            "welch_t": self.t,
            "welch_p_value": self.p_value,
            "p_a_better": self.p_a_better,
        }


def compare(a: Sequence[float], b: Sequence[float], metric: str) -> Comparison:
    """Compares the values of `metric` (one per seed) of study A with those of study B; whether higher is better
    follows from the metric's name (`higher_is_better`).

    Raises:
      ValueError: a study with fewer than 2 values (Welch's test needs a variance from each), or a metric whose
        direction its name does not tell.
    """
    higher = higher_is_better(metric)
    x, y = _values(a, "a"), _values(b, "b")
    for name, sample in (("a", x), ("b", y)):
        if sample.size < 2:
            raise ValueError(f"{name}: expected the values of 2 or more seeds to compare, got {sample.size}")
    welch = stats.ttest_ind(x, y, equal_var=False)
    # U of the first sample counts the pairs where it is larger (ties half): A first when higher is better
    u = stats.mannwhitneyu(x, y) if higher else stats.mannwhitneyu(y, x)
    return Comparison(
        metric=metric,
        higher_is_better=higher,
        a=summarize(x),
        b=summarize(y),
        difference=float(np.mean(x) - np.mean(y)),
        difference_ci=_bootstrap((x, y), _mean_difference),
        t=float(welch.statistic),
        p_value=float(welch.pvalue),
        p_a_better=float(u.statistic) / (x.size * y.size),
    )
