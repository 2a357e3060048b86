"""A study's report (report.json, report.md, curves.png in the study folder) and the comparison of two studies
(compare.json, compare.md).

report.json holds every number of report.md: per seed, the final metrics; per metric, the summary over seeds
(`cnnjax.repro.stats.summarize`); the environment's fingerprint of the study's first run and the fields that
differ in any other run; the checks' outcomes; the commands. `compare` reads two report.json files, so committed
reports compare without their run folders.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnjax import environment
from cnnjax.repro import stats
from cnnjax.repro.checks import ROUNDING_RTOL, SPREAD_STDS, checked_metrics, environment_differences
from cnnjax.repro.study import Run, Study
from cnnjax.viz import figures

REPORT_JSON, REPORT_MD, CURVES_PNG = "report.json", "report.md", "curves.png"
COMPARE_JSON, COMPARE_MD = "compare.json", "compare.md"


def _json(value: Any) -> Any:
    """`value` with non-finite floats as None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _ordered(metrics: Sequence[str], main: str) -> list[str]:
    """`main` first, then the other evaluation metrics, then the training ones, each group sorted."""
    return sorted(metrics, key=lambda k: (k != main, k.startswith("train_"), k))


def _summary(values: Sequence[float]) -> dict[str, Any]:
    """`stats.summarize` of one metric over the seeds; when a seed's value is not finite (a diverged run's loss),
    no statistics (None) and how many seeds were not finite."""
    values = [float(v) for v in values]  # a manifest writes a non-finite value as the string 'nan' or 'inf'
    if all(math.isfinite(v) for v in values):
        return stats.summarize(values).to_dict()
    undefined = dict.fromkeys(("mean", "std", "ci95", "min", "max"))
    return {"n": len(values), **undefined, "not_finite": sum(not math.isfinite(v) for v in values)}


def build_report(
    study: Study, runs: Mapping[int, Run], checks: Sequence[Mapping[str, Any]], command: str
) -> dict[str, Any]:
    """The report of a study whose seeds have all finished ({seed: Run}), with the checks' outcomes and the
    command that ran it."""
    first = runs[study.seeds[0]]
    names = _ordered(checked_metrics(first, study.eval_split), study.main_metric)
    summary = {name: _summary([run.final[name] for run in runs.values()]) for name in names}
    differing = {}
    for seed, run in runs.items():
        found = environment_differences(first, run)
        if found:
            differing[f"seed {seed}"] = found
    return _json(
        {
            "command": command,
            "study": {"folder": str(study.folder), **study.record(), "seeds": list(study.seeds)},
            "main_metric": study.main_metric,
            "higher_is_better": stats.higher_is_better(study.main_metric),
            "per_seed": {
                seed: {
                    "workdir": str(run.workdir),
                    "command": study.command(study.train_argv(seed, run.workdir)),
                    **{name: float(run.final[name]) for name in names},  # 'nan' as written: not finite
                    "steps": run.final.get("step"),
                    "wall_time": run.final.get("wall_time"),
                }
                for seed, run in runs.items()
            },
            "summary": summary,
            "bootstrap": stats.bootstrap_settings(),
            "environment": first.environment,
            "environment_differences": differing,
            "checks": list(checks),
        }
    )


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.3e}"


def _ci(interval: Sequence[float] | None) -> str:
    return "n/a" if interval is None else f"[{_num(interval[0])}, {_num(interval[1])}]"


def _direction(metric: str) -> str:
    return "higher is better" if stats.higher_is_better(metric) else "lower is better"


def _flat(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        return [item for k, v in value.items() for item in _flat(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, value)]


def _check_lines(check: Mapping[str, Any]) -> list[str]:
    verdict = "passed" if check["passed"] else "FAILED"
    lines = [f"### {check['check']} (seed {check['seed']}): {verdict}", ""]
    if check["check"] == "rerun":
        lines.append(
            f"A fresh workdir ({check['workdir']}) against the seed's run: "
            f"{len(check['variables_differing'])} of {check['variables_compared']} variables, "
            f"{len(check['metrics_differing'])} of {check['metrics_compared']} final metrics and "
            f"{check['records_differing']} of {check['records_compared']} records of metrics.jsonl differ "
            "(bit for bit; times left out)."
        )
        for name in check["variables_differing"][:10]:
            lines.append(f"- variable differs: `{name}`")
        for name, (a, b) in check["metrics_differing"].items():
            lines.append(f"- {name}: {a} (seed's run) vs {b} (rerun)")
    else:
        lines += [
            f"This run ({check['workdir']}: devices {check['device_count']}, processes {check['process_count']}) "
            f"against the seed's run (devices {check['reference_device_count']}, processes "
            f"{check['reference_process_count']}). Tolerances: parameters, the relative difference between the "
            f"seed's run and the nearest other seed's; metrics, {SPREAD_STDS:g} std of the metric over the seeds (at "
            f"least {ROUNDING_RTOL:g} relative).",
            "",
            f"- largest relative parameter difference: {_num(check['parameter_relative_difference'])} "
            f"(`{check['parameter_where']}`), tolerance {_num(check['parameter_tolerance'])}"
            + (
                f" (the nearest other seed, {check['parameter_tolerance_nearest_seed']})"
                if check["parameter_tolerance_nearest_seed"] is not None
                else ""
            ),
            f"- largest relative metric difference: {_num(check['metric_largest_relative_difference'])} "
            f"({check['metric_largest_where']})",
            "",
            "| metric | seed's run | this run | difference | tolerance | within |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {name} | {_num(m['reference'])} | {_num(m['value'])} | {m['difference']:+.3e} | "
            f"{_num(m['tolerance'])} | {'yes' if m['within'] else 'NO'} |"
            for name, m in check["metrics"].items()
        ]
    if check.get("environment_differences"):
        lines += [
            "",
            "Environment fields that decide the bits and differ: " + "; ".join(check["environment_differences"]),
        ]
    lines += [
        "",
        "Command" + ("s" if len(check["commands"]) > 1 else "") + ":",
        "",
        "```",
        *check["commands"],
        "```",
        "",
    ]
    return lines


def report_markdown(report: Mapping[str, Any]) -> str:
    study, main = report["study"], report["main_metric"]
    seeds = list(report["per_seed"])
    s = report["summary"][main]
    names = list(report["summary"])
    boot = report["bootstrap"]
    overrides = " with " + " ".join(f"`{o}`" for o in study["overrides"]) if study["overrides"] else ""
    lines = [
        f"# Reproducibility study: {study['model']} on {study['dataset']}",
        "",
        f"Config `{study['config']}`{overrides}, "
        f"numerics profile `{study['numerics']}`, seeds {', '.join(seeds)} ({len(seeds)} runs). Written by:",
        "",
        "```",
        report["command"],
        "```",
        "",
        f"**{main}** ({_direction(main)}): {_num(s['mean'])} ± {_num(s['std'])} (mean ± sample std), 95% bootstrap "
        f"confidence interval of the mean {_ci(s['ci95'])}, min {_num(s['min'])}, max {_num(s['max'])}.",
        "",
        f"![learning curves of each seed, their mean and a band of ± 1 std]({CURVES_PNG})",
        "",
        "## Final metrics per seed",
        "",
        "| seed | " + " | ".join(names) + " | steps | wall time (s) |",
        "|---" * (len(names) + 3) + "|",
    ]
    for seed, row in report["per_seed"].items():
        lines.append(
            f"| {seed} | " + " | ".join(_num(row[n]) for n in names) + f" | {row['steps']} | {row['wall_time']:.1f} |"
        )
    lines += [
        "",
        "## Over the seeds",
        "",
        "| metric | mean | std | 95% CI of the mean | min | max |",
        "|---|---|---|---|---|---|",
        *(
            f"| {n} ({_direction(n).split()[0]}) | {_num(v['mean'])} | {_num(v['std'])} | {_ci(v['ci95'])} | "
            f"{_num(v['min'])} | {_num(v['max'])} |"
            for n, v in report["summary"].items()
        ),
        "",
        f"std: sample standard deviation (ddof 1). CI: `{boot['function']}`, method {boot['method']}, "
        f"{boot['n_resamples']} resamples, `{boot['rng']}`; with few seeds it shows how much they disagree, and "
        "it is n/a for one seed or when all seeds give the same value.",
        "",
    ]
    if report["checks"]:
        lines += ["## Checks", ""]
        for check in report["checks"]:
            lines += _check_lines(check)
    lines += [
        "## Environment",
        "",
        "The fingerprint of the first seed's run (`cnnjax.environment.fingerprint()`):",
        "",
        "| field | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {'' if v is None else v} |" for k, v in _flat(report["environment"])]
    differing = report["environment_differences"]
    lines += [
        "",
        (
            "Every seed's run agrees with it in the fields that decide the bits."
            if not differing
            else "Runs whose fields that decide the bits differ from it: "
            + "; ".join(f"{k}: {', '.join(v)}" for k, v in differing.items())
        ),
        "",
        "## Commands",
        "",
        "Each seed's training, as the study ran it:",
        "",
        "```",
    ]
    lines += [row["command"] for row in report["per_seed"].values()]
    lines += ["```", ""]
    return "\n".join(lines)


def _aligned(runs: Sequence[Run], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values of shape (runs, epochs)) of `key` at the steps every run recorded it."""
    steps = sorted(set.intersection(*({r["step"] for r in run.records if key in r} for run in runs)))
    epochs = {r["step"]: r["epoch"] for run in runs for r in run.records}
    table = [{r["step"]: r[key] for r in run.records if key in r} for run in runs]
    return (
        np.array([epochs[s] for s in steps], dtype=float),
        np.array([[row[s] for s in steps] for row in table], dtype=float).reshape(len(runs), len(steps)),
    )


def curves_figure(study: Study, runs: Mapping[int, Run]):
    """Each seed's curve of the main metric and of the training loss against epoch, their mean and a band of
    ± 1 sample std over the seeds."""
    figure = figures.new_figure(11.0, 4.0)
    seeds, ordered = list(runs), list(runs.values())
    for ax, key in zip(figure.subplots(1, 2), (study.main_metric, "train_loss")):
        epochs, values = _aligned(ordered, key)
        style = "-o" if key == study.main_metric else "-"  # one point per evaluation: visible however few
        for seed, row in zip(seeds, values):
            ax.plot(epochs, row, style, linewidth=0.8, markersize=3, alpha=0.6, label=f"seed {seed}")
        mean = values.mean(axis=0)
        ax.plot(epochs, mean, style, color="black", linewidth=1.8, markersize=4, label="mean")
        if len(ordered) > 1:
            std = values.std(axis=0, ddof=1)
            if len(epochs) > 1:
                ax.fill_between(epochs, mean - std, mean + std, color="grey", alpha=0.3, label="mean ± 1 std")
            else:  # a band of one point is a bar
                ax.errorbar(epochs, mean, yerr=std, color="grey", capsize=6, label="mean ± 1 std")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(f"{key} ({_direction(key)})", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle(
        f"{study.config.model} on {study.config.dataset} · study {study.name} · profile {study.numerics}"
        f"\n{len(runs)} seeds: each seed's curve, the mean and ± 1 std",
        fontsize=9,
    )
    return figure


def write_report(
    study: Study, runs: Mapping[int, Run], checks: Sequence[Mapping[str, Any]], command: str
) -> dict[str, Any]:
    """Writes report.json, report.md and curves.png into the study folder; returns the report."""
    report = build_report(study, runs, checks, command)
    _write(study.folder / REPORT_JSON, json.dumps(report, indent=2) + "\n")
    _write(study.folder / REPORT_MD, report_markdown(report))
    figures.save(curves_figure(study, runs), study.folder / CURVES_PNG)
    return report


# ---------------------------------------------------------------------------------------------------- compare
def read_report(folder: str | Path) -> dict[str, Any]:
    """The report.json of a study folder.

    Raises:
      ValueError: the folder holds no readable report.json.
    """
    path = Path(folder) / REPORT_JSON
    if not path.is_file():
        raise ValueError(
            f"study: expected a study folder with a {REPORT_JSON} (written by `cnnjax repro`), got {str(folder)!r}"
        )
    try:
        report = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); run the study's `cnnjax repro` command again") from None
    if not isinstance(report, dict) or "per_seed" not in report:
        raise ValueError(f"{path}: expected a study report (with per_seed), got another JSON value")
    return report


def compare_reports(
    a: Mapping[str, Any], b: Mapping[str, Any], metric: str | None = None, *, folders: Sequence[str] | None = None
) -> dict[str, Any]:
    """The comparison of two study reports on `metric` (default: A's main metric), JSON-serialisable; `folders`:
    where the two reports were read (default: the study folders they name).

    Raises:
      ValueError: a metric one of the studies lacks, fewer than 2 seeds in one, a metric without a direction.
    """
    metric = metric or a["main_metric"]
    values = {}
    for name, report in (("A", a), ("B", b)):
        rows = report["per_seed"]
        missing = [seed for seed, row in rows.items() if metric not in row]
        if missing:
            metrics = sorted(report["summary"])
            raise ValueError(
                f"--metric: expected a metric of both studies ({', '.join(metrics)} in study {name}, "
                f"{report['study']['folder']}), got {metric!r}"
            )
        values[name] = [float(row[metric]) for row in rows.values()]
    comparison = stats.compare(values["A"], values["B"], metric)
    folders = folders or (a["study"]["folder"], b["study"]["folder"])
    return _json(
        {
            **comparison.to_dict(),
            "studies": {
                key: {
                    "folder": str(folder),
                    "config": report["study"]["config"],
                    "overrides": report["study"]["overrides"],
                    "numerics": report["study"]["numerics"],
                    "seeds": list(report["per_seed"]),
                    "values": values[key.upper()],
                }
                for key, folder, report in (("a", folders[0], a), ("b", folders[1], b))
            },
            "bootstrap": stats.bootstrap_settings(),
            "environment_differences": environment.reproducibility_differences(a["environment"], b["environment"]),
        }
    )


def compare_table(result: Mapping[str, Any]) -> str:
    """The comparison as a short plain-text table (what `cnnjax repro compare` prints)."""
    metric = result["metric"]
    rows = [("", "study", "n", "mean", "std", "95% CI of the mean")]
    for key in ("a", "b"):
        summary = result[key]
        rows.append(
            (
                key.upper(),
                result["studies"][key]["folder"],
                str(summary["n"]),
                _num(summary["mean"]),
                _num(summary["std"]),
                _ci(summary["ci95"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    better = "A" if (result["difference"] > 0) == result["higher_is_better"] else "B"
    lines = [
        f"metric: {metric} ({'higher' if result['higher_is_better'] else 'lower'} is better)",
        *table,
        f"A - B: {result['difference']:+.4g}, 95% bootstrap CI {_ci(result['difference_ci95'])}"
        + ("" if result["difference"] == 0 else f" (the means favour {better})"),
        f"Welch's t-test: t = {_num(result['welch_t'])}, p = {_num(result['welch_p_value'])}",
        f"P(A beats B on a random pair of seeds): {result['p_a_better']:.3f} (ties count half)",
    ]
    if result["environment_differences"]:
        lines.append(
            "environments differ in fields that decide the bits: " + "; ".join(result["environment_differences"])
        )
    return "\n".join(lines)


def compare_markdown(result: Mapping[str, Any], command: str) -> str:
    boot = result["bootstrap"]
    lines = [
        f"# Comparison: {result['studies']['a']['folder']} (A) vs {result['studies']['b']['folder']} (B)",
        "",
        "Written by:",
        "",
        "```",
        command,
        "```",
        "",
        "```",
        compare_table(result),
        "```",
        "",
        "| study | config | numerics | seeds | values |",
        "|---|---|---|---|---|",
    ]
    for key in ("a", "b"):
        study = result["studies"][key]
        config = " ".join([f"`{study['config']}`", *(f"`{o}`" for o in study["overrides"])])
        lines.append(
            f"| {key.upper()} | {config} | {study['numerics']} | {', '.join(study['seeds'])} | "
            f"{', '.join(_num(v) for v in study['values'])} |"
        )
    lines += [
        "",
        f"Difference of means and its interval: `{boot['function']}` on the two samples (each resampled on its own), "
        f"method {boot['method']}, {boot['n_resamples']} resamples, `{boot['rng']}`. p: Welch's t-test "
        "(`scipy.stats.ttest_ind(equal_var=False)`), two-sided. P(A beats B): the fraction of all (A seed, B seed) "
        "pairs in which A's value is better, ties counting half (`scipy.stats.mannwhitneyu`'s U over the number of "
        "pairs).",
        "",
    ]
    return "\n".join(lines)


def write_compare(result: Mapping[str, Any], out: Path, command: str) -> tuple[Path, Path]:
    """Writes compare.json and compare.md into the folder `out`."""
    return (
        _write(out / COMPARE_JSON, json.dumps(result, indent=2) + "\n"),
        _write(out / COMPARE_MD, compare_markdown(result, command)),
    )
