"""The study's command line: `python -m experiments.progression` from the repository root, or from any folder with
the repository root on PYTHONPATH (its default paths, results/, runs/progression/ and the rows' config files, are
the repository's whatever the working directory).

    python -m experiments.progression list
    python -m experiments.progression tune --row hog_svm          # -> results/hog_svm/tune.json
    python -m experiments.progression tune --row resnet --seed 0  # a CNN row's recipe on the validation split
    python -m experiments.progression tune --row resnet --config experiments/configs/resnet20s1_fashion_mnist.py
    python -m experiments.progression run --row hog_svm --seed 0  # -> results/hog_svm/seed0.json
    python -m experiments.progression run --row lenet5 --seed 0 --runlocal   # a smoke run of seconds
    python -m experiments.progression run --all                   # every (row, seed) without a result file
    python -m experiments.progression merge                       # -> results.json, results.md, error_vs_year.png
    python -m experiments.progression curves --seed 0             # -> curves_seed0.json, curves_seed0.png

`run` and `tune` compute under the numerics profile of --numerics (`cnnjax.backend.PROFILES`; default
$CNNJAX_PROFILE, else "portable": the fewest CPU-dependent paths) and record it in each file they write, with the
rest of the environment (`cnnjax.environment.fingerprint()`).

The committed files (result files, tune.json, results.json/.md, curves_seed<S>.json) are inputs to check against:
a command that computes one again compares it with the file in place and leaves an equal one as it is (e.g. `run`
on a (row, seed) that has a result file reports whether its numbers reproduce); one that differs is an error and
is kept, unless --overwrite. A result computed in an environment that differs from the file's in a field that
decides the bits (`cnnjax.environment.reproducibility_fields`: the profile, the CPU's ISA class and model, the
versions, ...), or checked against a file recorded without a fingerprint, is reported with both
numbers and the differing fields ('not comparable: ... differs'), not an error; the file is kept.

An interrupted CNN run (Ctrl-C, SIGTERM) saves a checkpoint and prints the command that resumes it (exit status
128 + the signal).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from cnnjax import backend, environment
from cnnjax.train import Interrupted
from experiments.progression import curves, descriptor, merge, outputs, runner
from experiments.progression.rows import ROWS, get_row

PROG = "python -m experiments.progression"
STUDY_PROFILE = "portable"  # the study's numerics unless --numerics or $CNNJAX_PROFILE names another
OVERWRITE = "replace a file in place that differs from the recomputed one (default: keep it, and fail)"
NUMERICS = (
    f"the numerics profile to compute under, a name of cnnjax.backend.PROFILES (default: $CNNJAX_PROFILE, "
    f"else {STUDY_PROFILE!r})"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the rows, their years and kinds")
    run = commands.add_parser("run", help="train (row, seed) pairs and write their result files")
    which = run.add_mutually_exclusive_group(required=True)
    which.add_argument("--row", choices=list(ROWS))
    which.add_argument("--all", action="store_true", help="every (row, seed) without a result file")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--workdir-root", type=Path, default=runner.WORKDIR_ROOT)
    run.add_argument("--results-dir", type=Path, default=runner.RESULTS_DIR)
    run.add_argument("--runlocal", action="store_true", help="a smoke run of seconds; its result stays in the workdir")
    run.add_argument("--overwrite", action="store_true", help=f"--row: {OVERWRITE}")
    run.add_argument("--numerics", default=None, help=NUMERICS)
    tune = commands.add_parser(
        "tune",
        help="a descriptor row's validation grid -> results/<row>/tune.json; a CNN "
        "row's recipe trained on the training images less the last 10,000 and evaluated on "
        "them -> results/<row>/validation_seed<S>.json",
    )
    tune.add_argument("--row", choices=list(ROWS), required=True)
    tune.add_argument("--seed", type=int, default=0, help="CNN rows")
    tune.add_argument(
        "--config",
        default=None,
        help="CNN rows: a candidate config file to run on the validation "
        "split instead of the row's (-> results/<row>/validation_<file stem>_seed<S>.json)",
    )
    tune.add_argument("--results-dir", type=Path, default=runner.RESULTS_DIR)
    tune.add_argument("--workdir-root", type=Path, default=runner.WORKDIR_ROOT, help="CNN rows")
    tune.add_argument("--runlocal", action="store_true", help="CNN rows: a smoke run of seconds, kept in the workdir")
    tune.add_argument(
        "--fresh", action="store_true", help="descriptor rows: refit every setting (else reuse those in tune.json)"
    )
    tune.add_argument("--overwrite", action="store_true", help=OVERWRITE)
    tune.add_argument("--numerics", default=None, help=NUMERICS)
    mrg = commands.add_parser("merge", help="results.json, results.md and error_vs_year.png from the result files")
    mrg.add_argument("--results-dir", type=Path, default=runner.RESULTS_DIR)
    mrg.add_argument("--out-dir", type=Path, default=runner.PACKAGE_DIR)
    mrg.add_argument("--overwrite", action="store_true", help=OVERWRITE)
    crv = commands.add_parser(
        "curves",
        help="each trained CNN row's evaluations for one seed, whether it was still "
        "learning when its learning rate was cut -> curves_seed<S>.json and .png",
    )
    crv.add_argument("--seed", type=int, default=0)
    crv.add_argument("--workdir-root", type=Path, default=runner.WORKDIR_ROOT)
    crv.add_argument("--out-dir", type=Path, default=runner.PACKAGE_DIR)
    crv.add_argument("--overwrite", action="store_true", help=OVERWRITE)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.command == "tune" and args.config is not None:
        if get_row(args.row).kind != "cnn":
            parser.error(
                f"--config: a candidate config is for CNN rows, got row {args.row!r} ({get_row(args.row).kind})"
            )
        if not Path(args.config).is_file():
            parser.error(f"--config: expected a config file, got {args.config!r} (no such file)")
        args.config = str(Path(args.config).absolute())  # the rows' configs are taken from the repository root
    if args.command == "run" and args.all and (args.runlocal or args.overwrite):
        parser.error(f"--{'runlocal' if args.runlocal else 'overwrite'}: applies to one --row, not --all")
    if args.command in ("run", "tune"):  # the commands that compute; before anything starts JAX
        try:
            profile = backend.choose_profile(args.numerics, default=STUDY_PROFILE)
        except ValueError as e:
            parser.error(str(e))
        backend.configure(profile)
    again = shlex.join([*PROG.split(), *argv])
    try:
        _command(args)
    except Interrupted as e:
        print(
            f"{PROG}: interrupted by {signal.Signals(e.signum).name} at step {e.step}, checkpoint saved in "
            f"{e.workdir / 'checkpoints'}; resume with: {again}",
            file=sys.stderr,
        )
        raise SystemExit(128 + e.signum) from None
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted (a CNN run resumes from its last checkpoint); run it again with: {again}",
            file=sys.stderr,
        )
        raise SystemExit(128 + signal.SIGINT) from None
    except outputs.Differs as e:
        print(f"{PROG} {args.command}: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except ValueError as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def _without_timings(text: str) -> dict[str, Any]:
    """A tune.json's settings and errors (its timings, environment and command line apart)."""
    tuned = json.loads(text)

    def record(r: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in r.items() if not k.endswith("_seconds")}

    return {
        "row": tuned.get("row"),
        "split": tuned.get("split"),
        "seed": tuned.get("seed"),
        "grid": [record(r) for r in tuned.get("grid", [])],
        "best": record(tuned.get("best", {})),
    }


def _command(args: argparse.Namespace) -> None:
    if args.command == "list":
        for row in ROWS.values():
            imagenet = "-" if row.imagenet is None else f"{row.imagenet.top5_error}%"
            print(f"{row.year}  {row.name:10s} {row.kind:15s} ImageNet top-5 {imagenet:6s} {row.model}")
    elif args.command == "run" and args.all:
        runner.run_all(workdir_root=args.workdir_root, results_dir=args.results_dir)
    elif args.command == "run":
        result = runner.run_one(
            get_row(args.row),
            args.seed,
            workdir_root=args.workdir_root,
            results_dir=args.results_dir,
            runlocal=args.runlocal,
            overwrite=args.overwrite,
        )
        print(
            f"{result['row']} seed {result['seed']}: test_error {result['test_error']:.4f} "
            f"({result['train_seconds']:.0f} s)"
        )
    elif args.command == "tune" and get_row(args.row).kind == "cnn":
        result = runner.validate_one(
            get_row(args.row),
            args.seed,
            config_file=args.config,
            workdir_root=args.workdir_root,
            results_dir=args.results_dir,
            runlocal=args.runlocal,
            overwrite=args.overwrite,
        )
        print(
            f"tune: {args.row} seed {args.seed}: validation_error {result['validation_error']:.4f} "
            f"({result['train_seconds']:.0f} s)"
        )
    elif args.command == "tune":
        from cnnjax.data import load_dataset

        data = load_dataset("fashion_mnist")
        path = Path(args.results_dir) / args.row / "tune.json"
        previous = None if args.fresh or not path.exists() else json.loads(path.read_text())
        grid = descriptor.tune(data.train.images, data.train.labels, previous=previous)
        text = (
            json.dumps(
                {
                    "row": args.row,
                    "command": f"{PROG} tune --row {args.row}",
                    "environment": environment.fingerprint(),
                    **grid,
                },
                indent=2,
            )
            + "\n"
        )
        write, found = outputs.check_reproduction(
            path, text, overwrite=args.overwrite, view=_without_timings, label=f"tune --row {args.row}"
        )
        if write:
            outputs.write(path, text)
            print(f"tune: best {grid['best']} -> {path}")
        else:
            print(f"tune: best {grid['best']}; {found}")
    elif args.command == "merge":
        summaries = merge.merge(results_dir=args.results_dir, out_dir=args.out_dir, overwrite=args.overwrite)
        for s in summaries:
            print(
                f"{s['year']} {s['row']}: {100 * s['test_error_mean']:.2f} ± {100 * s['test_error_std']:.2f} % "
                f"over seeds {s['seeds']}"
            )
    elif args.command == "curves":
        described = curves.curves(
            args.seed, workdir_root=args.workdir_root, out_dir=args.out_dir, overwrite=args.overwrite
        )
        elsewhere = "" if args.workdir_root == runner.WORKDIR_ROOT else f" --workdir-root {args.workdir_root}"
        for name, d in described.items():
            print(curves.summary_line(name, d, get_row(name).command(args.seed) + elsewhere))


if __name__ == "__main__":
    main()
