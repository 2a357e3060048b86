"""The study's command line (run from the repository root).

    python -m experiments.progression list
    python -m experiments.progression tune --row hog_svm          # -> results/hog_svm/tune.json
    python -m experiments.progression tune --row resnet --seed 0  # a CNN row's recipe on the validation split
    python -m experiments.progression tune --row resnet --config experiments/configs/resnet20s1_fashion_mnist.py
    python -m experiments.progression run --row hog_svm --seed 0  # -> results/hog_svm/seed0.json
    python -m experiments.progression run --row lenet5 --seed 0 --runlocal   # a smoke run of seconds
    python -m experiments.progression run --all                   # every (row, seed) without a result file
    python -m experiments.progression merge                       # -> results.json, results.md, error_vs_year.png
    python -m experiments.progression curves --seed 0             # -> curves_seed0.json, curves_seed0.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cnnjax import backend
from experiments.progression import curves, descriptor, merge, runner
from experiments.progression.rows import ROWS, get_row


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.progression", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    tune = commands.add_parser("tune", help="a descriptor row's validation grid -> results/<row>/tune.json; a CNN "
                               "row's recipe trained on the training images less the last 10,000 and evaluated on "
                               "them -> results/<row>/validation_seed<S>.json")
    tune.add_argument("--row", choices=list(ROWS), required=True)
    tune.add_argument("--seed", type=int, default=0, help="CNN rows")
    tune.add_argument("--config", default=None, help="CNN rows: a candidate config file to run on the validation "
                      "split instead of the row's (-> results/<row>/validation_<file stem>_seed<S>.json)")
    tune.add_argument("--results-dir", type=Path, default=runner.RESULTS_DIR)
    tune.add_argument("--workdir-root", type=Path, default=runner.WORKDIR_ROOT, help="CNN rows")
    tune.add_argument("--runlocal", action="store_true", help="CNN rows: a smoke run of seconds, kept in the workdir")
    tune.add_argument("--fresh", action="store_true", help="descriptor rows: refit every setting (else reuse those "
                      "in tune.json)")
    mrg = commands.add_parser("merge", help="results.json, results.md and error_vs_year.png from the result files")
    mrg.add_argument("--results-dir", type=Path, default=runner.RESULTS_DIR)
    mrg.add_argument("--out-dir", type=Path, default=runner.PACKAGE_DIR)
    crv = commands.add_parser("curves", help="each trained CNN row's evaluations for one seed, whether it was still "
                              "learning when its learning rate was cut -> curves_seed<S>.json and .png")
    crv.add_argument("--seed", type=int, default=0)
    crv.add_argument("--workdir-root", type=Path, default=runner.WORKDIR_ROOT)
    crv.add_argument("--out-dir", type=Path, default=runner.PACKAGE_DIR)
    return parser


def main(argv: list[str] | None = None) -> None:
    backend.configure()  # $CNNJAX_PROFILE, else "fast": before anything starts JAX
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "tune" and args.config is not None:
        if get_row(args.row).kind != "cnn":
            parser.error(f"--config: a candidate config is for CNN rows, got row {args.row!r} "
                         f"({get_row(args.row).kind})")
        if not Path(args.config).is_file():
            parser.error(f"--config: expected a config file, got {args.config!r} (no such file)")
    if args.command == "list":
        for row in ROWS.values():
            imagenet = "-" if row.imagenet is None else f"{row.imagenet.top5_error}%"
            print(f"{row.year}  {row.name:10s} {row.kind:15s} ImageNet top-5 {imagenet:6s} {row.model}")
    elif args.command == "run" and args.all:
        if args.runlocal:
            raise SystemExit("run: --runlocal applies to one --row, not --all")
        runner.run_all(workdir_root=args.workdir_root, results_dir=args.results_dir)
    elif args.command == "run":
        result = runner.run_one(get_row(args.row), args.seed, workdir_root=args.workdir_root,
                                results_dir=args.results_dir, runlocal=args.runlocal)
        print(f"{result['row']} seed {result['seed']}: test_error {result['test_error']:.4f} "
              f"({result['train_seconds']:.0f} s)")
    elif args.command == "tune" and get_row(args.row).kind == "cnn":
        result = runner.validate_one(get_row(args.row), args.seed, config_file=args.config,
                                     workdir_root=args.workdir_root,
                                     results_dir=args.results_dir, runlocal=args.runlocal)
        print(f"tune: {args.row} seed {args.seed}: validation_error {result['validation_error']:.4f} "
              f"({result['train_seconds']:.0f} s)")
    elif args.command == "tune":
        from cnnjax.data import load_dataset

        data = load_dataset("fashion_mnist")
        path = Path(args.results_dir) / args.row / "tune.json"
        previous = None if args.fresh or not path.exists() else json.loads(path.read_text())
        grid = descriptor.tune(data.train.images, data.train.labels, previous=previous)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"row": args.row, "command": f"python -m experiments.progression tune --row "
                                    f"{args.row}", "versions": runner.versions(), **grid}, indent=2) + "\n")
        print(f"tune: best {grid['best']} -> {path}")
    elif args.command == "merge":
        summaries = merge.merge(results_dir=args.results_dir, out_dir=args.out_dir)
        for s in summaries:
            print(f"{s['year']} {s['row']}: {100 * s['test_error_mean']:.2f} ± {100 * s['test_error_std']:.2f} % "
                  f"over seeds {s['seeds']}")
        print(f"merge: wrote results.json, results.md, error_vs_year.png in {args.out_dir}")
    elif args.command == "curves":
        try:
            described = curves.curves(args.seed, workdir_root=args.workdir_root, out_dir=args.out_dir)
        except ValueError as e:
            parser.error(str(e))
        for name, d in described.items():
            gain = d["test_accuracy_gain_before_cut"]
            cut = "never" if d["first_cut_epoch"] is None else f"at epoch {d['first_cut_epoch']:.2f}"
            print(f"{name}: lr below {curves.CUT:g} x its peak {cut}; test accuracy "
                  f"{'n/a' if gain is None else f'{100 * gain:+.1f}'} points in the interval before; training "
                  f"accuracy {d['train_accuracy_last_epoch']:.3f} in the last epoch, test {d['test_accuracy_final']:.3f}")
        print(f"curves: wrote curves_seed{args.seed}.json and .png in {args.out_dir}")


if __name__ == "__main__":
    main()
