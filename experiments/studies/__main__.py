"""The studies' command line: `python -m experiments.studies` from the repository root (or with it on PYTHONPATH).

    python -m experiments.studies list
    python -m experiments.studies run xor                 # trains what is missing, measures, writes the results
    python -m experiments.studies run fc_vs_conv --seeds 0-4
    python -m experiments.studies report fc_vs_conv       # the README's tables and the figure from results.json

`run` computes under the numerics profile of --numerics (default $CNNJAX_PROFILE, else "portable") and records the
environment's fingerprint in results.json. A committed results.json is an input to check against: when `run`
computes the same numbers it says "reproduced" and leaves the file as it is; when they differ it keeps the file and
names the differing numbers and the environment fields that decide the bits (exit status 1), unless --overwrite.
Trainings go to runs/studies/<name>/ (resumable: finished seeds are skipped).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from types import ModuleType

from cnnjax import backend
from experiments.progression.outputs import first_difference
from experiments.studies import common

STUDIES = (
    "xor",
    "fc_vs_conv",
    "loss",
    "regularisers",
    "dropout",
    "pooling",
    "normalisation",
    "activations",
    "depth",
    "pretraining",
    "filters",
)


def _study(name: str) -> ModuleType:
    return importlib.import_module(f"experiments.studies.{name}.study")


def _numbers(results: dict) -> str:
    """The results without the environment, as compared between runs."""
    return json.dumps({k: v for k, v in results.items() if k != "environment"}, sort_keys=True)


def run(name: str, seeds: str | None, overwrite: bool) -> int:
    from cnnjax import environment
    from cnnjax.repro import parse_seeds

    study, out_dir = _study(name), common.STUDIES_DIR / name
    results = study.run(parse_seeds(seeds or study.SEEDS), f"runs/studies/{name}")
    results = {**json.loads(json.dumps(results)), "environment": environment.fingerprint()}
    if (out_dir / common.RESULTS_JSON).is_file() and not overwrite:
        committed = common.read_results(out_dir)
        if _numbers(committed) == _numbers(results):
            print(f"{name}: reproduced: the numbers equal {out_dir / common.RESULTS_JSON} bit for bit")
            return 0
        fields = environment.reproducibility_differences(committed["environment"], results["environment"])
        why = f"the environments differ in {fields}" if fields else "the environments agree in every field"
        where = first_difference(json.loads(_numbers(committed)), json.loads(_numbers(results)))
        print(
            f"{name}: not reproduced: {out_dir / common.RESULTS_JSON} differs ({where}; {why}); the file is kept: "
            "--overwrite replaces it",
            file=sys.stderr,
        )
        return 1
    common.write_results(out_dir, results)
    study.write(results, out_dir)
    print(f"{name}: wrote {out_dir / common.RESULTS_JSON}, README.md and the figure")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.studies", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the studies")
    run_parser = commands.add_parser("run", help="train what is missing, measure, write results.json and README")
    run_parser.add_argument("name", choices=STUDIES)
    run_parser.add_argument("--seeds", help="seeds as for cnnjax repro ('0-4'); default: the study's")
    run_parser.add_argument("--numerics", help="a row of cnnjax.backend.PROFILES (default: portable)")
    run_parser.add_argument("--overwrite", action="store_true", help="replace a results.json that differs")
    report_parser = commands.add_parser("report", help="the README's tables and the figure from results.json")
    report_parser.add_argument("name", choices=STUDIES)
    args = parser.parse_args(argv)
    if args.command == "list":
        for name in STUDIES:
            print(f"{name}: {_study(name).__doc__.splitlines()[0]}")
        return 0
    try:
        backend.configure(backend.choose_profile(getattr(args, "numerics", None), default="portable"))
        if args.command == "run":
            return run(args.name, args.seeds, args.overwrite)
        _study(args.name).write(common.read_results(common.STUDIES_DIR / args.name), common.STUDIES_DIR / args.name)
        return 0
    except (ValueError, RuntimeError) as e:
        print(f"python -m experiments.studies: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
