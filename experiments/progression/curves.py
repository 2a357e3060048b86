"""The training curves behind the study's findings: for each trained row's seed, its evaluations (epoch, learning
rate, training and test accuracy, read from the workdir's metrics.jsonl) and two numbers that say whether a run was
still learning when its learning rate was cut and whether it underfits; `curves` writes them to
curves_seed<S>.json and draws curves_seed<S>.png with `cnnjax viz curves`' figure.

Each epoch's test accuracy is logged by the training loop; the study reads it here to describe a run, never to
choose a setting (those are chosen on the validation split: `tune`).

A run whose records stop before its planned end (interrupted, or still training) has no final test accuracy: its
description says 'unfinished' (where its records end) and its curves are labelled so. The files in place are
inputs to check against (`outputs`): equal ones are left as they are, differing ones replaced only with `overwrite`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cnnjax.train.rng import check_seed
from experiments.progression import outputs
from experiments.progression.paths import shown
from experiments.progression.rows import ROWS, Row
from experiments.progression.runner import PACKAGE_DIR, WORKDIR_ROOT, workdir_path

CUT = 0.2  # "the learning rate was cut": it fell below this fraction of its peak (a step decay's /10, or a
# cosine's last fifth)


def describe(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's evaluations and: the epoch at which the learning rate first fell below CUT x its peak, the test
    accuracy gained over the last evaluation interval before that epoch (still learning when cut?), and the mean
    training accuracy of the last epoch's records (dropout and augmentation on) against the final test accuracy
    (underfitting when they are level)."""
    trained = [r for r in records if "learning_rate" in r]
    evaluations = [
        {k: r[k] for k in ("step", "epoch", "learning_rate", "train_accuracy", "test_accuracy") if k in r}
        for r in records
        if "test_accuracy" in r
    ]
    if not trained or not evaluations:
        raise ValueError(
            f"records: expected training and evaluation records, got {len(trained)} and {len(evaluations)}"
        )
    peak_at = max(range(len(trained)), key=lambda i: trained[i]["learning_rate"])
    peak = trained[peak_at]["learning_rate"]
    cut = next((r["epoch"] for r in trained[peak_at:] if r["learning_rate"] < CUT * peak), None)
    before = [e for e in evaluations if cut is None or e["epoch"] < cut]
    gain = before[-1]["test_accuracy"] - before[-2]["test_accuracy"] if len(before) >= 2 else None
    last_epoch = trained[-1]["epoch"]
    final_train = [r["train_accuracy"] for r in trained if r["epoch"] > last_epoch - 1 and "train_accuracy" in r]
    return {
        "evaluations": evaluations,
        "first_cut_epoch": cut,
        "test_accuracy_gain_before_cut": gain,
        "train_accuracy_last_epoch": sum(final_train) / len(final_train) if final_train else None,
        "test_accuracy_final": evaluations[-1]["test_accuracy"],
    }


def curves(
    seed: int = 0,
    rows: Mapping[str, Row] = ROWS,
    workdir_root: Path = WORKDIR_ROOT,
    out_dir: Path = PACKAGE_DIR,
    *,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """describe() of every trained row's (row, seed) workdir (rows without one are left out) -> out_dir/
    curves_seed<S>.json, and their curves in one figure -> out_dir/curves_seed<S>.png; returns the descriptions.

    An unfinished run's description has 'test_accuracy_final' None and 'unfinished': {'last_step', 'planned_steps'}.
    A curves_seed<S>.json in place that equals the new one is left as it is, with its figure.

    Raises:
      ValueError: a seed outside [0, 2**31), no workdir for the seed.
      outputs.Differs: curves_seed<S>.json in place differs and `overwrite` is not set (nothing is written).
    """
    check_seed(seed, "seed")
    workdirs = {name: workdir_path(name, seed, workdir_root) for name, row in rows.items() if row.kind == "cnn"}
    workdirs = {name: w for name, w in workdirs.items() if (w / "metrics.jsonl").is_file()}
    if not workdirs:
        raise ValueError(f"seed: no trained CNN row has a workdir for seed {seed} under {workdir_root}")
    from cnnjax.viz.cli import curves as curves_figure
    from cnnjax.viz.run import load_run

    runs = {name: load_run(w) for name, w in workdirs.items()}  # config.json and metrics.jsonl, read once
    described = {}
    for name, run in runs.items():
        run.require_records()
        try:
            description = describe(run.records)
        except ValueError as e:  # say which run: a row interrupted before its first evaluation
            raise ValueError(
                f"row {name} seed {seed} ({shown(workdirs[name])}): {e}: resume it with "
                f"`python -m experiments.progression run --row {name} --seed {seed}`"
            ) from e
        described[name] = {"workdir": shown(workdirs[name]), **description}
        if not run.finished:
            described[name] |= {
                "test_accuracy_final": None,
                "unfinished": {"last_step": run.records[-1]["step"], "planned_steps": run.planned_steps},
            }
    out_dir = Path(out_dir)
    path, figure_path = out_dir / f"curves_seed{seed}.json", out_dir / f"curves_seed{seed}.png"
    text = (
        json.dumps(
            {
                "command": f"python -m experiments.progression curves --seed {seed}",
                "cut_fraction": CUT,
                "rows": described,
            },
            indent=2,
        )
        + "\n"
    )
    if outputs.check(path, text, overwrite=overwrite, view=outputs.json_view()) == "unchanged" and figure_path.exists():
        log(f"curves: {path.name} and {figure_path.name} in {out_dir} are up to date; nothing written")
        return described
    outputs.write(path, text)
    [(_, figure, _)] = curves_figure(list(runs.values()))
    figure.savefig(figure_path, dpi=100)
    log(f"curves: wrote {path.name} and {figure_path.name} in {out_dir}")
    return described


def summary_line(name: str, described: Mapping[str, Any], command: str) -> str:
    """One line of `describe`'s numbers (and, for an unfinished run, where it stopped and `command` to resume)."""
    gain, cut = described["test_accuracy_gain_before_cut"], described["first_cut_epoch"]
    line = (
        f"{name}: lr below {CUT:g} x its peak {'never' if cut is None else f'at epoch {cut:.2f}'}; test accuracy "
        f"{'n/a' if gain is None else f'{100 * gain:+.1f}'} points in the interval before; training accuracy "
        f"{described['train_accuracy_last_epoch']:.3f} in the last epoch"
    )
    unfinished = described.get("unfinished")
    if unfinished is None:
        return f"{line}, test {described['test_accuracy_final']:.3f}"
    return (
        f"{line}; UNFINISHED: its records end at step {unfinished['last_step']} of "
        f"{unfinished['planned_steps']:g}, test {described['evaluations'][-1]['test_accuracy']:.3f} there "
        f"(resume: {command})"
    )
