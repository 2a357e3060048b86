"""The training step's img/s of config files, as `cnnjax train` compiles it, on device-resident batches, and the
epochs that fit a time budget: how the progression study's rows size their runs.

    .venv/bin/python benchmarks/config_speed.py experiments/configs/alexnet_fashion_mnist.py ... --budget 1300

Run it on an otherwise idle machine. Each config: compile, then --rounds x --calls timed calls (median per round);
the epochs printed are floor(budget x img/s / training examples), the step's time only (evaluations, checkpoints
and the loop add ~10-15%).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from cli_overhead import bare_step_timer

from cnnjax import backend

TRAIN_EXAMPLES = 60_000  # Fashion-MNIST's training split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", metavar="FILE[:ARG]")
    parser.add_argument("--budget", type=float, default=1300.0, help="seconds of training steps per run")
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    backend.configure()  # $CNNJAX_PROFILE, else "fast", as `cnnjax train`: before JAX starts
    results = []
    for config in args.configs:
        timer, k = bare_step_timer(["--config", config], calls=args.calls)
        rounds = [timer() for _ in range(args.rounds)]
        speed = statistics.median(rounds)
        epochs = int(args.budget * speed / TRAIN_EXAMPLES)
        results.append(
            {
                "config": config,
                "img_per_s": speed,
                "rounds": rounds,
                "steps_per_call": k,
                "epochs_in_budget": epochs,
                "budget_s": args.budget,
            }
        )
        print(
            f"{config}: {speed:.0f} img/s (rounds {[round(r) for r in rounds]}, k={k}) -> {epochs} epochs in "
            f"{args.budget:.0f} s",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps({"results": results, "backend": backend.configuration()}, indent=1) + "\n")


if __name__ == "__main__":
    main()
