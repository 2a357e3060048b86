"""Reproducibility studies: one config trained with several seeds, summarised with scipy's statistics, checked by
reruns and other device and process counts, and compared with another study.

    cnnjax repro experiments/configs/lenet5_fashion_mnist.py --seeds 0-4 --check rerun --check devices:8
    cnnjax repro compare runs/repro/a runs/repro/b
    cnnjax repro diff runs/repro/a/seed_0 runs/repro/b/seed_0

`study` runs the seeds (each a `cnnjax train` child process in its own workdir, resumable), `checks` the rerun,
devices and processes checks with their tolerances, `stats` the summaries and comparisons (scipy), `report` the
report files and figure, `cli` the command. Needs the 'viz' extra (matplotlib) for the figure; `import cnnjax`
does not import this package.
"""

from cnnjax.repro.checks import ROUNDING_RTOL, SPREAD_STDS, run_check, tolerances
from cnnjax.repro.report import compare_reports, read_report, write_report
from cnnjax.repro.stats import Comparison, Summary, compare, higher_is_better, summarize
from cnnjax.repro.study import (
    Check,
    Run,
    Stopped,
    Study,
    TrainingFailed,
    open_study,
    parse_check,
    parse_checks,
    parse_seeds,
    read_run,
    train_seeds,
)

__all__ = [
    "ROUNDING_RTOL",
    "SPREAD_STDS",
    "Check",
    "Comparison",
    "Run",
    "Stopped",
    "Study",
    "Summary",
    "TrainingFailed",
    "compare",
    "compare_reports",
    "higher_is_better",
    "open_study",
    "parse_check",
    "parse_checks",
    "parse_seeds",
    "read_report",
    "read_run",
    "run_check",
    "summarize",
    "tolerances",
    "train_seeds",
    "write_report",
]
