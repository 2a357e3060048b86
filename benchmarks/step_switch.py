"""The whole training step with one of cnnjax's CPU formulations on and off, alternated in one process under the
"fast" profile: the step as benchmarks/run.py builds it (SGD momentum, batch norm in training mode, random data),
compiled once as the library runs it and once with the formulation switched off.

    .venv/bin/python benchmarks/step_switch.py --switch onednn --workload resnet20 --rounds 6
    .venv/bin/python benchmarks/step_switch.py --switch onednn --workload lenet5 --rounds 6
    .venv/bin/python benchmarks/step_switch.py --switch batch_norm_remat --workload resnet20 --rounds 10
    .venv/bin/python benchmarks/step_switch.py --switch batch_norm_rule --workload resnet20 --rounds 10

Switches:
  onednn            conv's oneDNN route (`cnnjax.functional.onednn`); off: XLA's oneDNN rewriter and the Eigen
                    kernel gradient, what "fast" runs where the extension is not built
  batch_norm_remat  batch norm's backward pass recomputing x - mean and the normalised x from x and the saved
                    statistics (`cnnjax.functional.norm`); off: every intermediate saved (plain autodiff)
  batch_norm_rule   batch norm's training derivative as its custom JVP rule (`cnnjax.functional.norm`); off: the
                    plain derivative of the same formula

Prints the number of oneDNN custom calls in each compiled step, the median step time of each over --rounds rounds
of --steps steps (the order alternating every round) and off / on (> 1: the library's formulation is faster).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable from any directory


from benchmarks.run import WORKLOADS, _random_dataset, build_setup


@contextlib.contextmanager
def switched_off(switch: str):
    """Within the block, traced programs run without the formulation `switch`."""
    norm = importlib.import_module("cnnjax.functional.norm")
    if switch == "onednn":
        module, name, value = importlib.import_module("cnnjax.functional.conv"), "_onednn_route", lambda *a, **k: False
    elif switch == "batch_norm_remat":
        import jax

        module, name, value = norm, "_KEEP_STATISTICS", jax.checkpoint_policies.everything_saveable
    else:  # batch_norm_rule: the plain derivative of the same formula
        module, name, value = norm, "_batch_normalize", norm._batch_normalize.fun
    kept = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--switch", default="onednn", choices=["onednn", "batch_norm_remat", "batch_norm_rule"])
    parser.add_argument(
        "--workload", default="resnet20", choices=sorted(WORKLOADS), help="a workload of benchmarks/run.py"
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    from cnnjax import backend

    backend.configure("fast")
    import jax

    workload = WORKLOADS[args.workload]
    dataset = _random_dataset(workload, workload.batch)
    setup = build_setup(workload, dataset, 1)
    n = workload.batch
    batch = jax.device_put({"image": dataset.train.images[:n], "label": dataset.train.labels[:n]})

    def compiled(on: bool):
        """The step compiled with or without the formulation, its initial state and its custom-call count."""
        jax.clear_caches()  # retrace: the formulations are chosen when tracing
        with contextlib.nullcontext() if on else switched_off(args.switch):
            state = jax.jit(setup.init)()
            step = jax.jit(setup.train_step, donate_argnums=0).lower(state, batch).compile()
        return step, state, step.as_text().count("cnnjax_onednn")

    runs = {}
    for name, on in (("on", True), ("off", False)):
        step, state, calls = compiled(on)
        for _ in range(3):  # warm-up
            state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        runs[name] = [step, state, []]
        print(f"{args.switch} {name}: {calls} oneDNN custom calls in the compiled step", flush=True)
    for r in range(args.rounds):
        for name in ("on", "off") if r % 2 == 0 else ("off", "on"):
            step, state, times = runs[name]
            for _ in range(args.steps):
                began = time.perf_counter()
                state, metrics = step(state, batch)
                jax.block_until_ready(metrics)
                times.append(time.perf_counter() - began)
            runs[name][1] = state
    medians = {name: statistics.median(times) for name, (_, _, times) in runs.items()}
    for name, median in medians.items():
        rate = workload.batch / median
        print(f"{args.workload} {args.switch} {name}: {1e3 * median:.1f} ms per step, {rate:,.0f} img/s")
    print(f"off / on step time: {medians['off'] / medians['on']:.3f}")


if __name__ == "__main__":
    main()
