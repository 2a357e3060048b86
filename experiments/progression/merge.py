"""Merging the per-(row, seed) result files into `results.json`, `results.md` and `error_vs_year.png`.

Mean and std are over the seeds that have a result; the std is the sample standard deviation (ddof=1; 0 with one
seed). Errors in the table and the plot are percentages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from experiments.progression.rows import IMAGENET, ROWS, Row
from experiments.progression.runner import PACKAGE_DIR, RESULTS_DIR, result_path


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
    }


def collect(rows: Mapping[str, Row] = ROWS, results_dir: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """The summaries of the rows with at least one result file, by year (registry order within a year)."""
    summaries = []
    for row in rows.values():
        paths = [result_path(row.name, seed, results_dir) for seed in row.seeds]
        results = [json.loads(p.read_text()) for p in paths if p.exists()]
        if results:
            summaries.append(row_summary(row, results))
    return sorted(summaries, key=lambda s: s["year"])


def markdown(summaries: list[dict[str, Any]]) -> str:
    """The results table in Markdown."""
    lines = [
        "| year | row | model | params | MACs | Fashion-MNIST test error % (mean ± std) | seeds | per seed % "
        "| train s (mean) | epochs | ImageNet top-5 % (published) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        per_seed = ", ".join(f"{100 * e:.2f}" for e in s["per_seed_errors"])
        imagenet = "-" if s["imagenet_top5_error"] is None else f"{s['imagenet_top5_error']:.1f}"
        lines.append(
            f"| {s['year']} | `{s['row']}` | {s['model']} | {s['params']:,} | {s['macs']:,} | "
            f"{100 * s['test_error_mean']:.2f} ± {100 * s['test_error_std']:.2f} | {len(s['seeds'])} | {per_seed} | "
            f"{s['train_seconds_mean']:.0f} | {s['epochs']} | {imagenet} |"
        )
    lines += ["", "Adaptations to 28x28x1:", ""]
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
    top.errorbar(xs, means, yerr=[100 * s["test_error_std"] for s in summaries], fmt="o", color="tab:blue",
                 capsize=4)
    counts = sorted({len(s["seeds"]) for s in summaries}) or [0]
    for s, x, y in zip(summaries, xs, means):
        right = x >= slots[s["year"]]  # as below: a year's second point labelled on its right, the first left
        n = len(s["seeds"])
        label = f"{s['row']} {y:.2f}" + (f" ({n} seed{'s' * (n != 1)})" if len(counts) > 1 else "")
        top.annotate(label, (x, y), textcoords="offset points", fontsize=9, xytext=(7, 4) if right else (-7, -12),
                     ha="left" if right else "right")
    over = (f"{counts[0]} seed{'s' * (counts[0] != 1)}" if len(counts) == 1
            else f"{counts[0]}-{counts[-1]} seeds, as labelled")
    top.set_title(f"Fashion-MNIST test error, measured (mean ± std over {over})")
    top.set_ylabel("test error (%)")
    top.grid(alpha=0.3)

    xs = _positions([f.year for f in IMAGENET], slots)
    bottom.plot(xs, [f.top5_error for f in IMAGENET], "s-", color="tab:red")
    for f, x in zip(IMAGENET, xs):
        right = x >= slots[f.year]  # the second of a year's two points is labelled on its right, the first left
        bottom.annotate(f"{f.entry.split(' (')[0]} {f.top5_error}", (x, f.top5_error), textcoords="offset points",
                        fontsize=8, xytext=(7, 4) if right else (-7, -12), ha="left" if right else "right")
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
    rows: Mapping[str, Row] = ROWS, results_dir: Path = RESULTS_DIR, out_dir: Path = PACKAGE_DIR
) -> list[dict[str, Any]]:
    """Writes results.json, results.md and error_vs_year.png into `out_dir`; returns the summaries."""
    summaries = collect(rows, results_dir)
    out_dir = Path(out_dir)
    (out_dir / "results.json").write_text(json.dumps({"rows": summaries}, indent=2) + "\n")
    (out_dir / "results.md").write_text(markdown(summaries))
    plot(summaries, out_dir / "error_vs_year.png")
    return summaries
