"""The oneDNN convolutions of one training step, cnnjax's against PyTorch channels_last's, from oneDNN's own log
(ONEDNN_VERBOSE=1): per primitive kind and shape, the time oneDNN measured inside each primitive.

    .venv/bin/python benchmarks/onednn_primitives.py --workload resnet20

Each side runs in its own process (cnnjax under "fast", PyTorch in .venv-torch, the models of benchmarks/run.py),
takes --warmup steps, then logs one step. cnnjax runs each convolution as one oneDNN call per slice of the batch, the
slices on XLA's threads at the same time, so its column is the sum over slices divided by the thread count: the
wall time if the slices ran side by side, directly comparable with PyTorch's calls on its threads. What the table
leaves out is everything else in the step (batch norm, ReLU, the optimiser, the custom calls' own overhead).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable from any directory

from benchmarks.run import TORCH_PYTHON, WORKLOADS, ensure_torch_env

MARK = "-- logged step --"

CNNJAX_STEP = """
from benchmarks.run import WORKLOADS, _random_dataset, build_setup
from cnnjax import backend
backend.configure("fast")
import jax
workload = WORKLOADS[{workload!r}]
dataset = _random_dataset(workload, workload.batch)
setup = build_setup(workload, dataset, 1)
state = jax.jit(setup.init)()
batch = jax.device_put({{"image": dataset.train.images, "label": dataset.train.labels}})
step = jax.jit(setup.train_step, donate_argnums=0)
for i in range({warmup} + 1):
    if i == {warmup}:
        print({mark!r}, flush=True)
    state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
"""

TORCH_STEP = """
import torch
from benchmarks.run import WORKLOADS, LR, MOMENTUM
from benchmarks.torch_models import MODELS
workload = WORKLOADS[{workload!r}]
model = MODELS[workload.model](in_channels=workload.shape[-1], num_classes=workload.num_classes)
model = model.train().to(memory_format=torch.channels_last)
optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
x = torch.randn(workload.batch, workload.shape[-1], *workload.shape[:2]).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, workload.num_classes, (workload.batch,))
for i in range({warmup} + 1):
    if i == {warmup}:
        print({mark!r}, flush=True)
    optimizer.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
"""


def convolutions(log: str) -> dict[tuple[str, str], list[float]]:
    """{(propagation kind, shape without the minibatch): [ms of each call]} from the logged step of `log`."""
    calls = collections.defaultdict(list)
    for line in log.split(MARK, 1)[-1].splitlines():
        fields = line.strip().split(",")
        if "exec" not in fields or "convolution" not in fields:
            continue
        at = fields.index("convolution")
        shape = re.sub(r"^mb\d+_", "", fields[-2])
        calls[(fields[at + 2], shape)].append(float(fields[-1]))
    return calls


def run(python: Path | str, code: str) -> str:
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([str(python), "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{python}: failed:\n{out.stderr[-3000:]}")
    return out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", default="resnet20", choices=sorted(WORKLOADS))
    parser.add_argument("--warmup", type=int, default=4)
    args = parser.parse_args()
    ensure_torch_env()
    fill = {"workload": args.workload, "warmup": args.warmup, "mark": MARK}
    ours = convolutions(run(sys.executable, CNNJAX_STEP.format(**fill)))
    theirs = convolutions(run(TORCH_PYTHON, TORCH_STEP.format(**fill)))
    threads = os.cpu_count() or 1  # XLA's intra-op pool: one thread per core, as the extension's slices
    print(f"{'kind':17s} {'shape':58s} {'PyTorch ms':>10s} {'cnnjax ms':>10s}  ratio")
    totals = [0.0, 0.0]
    for key in sorted(set(ours) | set(theirs)):
        mine, other = sum(ours.get(key, [])) / threads, sum(theirs.get(key, []))
        totals[0] += other
        totals[1] += mine
        ratio = f"{mine / other:5.2f}" if other else "    -"
        print(f"{key[0]:17s} {key[1][:58]:58s} {other:10.2f} {mine:10.2f}  {ratio}")
    print(f"{'all convolutions':76s} {totals[0]:10.2f} {totals[1]:10.2f}  {totals[1] / totals[0]:5.2f}")


if __name__ == "__main__":
    main()
