"""The kernel-gradient route of `cnnjax.functional.conv` against plain `lax.conv_general_dilated` derivatives, in
the library's training step, alternated in one process (ratios are meaningful on a shared machine).

    .venv/bin/python benchmarks/conv_route.py --workload resnet20

Runs under the "fast" backend profile (`cnnjax.backend`), whose flags send convolutions to oneDNN. 'lax': conv
differentiated by JAX's own rules (the kernel gradient then goes to oneDNN too); 'cnnjax': the library's conv
(kernel gradient routed to Eigen). Prints the median ms per step of each and their ratio, and how many convolutions
oneDNN runs in each compiled step.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import run as bench  # (benchmarks/run.py: workloads and the cnnjax side's config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", default="resnet20", choices=sorted(bench.WORKLOADS))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()

    from cnnjax import backend

    backend.configure("fast")  # the route is the "fast" profile's; before JAX starts

    import jax

    conv = importlib.import_module("cnnjax.functional.conv")
    routed = conv._conv
    workload = bench.WORKLOADS[args.workload]
    dataset = bench._random_dataset(workload, workload.batch)
    batch = jax.device_put({"image": dataset.train.images, "label": dataset.train.labels})
    steps = {}
    for name, impl in (("lax", conv._lax_conv), ("cnnjax", routed)):
        conv._conv = impl  # the module-level function conv() calls
        setup = bench.build_setup(workload, dataset, steps_per_call=1)
        state = jax.jit(setup.init)()
        compiled = jax.jit(setup.train_step, donate_argnums=0).lower(state, batch).compile()
        onednn = compiled.as_text().count("__onednn$convolution")
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
        steps[name] = [compiled, state, [], onednn]
    conv._conv = routed
    for r in range(args.rounds):
        for name in list(steps) if r % 2 == 0 else list(steps)[::-1]:
            entry = steps[name]
            for _ in range(args.calls):
                start = time.perf_counter()
                entry[1], metrics = entry[0](entry[1], batch)
                jax.block_until_ready(metrics)
                entry[2].append(time.perf_counter() - start)
    ms = {name: 1e3 * statistics.median(entry[2]) for name, entry in steps.items()}
    print(f"{args.workload}, batch {workload.batch}, load {os.getloadavg()[0]:.2f}")
    for name, entry in steps.items():
        print(f"  {name:7s} {ms[name]:8.1f} ms per step   oneDNN convolutions in the step: {entry[3]}")
    print(f"  cnnjax / lax step time: {ms['cnnjax'] / ms['lax']:.3f}")


if __name__ == "__main__":
    main()
