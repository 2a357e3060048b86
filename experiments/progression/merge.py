"""Merging the per-(row, seed) result files into `results.json`, `results.md` and `error_vs_year.png`.

Mean and std are over the seeds that have a result; the std is the sample standard deviation (ddof=1; 0 with one
seed). Each row names the numerics profiles its result files record (`cnnjax.backend`; None for a file recorded
without a fingerprint). Errors in the table and the plot are percentages. Every result file is read checked
(`runner.read_result`); one of no row, or of a seed outside its row's seeds, is an error, not left out.

The merged files in place are inputs to check against (`outputs`): equal ones are left as they are, differing ones
replaced only with `overwrite`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from experiments.progression import outputs
from experiments.progression.rows import IMAGENET, ROWS, Row
from experiments.progression.runner import PACKAGE_DIR, RESULTS_DIR, read_result


def row_summary(row: Row, results: list[dict[str, Any]]) -> dict[str, Any]:
    """One row of results.json from the row's per-seed results (at least one)."""
    errors = np.array([r["test_error"] for r in results], np.float64)
    epochs = sorted({r["epochs"] for r in results})
    return {
        "year": row.year,
        "row": row.name,
        "model": row.model,
        "kind": row.kind,
        "adaptation": row.adaptation,
        "params": results[0]["params"],
        "macs": results[0]["macs"],
        "test_error_mean": float(errors.mean()),
        "test_error_std": float(errors.std(ddof=1)) if len(errors) > 1 else 0.0,
        "seeds": [r["seed"] for r in results],
        "per_seed_errors": errors.tolist(),
        "train_seconds_mean": float(np.mean([r["train_seconds"] for r in results])),
        "epochs": epochs[0] if len(epochs) == 1 else epochs,
        "imagenet_top5_error": None if row.imagenet is None else row.imagenet.top5_error,
        "imagenet_entry": None if row.imagenet is None else row.imagenet.entry,
        "commands": [r["command"] for r in results],
        "numerics": sorted({_profile(r) for r in results}, key=str),
    }


def _profile(result: dict[str, Any]) -> str | None:
    """The numerics profile a result file records, None when it records no environment."""
    fingerprint = result.get("environment")
    return (fingerprint.get("numerics") or {}).get("profile") if isinstance(fingerprint, dict) else None


def result_files(rows: Mapping[str, Row] = ROWS, results_dir: Path = RESULTS_DIR) -> dict[str, dict[int, Path]]:
    """{row: {seed: path}} of every `<row>/seed<S>.json` in `results_dir`.

    Raises:
      ValueError: `results_dir` is not a folder or holds no result file; a result file is of no row in `rows`, or
        of a seed outside its row's seeds (naming the file).
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ValueError(
            f"results_dir: expected a folder of result files (<row>/seed<S>.json), got "
            f"{str(results_dir)!r}, which is not a folder"
        )
    found: dict[str, dict[int, Path]] = {}
    for path in sorted(results_dir.glob("*/seed*.json")):
        row = rows.get(path.parent.name)
        if row is None:
            raise ValueError(
                f"{path}: a result file of no row (the folder names the row: one of {list(rows)}); "
                "move it away or rename its folder"
            )
        match = re.fullmatch(r"seed(\d+)\.json", path.name)
        if match is None or int(match[1]) not in row.seeds:
            raise ValueError(
                f"{path}: expected seed<S>.json with S one of row {row.name}'s seeds {list(row.seeds)} "
                f"(experiments/progression/rows.py); move it out of {results_dir}, or add its seed to "
                "the row"
            )
        found.setdefault(row.name, {})[int(match[1])] = path
    if not found:
        raise ValueError(
            f"results_dir: no result files (<row>/seed<S>.json) in {results_dir}; run some first, or "
            "name the folder that holds them"
        )
    return found


def collect(rows: Mapping[str, Row] = ROWS, results_dir: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """The summaries of the rows with at least one result file (`result_files`, each read checked), by year
    (registry order within a year)."""
    found = result_files(rows, results_dir)
    summaries = []
    for row in rows.values():
        paths = found.get(row.name, {})
        results = [read_result(paths[seed], row.name, seed) for seed in row.seeds if seed in paths]
        if results:
            summaries.append(row_summary(row, results))
    return sorted(summaries, key=lambda s: s["year"])


def markdown(summaries: list[dict[str, Any]]) -> str:
    """The results table in Markdown."""
    lines = [
        "| year | row | model | params | MACs | Fashion-MNIST test error % (mean ± std) | seeds | per seed % "
        "| train s (mean) | epochs | numerics | ImageNet top-5 % (published) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        per_seed = ", ".join(f"{100 * e:.2f}" for e in s["per_seed_errors"])
        imagenet = "-" if s["imagenet_top5_error"] is None else f"{s['imagenet_top5_error']:.1f}"
        numerics = ", ".join(p or "not recorded" for p in s["numerics"])
        lines.append(
            f"| {s['year']} | `{s['row']}` | {s['model']} | {s['params']:,} | {s['macs']:,} | "
            f"{100 * s['test_error_mean']:.2f} ± {100 * s['test_error_std']:.2f} | {len(s['seeds'])} | {per_seed} | "
            f"{s['train_seconds_mean']:.0f} | {s['epochs']} | {numerics} | {imagenet} |"
        )
    lines += [
        "",
        'numerics: the `cnnjax.backend` profile the row\'s result files record ("not recorded": files '
        "without an environment fingerprint; README.md says where they were computed).",
        "",
        "Adaptations to 28x28x1:",
        "",
    ]
    lines += [f"- `{s['row']}`: {s['adaptation']}" for s in summaries]
    return "\n".join(lines) + "\n"


def _positions(years: list[int], slots: dict[int, int]) -> list[float]:
    """The x of each point: its year's slot, items of one year spread by 0.15 around it."""
    out = []
    for i, year in enumerate(years):
        same = [k for k, y in enumerate(years) if y == year]
        out.append(slots[year] + 0.15 * (same.index(i) - (len(same) - 1) / 2))
    return out


def plot(summaries: list[dict[str, Any]], path: Path) -> None:
    """Two aligned panels against year: the measured Fashion-MNIST test error (mean ± std over seeds, %) and the
    published ImageNet top-5 error (%, `rows.IMAGENET`). The year axis is ordinal (one slot per year that has a
    point), so that 1998 does not squeeze 2010-2015."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    years = sorted({*(s["year"] for s in summaries), *(f.year for f in IMAGENET)})
    slots = {year: i for i, year in enumerate(years)}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, constrained_layout=True)

    xs = _positions([s["year"] for s in summaries], slots)
    means = [100 * s["test_error_mean"] for s in summaries]
    top.errorbar(xs, means, yerr=[100 * s["test_error_std"] for s in summaries], fmt="o", color="tab:blue", capsize=4)
    counts = sorted({len(s["seeds"]) for s in summaries}) or [0]
    for s, x, y in zip(summaries, xs, means, strict=True):
        right = x >= slots[s["year"]]  # as below: a year's second point labelled on its right, the first left
        n = len(s["seeds"])
        label = f"{s['row']} {y:.2f}" + (f" ({n} seed{'s' * (n != 1)})" if len(counts) > 1 else "")
        top.annotate(
            label,
            (x, y),
            textcoords="offset points",
            fontsize=9,
            xytext=(7, 4) if right else (-7, -12),
            ha="left" if right else "right",
        )
    over = (
        f"{counts[0]} seed{'s' * (counts[0] != 1)}"
        if len(counts) == 1
        else f"{counts[0]}-{counts[-1]} seeds, as labelled"
    )
    top.set_title(f"Fashion-MNIST test error, measured (mean ± std over {over})")
    top.set_ylabel("test error (%)")
    top.grid(alpha=0.3)

    xs = _positions([f.year for f in IMAGENET], slots)
    bottom.plot(xs, [f.top5_error for f in IMAGENET], "s-", color="tab:red")
    for f, x in zip(IMAGENET, xs, strict=True):
        right = x >= slots[f.year]  # the second of a year's two points is labelled on its right, the first left
        bottom.annotate(
            f"{f.entry.split(' (')[0]} {f.top5_error}",
            (x, f.top5_error),
            textcoords="offset points",
            fontsize=8,
            xytext=(7, 4) if right else (-7, -12),
            ha="left" if right else "right",
        )
    bottom.set_title("ImageNet (ILSVRC) top-5 error, as published")
    bottom.set_ylabel("top-5 error (%)")
    bottom.set_xlabel("year (one slot per year shown)")
    bottom.set_xticks(range(len(years)), [str(y) for y in years])
    bottom.set_xlim(-0.5, len(years) - 0.3)
    bottom.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def merge(
    rows: Mapping[str, Row] = ROWS,
    results_dir: Path = RESULTS_DIR,
    out_dir: Path = PACKAGE_DIR,
    *,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Writes results.json, results.md and error_vs_year.png into `out_dir`, unless results.json and results.md are
    there and equal to the merged ones (then nothing is written, the plot being drawn from them); returns the
    summaries.

    Raises:
      ValueError: from `collect`.
      outputs.Differs: results.json or results.md in place differs and `overwrite` is not set (nothing is written).
    """
    summaries = collect(rows, results_dir)
    out_dir = Path(out_dir)
    texts = {"results.json": json.dumps({"rows": summaries}, indent=2) + "\n", "results.md": markdown(summaries)}
    views = {"results.json": outputs.json_view(), "results.md": str}
    states = {
        name: outputs.check(out_dir / name, text, overwrite=overwrite, view=views[name]) for name, text in texts.items()
    }
    figure = out_dir / "error_vs_year.png"
    if set(states.values()) == {"unchanged"} and figure.exists():
        log(f"merge: results.json, results.md and error_vs_year.png in {out_dir} are up to date; nothing written")
        return summaries
    for name, text in texts.items():
        outputs.write(out_dir / name, text)
    plot(summaries, figure)
    log(f"merge: wrote results.json, results.md, error_vs_year.png in {out_dir}")
    return summaries
