"""`cnnjax train` against its bare training step: what the loop (data loading, host transfers, metrics, logging,
checkpoints) costs on top of the compiled step.

    .venv/bin/python benchmarks/cli_overhead.py --json benchmarks/results/cli_overhead.json

Runs the main job's command for --epochs in a fresh workdir and takes the training img/s the run itself recorded
(each record's `images_per_sec` counts the steps since the previous record, evaluation and compilation excluded;
the median over records). Alternates with timing the same config's step as the loop compiles it (`build` ->
`train_step`, grouped into calls of Setup.steps_per_call) on batches already on the device. Run it on an otherwise
idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_images_per_sec(args: list[str], workdir: Path) -> tuple[float, float]:
    """(median recorded training img/s, wall seconds) of `cnnjax train <args> --workdir workdir`."""
    command = [sys.executable, "-m", "cnnjax.cli", "train", *args, "--workdir", str(workdir)]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["images_per_sec"] for r in records if r.get("images_per_sec")), wall


def bare_step_timer(config_args: list[str], calls: int) -> tuple[Callable[[], float], int]:
    """(a function timing `calls` calls -> img/s, steps per call) of the config's compiled step on device-resident
    batches."""
    import argparse as ap

    import jax

    from cnnjax import cli
    from cnnjax.train import build, load_dataset, unrolled

    parser = ap.ArgumentParser()
    cli.add_train_parser(parser.add_subparsers())
    parsed, extra = parser.parse_known_args(["train", *config_args])
    config = cli.build_train_config(parsed, extra)  # as `cnnjax train` builds it
    dataset = load_dataset(config)
    setup = build(config, dataset)
    k, n = setup.steps_per_call, config.batch_size
    batches = [
        jax.device_put(
            {"image": dataset.train.images[i * n : (i + 1) * n], "label": dataset.train.labels[i * n : (i + 1) * n]}
        )
        for i in range(k)
    ]
    step = jax.jit(setup.train_step if k == 1 else unrolled(setup.train_step, k), donate_argnums=0)
    state = jax.jit(setup.init)()
    state, metrics = step(state, *batches)
    jax.block_until_ready(metrics)

    def timed() -> float:
        nonlocal state
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            state, metrics = step(state, *batches)
            jax.block_until_ready(metrics)
            times.append(time.perf_counter() - start)
        return k * n / statistics.median(times)

    return timed, k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--calls", type=int, default=60, help="timed calls of the bare step")
    parser.add_argument("--rounds", type=int, default=5, help="alternated (cnnjax train, bare step) pairs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from cnnjax import backend

    backend.configure()  # $CNNJAX_PROFILE, else "fast", as the `cnnjax train` it is compared with
    train_args = ["--model", args.model, "--dataset", args.dataset, "--epochs", str(args.epochs)]
    bare_timer, k = bare_step_timer(train_args, args.calls)
    rounds = []
    for _ in range(args.rounds):  # alternated: the machine's speed drifts by ~10% between minutes
        workdir = Path(tempfile.mkdtemp(prefix="cli_overhead_"))
        try:
            cli, wall = cli_images_per_sec(train_args, workdir / "run")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        bare = bare_timer()
        rounds.append({"cli_img_per_s": cli, "cli_wall_s": wall, "bare_step_img_per_s": bare, "ratio": cli / bare})
        print(
            f"cnnjax train: {cli:.0f} img/s (recorded, median)   bare step: {bare:.0f} img/s (k={k})   "
            f"ratio {cli / bare:.3f}",
            flush=True,
        )
    ratio = statistics.median(r["ratio"] for r in rounds)
    result = {
        "command": "cnnjax train " + " ".join(train_args),
        "steps_per_call": k,
        "rounds": rounds,
        "cli_over_bare_median": ratio,
        "loadavg": os.getloadavg(),
    }
    print(f"median ratio over {args.rounds} alternated rounds: {ratio:.3f}   load {result['loadavg'][0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
