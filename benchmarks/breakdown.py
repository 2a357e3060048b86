"""Where a training step's time goes, by ablation: the library's step and its parts, alternated in one process.

    .venv/bin/python benchmarks/breakdown.py --workload resnet20 --json benchmarks/results/breakdown_resnet20.json

Timed (median per training step, all compiled with jit, the state donated where it is updated):
  forward           the loss in training mode (batch statistics), no gradient
  + input grads     the gradient with respect to the images only: the forward and the backward chain through
                    every layer's activations, no kernel gradients
  + kernel grads    the gradient with respect to the parameters: everything backward
  step, 1 per call  the library's whole step (augmentation, loss, gradients, optimiser, metrics, finite checks)
  step, k per call  the same with Setup.steps_per_call steps unrolled per call (the library's default)
Differences of consecutive lines estimate: input-gradient chain, kernel gradients, optimiser + metrics, and the
per-call dispatch saved by unrolling. Same workloads, optimiser and data as benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2, help="timed calls per part per round")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from cnnjax import backend

    backend.configure()  # $CNNJAX_PROFILE, else "fast": before JAX starts

    import jax
    import jax.numpy as jnp

    from cnnjax.train import unrolled

    workload = bench.WORKLOADS[args.workload]
    dataset = bench._random_dataset(workload, 2 * workload.batch)
    setup = bench.build_setup(workload, dataset)
    k = setup.steps_per_call
    state = jax.jit(setup.init)()
    batch = jax.device_put(
        {"image": dataset.train.images[: workload.batch], "label": dataset.train.labels[: workload.batch]}
    )
    # the normalised float images, as the step sees them
    images = jax.jit(lambda x: setup.preprocess.normalize(setup.preprocess.eval(x)))(batch["image"])
    labels = batch["label"]
    variables = state.variables()

    def loss(params, x):
        out, _ = setup.model.apply(
            {**variables, "params": params}, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(0)}
        )  # batch statistics, as in training
        out = out[0] if isinstance(out, tuple) else out
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(out), labels[:, None], axis=-1))

    parts = {
        "forward": (jax.jit(loss), (state.params, images), 1),
        "+ input grads": (jax.jit(jax.grad(loss, argnums=1)), (state.params, images), 1),
        "+ kernel grads": (jax.jit(jax.grad(loss, argnums=0)), (state.params, images), 1),
    }
    holders = {f"step, {n} per call": [jax.jit(setup.init)()] for n in sorted({1, k})}
    single = jax.jit(setup.train_step, donate_argnums=0)
    multi = jax.jit(unrolled(setup.train_step, k), donate_argnums=0) if k > 1 else single

    def stepper(name, fn, n):
        def call():
            holders[name][0], metrics = fn(holders[name][0], *[batch] * n)
            return metrics

        return call

    calls = {name: (lambda f=f, a=a: f(*a), n) for name, (f, a, n) in parts.items()}
    calls["step, 1 per call"] = (stepper("step, 1 per call", single, 1), 1)
    if k > 1:
        calls[f"step, {k} per call"] = (stepper(f"step, {k} per call", multi, k), k)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for fn, _ in calls.values():  # compile + warm up
        jax.block_until_ready(fn())
    for r in range(args.rounds):
        names = list(calls)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn, n = calls[name]
            for _ in range(args.calls):
                start = time.perf_counter()
                jax.block_until_ready(fn())
                times[name].append((time.perf_counter() - start) / n)
    medians = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    print(f"{args.workload}: batch {workload.batch}, input {workload.shape}, load {os.getloadavg()[0]:.2f}")
    for name, ms in medians.items():
        print(f"  {name:20s} {ms:8.1f} ms per step  {workload.batch / ms * 1e3:8.0f} img/s")
    names = list(medians)
    estimates = {
        "forward": medians[names[0]],
        "input-gradient chain": medians[names[1]] - medians[names[0]],
        "kernel gradients (beyond the input chain)": medians[names[2]] - medians[names[1]],
        "optimiser, metrics, augmentation, checks": medians[names[3]] - medians[names[2]],
    }
    if k > 1:
        estimates["per-call dispatch saved by unrolling"] = medians[names[3]] - medians[names[4]]
    for name, ms in estimates.items():
        print(f"  ~ {name:42s} {ms:8.1f} ms")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "workload": args.workload,
                    "batch": workload.batch,
                    "steps_per_call": k,
                    "median_ms": medians,
                    "estimates_ms": estimates,
                    "loadavg": os.getloadavg(),
                    "backend": backend.configuration(),
                },
                indent=1,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
