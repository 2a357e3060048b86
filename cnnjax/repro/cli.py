"""`cnnjax repro`: a reproducibility study of one config over seeds, `cnnjax repro compare` of two studies, and
`cnnjax repro diff` of two runs' environments.

`main(argv)` runs the arguments after `cnnjax repro` (cnnjax/cli.py registers the subcommand); the first word picks
the command: compare, diff, else a study.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

STUDY_EPILOG = """\
checks (on the first seed; repeatable):
  rerun         the same training in a fresh workdir must give identical variables, final metrics and records
  devices:N     the training on N emulated CPU devices: its largest relative parameter and metric differences
                against the seed's run must stay within the tolerances (parameters: nearer than any other seed's
                run; metrics: 4 std of the seeds' values); needs 2 or more seeds
  processes:N   the same with N local processes joined by jax.distributed on 127.0.0.1

Each seed trains in STUDY/seed_<S>/ (a `cnnjax train` child process, the command is in the report); a finished
seed is skipped and an interrupted one resumes, so the same command continues a study. A folder holding a study
of another config or profile is refused. The report: STUDY/report.md, report.json, curves.png. Exit status 0
when every check passed, 1 when one failed or a training failed, 2 for a bad command line, 128+N when stopped by
signal N.

examples:
  cnnjax repro experiments/configs/lenet5_fashion_mnist.py --seeds 0-4 --check rerun --check devices:8
  cnnjax repro experiments/configs/lenet5_fashion_mnist.py:runlocal --seeds 0,1 --config.optimizer.lr=0.01
  cnnjax repro compare runs/repro/lenet5_a runs/repro/lenet5_b
  cnnjax repro diff runs/repro/lenet5_fashion_mnist/seed_0 runs/lenet5_other_machine
"""


def study_parser() -> argparse.ArgumentParser:
    from cnnjax.repro.study import DEFAULT_NUMERICS, DEFAULT_ROOT

    p = argparse.ArgumentParser(
        prog="cnnjax repro",
        epilog=STUDY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        description="Train one config with several seeds, then report per-seed final metrics, mean ± std, a 95% "
        "bootstrap confidence interval, min/max, learning curves and the environment's fingerprint. Also: "
        "`cnnjax repro compare STUDY_A STUDY_B`, `cnnjax repro diff RUN_A RUN_B` (--help on each).",
    )
    p.add_argument(
        "config",
        metavar="CONFIG[:ARG]",
        help="a config file with get_config(), ':ARG' one of its ARGS, "
        "e.g. experiments/configs/lenet5_fashion_mnist.py:runlocal",
    )
    p.add_argument("--seeds", required=True, help="the seeds: '0-4', '0,2,5', '3' (ranges and seeds may be mixed)")
    p.add_argument(
        "--out", metavar="STUDY_DIR", help=f"the study folder (default: {DEFAULT_ROOT}/<config file stem>[_<ARG>])"
    )
    p.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="CHECK",
        help="rerun, devices:N or processes:N (repeatable; see below)",
    )
    p.add_argument(
        "--numerics",
        metavar="PROFILE",
        help="the trainings' numerics profile, a row of cnnjax.backend.PROFILES (default: the config's "
        f"numerics, else $CNNJAX_PROFILE, else {DEFAULT_NUMERICS}: the fewest CPU-dependent paths)",
    )
    return p


def compare_parser() -> argparse.ArgumentParser:
    from cnnjax.repro.study import DEFAULT_ROOT

    p = argparse.ArgumentParser(
        prog="cnnjax repro compare",
        allow_abbrev=False,
        description="Compare two studies on one metric: the difference of means with its 95% bootstrap interval, "
        "Welch's t-test p-value and the probability that A beats B on a random pair of seeds. Prints a table and "
        "writes compare.json and compare.md. Reads each study's report.json.",
    )
    p.add_argument("study_a", metavar="STUDY_A", help="a study folder (with report.json)")
    p.add_argument("study_b", metavar="STUDY_B", help="another study folder")
    p.add_argument(
        "--metric",
        help="a final metric of both, e.g. test_loss (default: A's main metric); accuracy, iou "
        "and psnr metrics are better higher, loss, mse and error metrics lower",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help=f"where compare.json/md go (default: {DEFAULT_ROOT}/compare/<A folder name>_vs_<B folder name>)",
    )
    return p


def diff_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cnnjax repro diff",
        allow_abbrev=False,
        description="Which settings and environment fields (CPU model, ISA class, cores, devices, versions, XLA "
        "flags, numerics profile, git commit) differ between two training runs, read from their config.json and "
        "manifest.json. Exit status 0 when none differ, 1 when some do, 2 for an error.",
    )
    p.add_argument("run_a", metavar="RUN_A", help="a training workdir")
    p.add_argument("run_b", metavar="RUN_B", help="another training workdir")
    p.add_argument(
        "--bits",
        action="store_true",
        help="only the environment fields that decide a run's bits (cnnjax.environment.reproducibility_fields)",
    )
    return p


def _error(command: str, error: Exception) -> None:
    print(f"cnnjax repro{command}: error: {error}", file=sys.stderr)


def study(argv: Sequence[str]) -> int:
    """Runs a study; returns the exit status."""
    from cnnjax.repro import checks as checklib
    from cnnjax.repro import report as reportlib
    from cnnjax.repro.study import (
        Stopped,
        TrainingFailed,
        open_study,
        parse_checks,
        parse_seeds,
        read_run,
        train_seeds,
    )

    args, overrides = study_parser().parse_known_args(argv)
    try:
        checks = parse_checks(args.check)
        the_study = open_study(
            args.config, parse_seeds(args.seeds), overrides=overrides, numerics=args.numerics, folder=args.out
        )
        checklib.check_checks(the_study, checks)
    except (ValueError, TypeError) as e:
        _error("", e)
        return 2
    command = shlex.join(["cnnjax", "repro", *argv])
    try:
        train_seeds(the_study)
        runs = {seed: read_run(the_study.workdir(seed)) for seed in the_study.seeds}
        outcomes = [checklib.run_check(the_study, check, runs) for check in checks]
        report = reportlib.write_report(the_study, runs, outcomes, command)
    except Stopped as e:
        print(f"cnnjax repro: {e}", file=sys.stderr)
        return 128 + e.signum
    except (TrainingFailed, ValueError, OSError) as e:
        _error("", e)
        return 1
    main, summary = report["main_metric"], report["summary"][report["main_metric"]]
    ci = summary["ci95"]
    if summary["mean"] is None:
        print(f"{main}: not finite in {summary['not_finite']} of {summary['n']} seeds")
    else:
        print(
            f"{main}: {summary['mean']:.4f} ± {summary['std'] or 0:.4f} over {summary['n']} seeds"
            + ("" if ci is None else f", 95% CI [{ci[0]:.4f}, {ci[1]:.4f}]")
        )
    for outcome in outcomes:
        print(f"check {outcome['check']}: {'passed' if outcome['passed'] else 'FAILED'}")
    print(f"report: {the_study.folder / reportlib.REPORT_MD}")
    return 0 if all(outcome["passed"] for outcome in outcomes) else 1


def compare(argv: Sequence[str]) -> int:
    from cnnjax.repro import report as reportlib
    from cnnjax.repro.study import DEFAULT_ROOT

    args = compare_parser().parse_args(argv)
    try:
        a, b = reportlib.read_report(args.study_a), reportlib.read_report(args.study_b)
        result = reportlib.compare_reports(a, b, args.metric, folders=(args.study_a, args.study_b))
    except (ValueError, TypeError) as e:
        _error(" compare", e)
        return 2
    out = (
        Path(args.out)
        if args.out
        else DEFAULT_ROOT / "compare" / (f"{Path(args.study_a).resolve().name}_vs_{Path(args.study_b).resolve().name}")
    )
    print(reportlib.compare_table(result))
    try:
        paths = reportlib.write_compare(result, out, shlex.join(["cnnjax", "repro", "compare", *argv]))
    except OSError as e:
        _error(" compare", e)
        return 1
    print(f"written: {', '.join(map(str, paths))}")
    return 0


def diff(argv: Sequence[str]) -> int:
    from cnnjax.train import resume

    args = diff_parser().parse_args(argv)
    try:
        found = resume.run_differences(args.run_a, args.run_b, reproducibility_only=args.bits)
    except (ValueError, TypeError) as e:
        _error(" diff", e)
        return 2
    what = (
        "the settings and the environment fields that decide the bits"
        if args.bits
        else "the settings and the environment"
    )
    print("\n".join(found) if found else f"no differences in {what}")
    return 1 if found else 0


COMMANDS = {"compare": compare, "diff": diff}


def main(argv: Sequence[str]) -> int:
    """`cnnjax repro ARGV...`: compare, diff, else a study; returns the exit status."""
    try:
        import matplotlib  # noqa: F401  (the report's figure)
    except ImportError:
        print(
            "cnnjax repro: error: the study report's figure needs matplotlib: pip install 'cnnjax[viz]'",
            file=sys.stderr,
        )
        return 2
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    return study(argv)
