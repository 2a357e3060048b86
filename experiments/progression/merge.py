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
        "| train s (mean) | epochs | ImageNet top-5 % (notes) |",
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


def plot(summaries: list[dict[str, Any]], path: Path) -> None:
    """Two aligned panels against year: the measured Fashion-MNIST test error (mean ± std over seeds, %) and the
    notes' ImageNet top-5 error (%)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, constrained_layout=True)
    years = [s["year"] for s in summaries]
    means = [100 * s["test_error_mean"] for s in summaries]
    stds = [100 * s["test_error_std"] for s in summaries]
    top.errorbar(years, means, yerr=stds, fmt="o", color="tab:blue", capsize=4)
    for s, y in zip(summaries, means):
        top.annotate(s["row"], (s["year"], y), textcoords="offset points", xytext=(6, 6), fontsize=9)
    top.set_ylabel("test error (%)")
    top.set_title(f"Fashion-MNIST, measured (mean ± std over seeds; {max(len(s['seeds']) for s in summaries)} seeds)"
                  if summaries else "Fashion-MNIST, measured (no results yet)")
    top.grid(alpha=0.3)

    bottom.plot([f.year for f in IMAGENET], [f.top5_error for f in IMAGENET], "s-", color="tab:red")
    for i, f in enumerate(IMAGENET):
        bottom.annotate(f.entry, (f.year, f.top5_error), textcoords="offset points",
                        xytext=(6, 6 if i % 2 == 0 else -12), fontsize=8)
    bottom.set_ylabel("top-5 error (%)")
    bottom.set_xlabel("year")
    bottom.set_title("ImageNet (ILSVRC), top-5 error as in the lecture notes")
    bottom.grid(alpha=0.3)
    first = min([*years, *(f.year for f in IMAGENET)])
    bottom.set_xlim(first - 1, max(f.year for f in IMAGENET) + 2)
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
