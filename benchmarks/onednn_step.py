"""The whole training step with and without the oneDNN convolution (`cnnjax.functional.onednn`), alternated in one
process under the "fast" profile: the step as benchmarks/run.py builds it (SGD momentum, batch norm in training
mode, random data), compiled once with the custom calls and once with conv's oneDNN route switched off (XLA's
oneDNN rewriter and the Eigen kernel gradient, what "fast" runs where the extension is not built).

    .venv/bin/python benchmarks/onednn_step.py --workload resnet20 --rounds 6
    .venv/bin/python benchmarks/onednn_step.py --workload lenet5 --rounds 6

Prints the number of oneDNN custom calls in each compiled step, the median step time of each over --rounds rounds
of --steps steps (the order alternating every round) and lax / oneDNN (> 1: the oneDNN route is faster).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable from any directory


from benchmarks.run import WORKLOADS, _random_dataset, build_setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--workload", default="resnet20", choices=sorted(WORKLOADS), help="a workload of benchmarks/run.py"
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    from cnnjax import backend

    backend.configure("fast")
    import jax

    conv_module = importlib.import_module("cnnjax.functional.conv")
    workload = WORKLOADS[args.workload]
    dataset = _random_dataset(workload, workload.batch)
    setup = build_setup(workload, dataset, 1)
    n = workload.batch
    batch = jax.device_put({"image": dataset.train.images[:n], "label": dataset.train.labels[:n]})

    def compiled(onednn: bool):
        """The step compiled with or without conv's oneDNN route, its initial state and its custom-call count."""
        jax.clear_caches()  # retrace: the route is chosen when tracing
        route = conv_module._onednn_route
        if not onednn:
            conv_module._onednn_route = lambda *args, **kwargs: False
        try:
            state = jax.jit(setup.init)()
            step = jax.jit(setup.train_step, donate_argnums=0).lower(state, batch).compile()
        finally:
            conv_module._onednn_route = route
        return step, state, step.as_text().count("cnnjax_onednn")

    runs = {}
    for name, onednn in (("onednn", True), ("lax", False)):
        step, state, calls = compiled(onednn)
        for _ in range(3):  # warm-up
            state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        runs[name] = [step, state, []]
        print(f"{name}: {calls} oneDNN custom calls in the compiled step", flush=True)
    for r in range(args.rounds):
        for name in ("onednn", "lax") if r % 2 == 0 else ("lax", "onednn"):
            step, state, times = runs[name]
            for _ in range(args.steps):
                began = time.perf_counter()
                state, metrics = step(state, batch)
                jax.block_until_ready(metrics)
                times.append(time.perf_counter() - began)
            runs[name][1] = state
    medians = {name: statistics.median(times) for name, (_, _, times) in runs.items()}
    for name, median in medians.items():
        print(f"{args.workload} {name}: {1e3 * median:.1f} ms per step, {workload.batch / median:,.0f} img/s")
    print(f"lax / oneDNN step time: {medians['lax'] / medians['onednn']:.3f}")


if __name__ == "__main__":
    main()
