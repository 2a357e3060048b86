"""What every study shares: its arms trained as `cnnjax repro` studies, per-seed values summarised and compared with
`cnnjax.repro`'s statistics (scipy), and the generated part of its README.

A study module (`experiments/studies/<name>/study.py`) defines `run(seeds, runs_dir) -> dict` (trains what is
missing, measures, returns the results, JSON-serialisable) and `write(results, out_dir)` (the tables into its
README, the figure). `python -m experiments.studies run NAME` calls both; results.json keeps the numbers, so
`python -m experiments.studies report NAME` writes the README and the figure again without training.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jax
import numpy as np

from cnnjax import environment
from cnnjax.repro import compare, read_report, summarize

ROOT = Path(__file__).resolve().parents[2]
STUDIES_DIR = Path(__file__).resolve().parent
RESULTS_JSON = "results.json"


def repro_arm(config: str, arm: str, seeds: str, study_dir: str, checks: Sequence[str] = ()) -> dict[str, Any]:
    """Trains `config`:`arm` for `seeds` with `cnnjax repro` into `study_dir` (relative to the repository root;
    finished seeds are skipped), with its `checks` ('rerun', ...), and returns its report.json.

    Raises:
      RuntimeError: `cnnjax repro` failed or a check did not pass; the message holds its command.
    """
    command = [sys.executable, "-m", "cnnjax.cli", "repro", f"{config}:{arm}", "--seeds", seeds, "--out", study_dir]
    command += [f"--check={check}" for check in checks]
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        raise RuntimeError(f"study arm {arm!r}: `cnnjax {' '.join(command[3:])}` failed (its output is above)")
    return read_report(ROOT / study_dir)


def checks_passed(report: Mapping[str, Any]) -> dict[str, bool]:
    """'<check> seed <S>' -> whether it passed, for each check of a `cnnjax repro` report."""
    return {f"{c['check']} seed {c['seed']}": bool(c["passed"]) for c in report["checks"]}


METRICS = ("test_accuracy", "test_loss", "train_accuracy", "train_loss")  # each seed's final values, per arm


def train_arms(config: str, arms: Sequence[str], seeds: Sequence[int], runs_dir: str) -> dict[str, dict[str, Any]]:
    """Each arm of `config` as a `cnnjax repro` study in `runs_dir`/<arm> (the first arm with a rerun check):
    arm -> {'study': config, folder and profile, 'checks': `checks_passed`, metric: {seed: final value} for each of
    METRICS}."""
    spec = ",".join(str(seed) for seed in seeds)
    results = {}
    for i, arm in enumerate(arms):
        report = repro_arm(config, arm, spec, f"{runs_dir}/{arm}", checks=("rerun",) if i == 0 else ())
        results[arm] = {
            "study": {key: report["study"][key] for key in ("config", "folder", "numerics")},
            "checks": checks_passed(report),
            **{metric: per_seed(report, metric) for metric in METRICS},
        }
    return results


def seed_workdir(arm_results: Mapping[str, Any], seed: int | str) -> Path:
    """The workdir of one seed of an arm of `train_arms`."""
    return ROOT / arm_results["study"]["folder"] / f"seed_{seed}"


def final_metrics(workdir: Path) -> dict[str, Any]:
    """The final metrics a finished run recorded in its manifest.json."""
    return json.loads((workdir / "manifest.json").read_text())["final_metrics"]


def evaluations(workdir: Path) -> list[dict[str, Any]]:
    """The records of a run's metrics.jsonl that hold an evaluation (test metrics), in order."""
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if "test_accuracy" in record]


def checks_line(arms: Mapping[str, Mapping[str, Any]]) -> str:
    """One sentence on the rerun checks of `train_arms`' results, for a README."""
    checks = [
        f"{arm} {name}: {'passed' if ok else 'FAILED'}" for arm, r in arms.items() for name, ok in r["checks"].items()
    ]
    return (
        "Rerun check (`cnnjax repro --check rerun`: the seed trained again in a fresh workdir must give the same "
        f"bits): {', '.join(checks)}."
    )


def per_seed(report: Mapping[str, Any], metric: str) -> dict[str, float | None]:
    """seed -> the final value of `metric` in a `cnnjax repro` report (None where it is not finite or not reported:
    a diverged run's loss)."""
    values = {seed: row.get(metric) for seed, row in report["per_seed"].items()}
    return {seed: None if value is None else float(value) for seed, value in values.items()}


def summary_row(name: str, values: Sequence[float], digits: int = 4, significant: bool = False) -> str:
    """'| name | mean ± std | [lo, hi] | min - max | n |' of `values` over seeds (`cnnjax.repro.summarize`), with
    `digits` decimals, or `digits` significant digits when `significant` (for values spanning decades)."""
    s = summarize(list(values))

    def f(v: float) -> str:
        return f"{v:.{digits}g}" if significant else f"{v:.{digits}f}"

    std = f" ± {f(s.std)}" if s.std is not None else ""
    ci = f"[{f(s.ci[0])}, {f(s.ci[1])}]" if s.ci is not None else "n/a"
    return f"| {name} | {f(s.mean)}{std} | {ci} | {f(s.min)} - {f(s.max)} | {s.n} |"


def summary_table(title: str, rows: Mapping[str, Sequence[float]], digits: int = 4, significant: bool = False) -> str:
    """A Markdown table of `summary_row`s, one per entry of `rows` (name -> values over seeds)."""
    head = f"| {title} | mean ± std | 95% CI of the mean | min - max | seeds |\n|---|---|---|---|---|"
    return "\n".join([head, *(summary_row(name, values, digits, significant) for name, values in rows.items())])


def comparison(a: str, b: str, values_a: Sequence[float], values_b: Sequence[float], metric: str) -> dict[str, Any]:
    """`cnnjax.repro.compare` of arm `a` against arm `b` on `metric`, JSON-serialisable, with the arms' names."""
    with warnings.catch_warnings():  # an arm whose seeds all agree: scipy warns of its zero variance, p says it
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        result = compare(list(values_a), list(values_b), metric).to_dict()
    return {"arm_a": a, "arm_b": b, **result}


def comparison_table(comparisons: Sequence[Mapping[str, Any]], digits: int = 4) -> str:
    """A Markdown table of `comparison`s: A - B with its bootstrap interval, Welch's p, P(A better)."""
    lines = ["| A vs B (metric) | A - B | 95% CI | Welch's p | P(A better) |", "|---|---|---|---|---|"]
    for c in comparisons:
        ci = c["difference_ci95"]
        ci_text = f"[{ci[0]:+.{digits}f}, {ci[1]:+.{digits}f}]" if ci else "n/a"
        p = c["welch_p_value"]
        p = "n/a" if p is None or p != p else f"{p:.2g}"  # NaN: both arms constant
        lines.append(
            f"| {c['arm_a']} vs {c['arm_b']} ({c['metric']}) | {c['difference']:+.{digits}f} | {ci_text} | {p} | "
            f"{c['p_a_better']:.2f} |"
        )
    return "\n".join(lines)


def write_results(out_dir: Path, results: Mapping[str, Any]) -> Path:
    """`out_dir`/results.json, with the environment's fingerprint of this process added."""
    path = out_dir / RESULTS_JSON
    payload = {**results, "environment": results.get("environment") or environment.fingerprint()}
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return path


def read_results(out_dir: Path) -> dict[str, Any]:
    path = out_dir / RESULTS_JSON
    if not path.is_file():
        raise ValueError(f"{path}: no results yet; run `python -m experiments.studies run {out_dir.name}` first")
    return json.loads(path.read_text())


def replace_block(readme: Path, block: str, text: str) -> None:
    """Replaces what lies between `<!-- block -->` and `<!-- /block -->` in `readme` by `text`.

    Raises:
      ValueError: the markers are missing.
    """
    start, end = f"<!-- {block} -->", f"<!-- /{block} -->"
    content = readme.read_text()
    if start not in content or end not in content:
        raise ValueError(f"{readme}: expected the markers {start} and {end}")
    head, rest = content.split(start, 1)
    readme.write_text(f"{head}{start}\n{text.strip()}\n{end}{rest.split(end, 1)[1]}")


def environment_line(fingerprint: Mapping[str, Any]) -> str:
    """The machine and versions a study ran on, in one line for its README."""
    versions = fingerprint.get("versions", {})
    numerics = fingerprint.get("numerics", {}).get("profile")
    return (
        f"{fingerprint.get('cpu_model')}, ISA class {fingerprint.get('isa_class')}, "
        f"{fingerprint.get('cpu_cores', {}).get('available')} cores; jax {versions.get('jax')}, "
        f"flax {versions.get('flax')}, optax {versions.get('optax')}; numerics profile `{numerics}`"
    )


SHIFTS = (0, 1, 2, 3, 4)  # pixels, for the studies of translation
EVAL_BATCH = 1000


def shifted(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """(N, H, W, C) images moved by (dy, dx) pixels (down and right when positive), the uncovered border zero."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def shift_accuracies(workdir: Path) -> list[float]:
    """Test accuracy of the run in `workdir` for each shift of SHIFTS (the mean over the four directions)."""
    from cnnjax.viz import load_run

    run = load_run(workdir)
    test, logits_fn = run.test_set, jax.jit(run.logits_fn)

    def accuracy(images: np.ndarray) -> float:
        correct = 0
        for start in range(0, len(images), EVAL_BATCH):
            logits = logits_fn(run.inputs(images[start : start + EVAL_BATCH]))
            correct += int((np.asarray(logits).argmax(-1) == test.labels[start : start + EVAL_BATCH]).sum())
        return correct / len(images)

    directions = ((0, 1), (0, -1), (1, 0), (-1, 0))
    return [float(np.mean([accuracy(shifted(test.images, s * dy, s * dx)) for dy, dx in directions])) for s in SHIFTS]


def plot_mean_band(ax, x: Sequence[float], values: np.ndarray, label: str, **line) -> None:
    """The mean over seeds of `values` (seeds, len(x)) against `x`, with a band of ± 1 sample std."""
    values = np.asarray(values)
    mean, std = values.mean(0), values.std(0, ddof=1)
    (drawn,) = ax.plot(x, mean, label=label, **line)
    ax.fill_between(x, mean - std, mean + std, color=drawn.get_color(), alpha=0.2)


@contextmanager
def figure(
    path: Path, *, ncols: int = 1, nrows: int = 1, figsize: tuple[float, float] = (6.4, 4.2), **subplots: Any
) -> Iterator[tuple[Any, Any]]:
    """A study's figure: yields `(fig, axes)` of `plt.subplots(nrows, ncols)` (`axes` one Axes for a single panel)
    of `figsize` inches with constrained layout (`subplots`, e.g. sharey=True, passed on); on a normal exit writes it
    to `path` at 100 dpi, and closes it in every case.

    Selects matplotlib's Agg backend first: the figures are only written to files, so no display is needed (a study
    runs the same on a headless machine), and the rendering does not depend on the machine's default backend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, constrained_layout=True, **subplots)
    try:
        yield fig, axes
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
