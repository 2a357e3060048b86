"""The training step with glibc's malloc as `cnnjax.backend.configure` sets it (freed memory kept for reuse) and
with glibc's defaults, in alternating processes: milliseconds and minor page faults per step, peak resident memory.

    .venv/bin/python benchmarks/page_faults.py --workload resnet20 --rounds 4 \
        --json benchmarks/results/page_faults_resnet20.json

XLA:CPU allocates each call's temporary buffer with malloc and frees it when the call ends; under glibc's defaults
a block that large is mmapped and unmapped each time, so each call page-faults it in again (`cnnjax.backend`, "Host
memory"). Each round runs one process per arm (the order alternating): the step as benchmarks/run.py builds it, one
step per call, --warmup steps, then --steps timed steps. The "glibc defaults" arm sets
GLIBC_TUNABLES=glibc.malloc.tcache_count=7 (glibc's default value), which `configure` reads as the user's own malloc
settings and leaves alone. Prints and records the median over rounds of each arm's median step time and its minor
page faults per step, and the largest peak RSS of its processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable from any directory

from benchmarks.run import WORKLOADS, _machine, _random_dataset, build_setup

ARMS = {"retained": {}, "glibc defaults": {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=7"}}


def measure(workload_name: str, warmup: int, steps: int) -> dict:
    """One arm in this process: median ms per step and minor page faults per step after warm-up."""
    from cnnjax import backend

    configuration = backend.configure("fast")
    import jax

    workload = WORKLOADS[workload_name]
    dataset = _random_dataset(workload, workload.batch)
    setup = build_setup(workload, dataset, 1)
    batch = jax.device_put({"image": dataset.train.images, "label": dataset.train.labels})
    state = jax.jit(setup.init)()
    step = jax.jit(setup.train_step, donate_argnums=0)
    for _ in range(warmup):
        state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    times = []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        began = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - began)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {
        "ms_per_step": 1e3 * statistics.median(times),
        "minor_faults_per_step": faults / steps,
        "host_memory_retained": configuration["host_memory_retained"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", default="resnet20", choices=sorted(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one arm, in a child process
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.workload, args.warmup, args.steps)))
        return

    environment = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "CNNJAX_PROFILE")}
    command = [sys.executable, __file__, "--worker", "--workload", args.workload]
    command += ["--warmup", str(args.warmup), "--steps", str(args.steps)]
    runs: dict[str, list[dict]] = {name: [] for name in ARMS}
    for r in range(args.rounds):
        for name in list(ARMS) if r % 2 == 0 else list(ARMS)[::-1]:
            out = subprocess.run(command, env={**environment, **ARMS[name]}, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{name}: worker failed:\n{out.stderr[-3000:]}")
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            record = runs[name][-1]
            print(
                f"round {r} {name:15s} {record['ms_per_step']:8.1f} ms/step  "
                f"{record['minor_faults_per_step']:9.0f} faults/step  {record['peak_rss_mb']:6.0f} MB peak RSS",
                flush=True,
            )
    summary = {
        name: {
            "ms_per_step": statistics.median(rec["ms_per_step"] for rec in records),
            "minor_faults_per_step": statistics.median(rec["minor_faults_per_step"] for rec in records),
            "host_memory_retained": records[0]["host_memory_retained"],
            "peak_rss_mb": max(rec["peak_rss_mb"] for rec in records),
        }
        for name, records in runs.items()
    }
    ratio = summary["glibc defaults"]["ms_per_step"] / summary["retained"]["ms_per_step"]
    print(json.dumps(summary, indent=1))
    print(f"glibc defaults / retained: {ratio:.2f} (> 1: retained is faster)")
    if args.json:
        result = {
            "command": f"python benchmarks/page_faults.py --workload {args.workload} --rounds {args.rounds} "
            f"--warmup {args.warmup} --steps {args.steps} --json {args.json}",
            "machine": _machine(),
            "date": time.strftime("%Y-%m-%d"),
            "workload": args.workload,
            "summary": summary,
            "ratio_defaults_over_retained": ratio,
            "rounds": runs,
        }
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
