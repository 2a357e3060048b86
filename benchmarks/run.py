"""Training throughput of cnnjax against PyTorch, side by side in one run.

    .venv/bin/python benchmarks/run.py --workloads lenet5,resnet20 --json benchmarks/results/cpu.json
    .venv/bin/python benchmarks/run.py --workloads lenet5 --frameworks cnnjax --steps-per-call 0,1 \
        --xla-flags cnnjax --xla-flags xla --xla-flags eigen --xla-flags "--xla_cpu_use_thunk_runtime=true"

Each (workload, framework) runs in its own long-lived subprocess, so XLA flags and thread pools do not leak and a
model compiles once: cnnjax under this interpreter (the library's own step: `cnnjax.train.build` ->
`Setup.train_step`, i.e. `make_train_step`, jitted with the state donated), PyTorch under `.venv-torch` (Python
3.11, torch 2.13.0 CPU; created on first use). All workers of a workload are started (and compiled) one after the
other; then, round after round, each is asked for --steps timed steps, in an order rotated every round. The
workers not measuring wait on stdin, so only one computes at a time. Reported per (workload, framework): the
median step time over all timed steps after warm-up, img/s, the ratio to the best PyTorch variant *in the same
round* (median over rounds: the number to quote on a shared machine), compile time, the process's peak RSS,
achieved FLOP/s (training ~ 3 x forward MACs x 2, MACs from `cnnjax.summary`) against a measured float32 matmul
peak, and for cnnjax the input pipeline's img/s (`cnnjax.data.batches` over an in-memory source plus
`jax.device_put`; Fashion-MNIST for 28x28x1 inputs, random arrays of the workload's shape otherwise).

The cnnjax side runs under the backend profile of its flag set (`cnnjax.backend.configure`): "fast" for 'cnnjax'
(the default) and 'cnnjax-avx2', "portable" for 'portable', "xla" with exactly the given flags for every other set.
Several flag sets in one run alternate round by round, so their ratios hold on a shared machine:

    .venv/bin/python benchmarks/run.py --workloads lenet5,resnet20 --frameworks cnnjax --xla-flags cnnjax \
        --xla-flags portable --xla-flags xla --rounds 6

Both sides train the same architecture (parameter counts asserted equal) with SGD momentum 0.9 at lr 0.01, batch
norm in training mode, on fixed random uint8 images normalised inside the step, cross-entropy on random labels.
The load average is recorded with every round: numbers from a shared machine are not idle-machine numbers.

An AVX-512 machine run as the AVX2 class (every library's kernels capped at AVX2; the caches and cores stay the
machine's, so this approximates an AVX2 CPU, it is not one):

    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 .venv/bin/python benchmarks/run.py \
        --workloads resnet20,resnet20_28 --xla-flags cnnjax-avx2
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH_PYTHON = ROOT / ".venv-torch" / "bin" / "python"
TORCH_SETUP = (  # as scripts/setup.sh --torch
    ["python3.11", "-m", "venv", str(ROOT / ".venv-torch")],
    [str(TORCH_PYTHON), "-m", "pip", "install", "-q", "torch==2.13.0", "numpy", "pillow"],
    [str(TORCH_PYTHON), "-m", "pip", "install", "-q", "--no-deps", "torchvision==0.28.0"],
)
PROTOCOL = "@@bench "  # prefix of the workers' reply lines on stdout (anything else printed there is ignored)


@dataclass(frozen=True)
class Workload:
    model: str  # a cnnjax registry name (and a key of benchmarks/torch_models.MODELS)
    batch: int
    shape: tuple[int, int, int]  # H, W, C
    num_classes: int = 10


WORKLOADS = {
    "lenet5": Workload("lenet5", 256, (28, 28, 1)),
    "resnet20": Workload("resnet20", 128, (32, 32, 3)),
    "resnet20_28": Workload("resnet20", 128, (28, 28, 1)),
    "resnet50": Workload("resnet50", 8, (224, 224, 3), 1000),
}
FRAMEWORKS = ("cnnjax", "pytorch-eager", "pytorch-channels-last", "pytorch-compile")
FLAG_SETS = {  # cnnjax side: name -> XLA_FLAGS; 'cnnjax' and 'portable' = the library's "fast" and "portable"
    # profiles (cnnjax.backend), 'cnnjax-avx2' = "fast" with XLA's code capped at AVX2 (with ONEDNN_MAX_CPU_ISA=AVX2
    # and ATEN_CPU_CAPABILITY=avx2 in the environment: an AVX-512 CPU run as the AVX2 class), every other set runs
    # under the "xla" profile, i.e. exactly these flags and the plain lax formulations (names checked by XLA: unknown
    # ones abort)
    "cnnjax": "",
    "cnnjax-avx2": "--xla_cpu_max_isa=AVX2",
    "portable": "",
    "xla": "",
    "eigen": "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",
    "eigen+onednn": "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution "
    "--xla_cpu_experimental_onednn_custom_call=true",
}
LR, MOMENTUM = 0.01, 0.9


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _reply(**message) -> None:
    print(PROTOCOL + json.dumps(message), flush=True)


def _serve(step, steps_per_call: int = 1) -> None:
    """The worker loop: 'run N' -> N timed calls of `step` (each `steps_per_call` training steps; the times
    replied are per training step); 'quit' -> the peak RSS, exit."""
    for line in sys.stdin:
        command, *args = line.split()
        if command == "run":
            times = []
            for _ in range(int(args[0])):
                start = time.perf_counter()
                step()
                times.append((time.perf_counter() - start) / steps_per_call)
            _reply(times=times, loadavg=os.getloadavg())
        elif command == "quit":
            _reply(peak_rss_mb=_peak_rss_mb())
            return


# --------------------------------------------------------------------------------------------- cnnjax worker


def _random_dataset(workload: Workload, n: int):
    import numpy as np

    from cnnjax import data

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, *workload.shape), dtype=np.uint8)
    return data.from_arrays(
        images, (np.arange(n) % workload.num_classes).astype(np.int32), num_classes=workload.num_classes
    )


def _pipeline_images_per_s(workload: Workload, seconds: float) -> tuple[float, str]:
    """img/s of `cnnjax.data.batches` + `jax.device_put` over an in-memory source, and the source's name."""
    import jax

    from cnnjax import data

    if workload.shape == (28, 28, 1):
        source, name = data.load_dataset("fashion_mnist").train, "fashion_mnist"
    else:
        source, name = _random_dataset(workload, 64 * workload.batch).train, "random arrays"
    count, start = 0, time.perf_counter()
    for epoch in range(1000):
        for batch in data.batches(source, workload.batch, seed=0, epoch=epoch):
            jax.block_until_ready(jax.device_put(batch))
            count += workload.batch
            if time.perf_counter() - start > seconds:
                return count / (time.perf_counter() - start), name
    return count / (time.perf_counter() - start), name


def build_setup(workload: Workload, dataset, steps_per_call: int = 0):
    """The library's `Setup` of the benchmark's training (SGD momentum, batch norm in training mode) for
    `workload` on `dataset`; `steps_per_call` 0: the library's choice. Shared by the scripts in benchmarks/."""
    from cnnjax.train import build, default_config, validate

    config = default_config()
    config.model, config.batch_size, config.eval_batch_size, config.num_steps = (
        workload.model,
        workload.batch,
        workload.batch,
        10_000,
    )
    config.optimizer.name, config.optimizer.lr, config.optimizer.momentum = "momentum", LR, MOMENTUM
    config.steps_per_call = steps_per_call
    return build(validate(config, dataset_given=True), dataset)


def cnnjax_worker(workload: Workload, warmup: int, pipeline_seconds: float, steps_per_call: int, profile: str) -> None:
    """The library's step as `cnnjax train` runs it, under the backend profile `profile`: `build` ->
    `Setup.train_step`, grouped into calls of Setup.steps_per_call steps (`steps_per_call` 0: the library's choice),
    jitted with the state donated."""
    from cnnjax import backend

    configuration = backend.configure(profile)  # before JAX starts

    import jax

    import cnnjax
    from cnnjax import summary
    from cnnjax.train import unrolled

    dataset = _random_dataset(workload, 2 * workload.batch)
    setup = build_setup(workload, dataset, steps_per_call)
    k = setup.steps_per_call
    state = jax.jit(setup.init)()
    batches = [
        jax.device_put(
            {"image": dataset.train.images[: workload.batch], "label": dataset.train.labels[: workload.batch]}
        )
    ] * k
    start = time.perf_counter()
    step_fn = setup.train_step if k == 1 else unrolled(setup.train_step, k)
    compiled = jax.jit(step_fn, donate_argnums=0).lower(state, *batches).compile()
    compile_s = time.perf_counter() - start
    holder = [state]

    def step():
        holder[0], metrics = compiled(holder[0], *batches)
        jax.block_until_ready((holder[0], metrics))

    for _ in range(warmup):
        step()
    info = summary(setup.model, workload.shape)
    pipeline, source = _pipeline_images_per_s(workload, pipeline_seconds)
    _reply(
        ready=True,
        params=info.params,
        macs=info.macs,
        compile_s=compile_s,
        pipeline_img_per_s=pipeline,
        pipeline_source=source,
        xla_flags=os.environ.get("XLA_FLAGS", ""),
        profile=profile,
        steps_per_call=k,
        environment=configuration["environment"],
        versions={
            "cnnjax": cnnjax.__version__,
            "jax": jax.__version__,
            "jaxlib": importlib.metadata.version("jaxlib"),
            "python": platform.python_version(),
        },
        device=jax.devices()[0].device_kind,
    )
    _serve(step, k)


def matmul_peak_worker(size: int, repeats: int = 3) -> None:
    """float32 (size x size) @ (size x size) under jit: best GFLOP/s over `repeats` after one warm-up."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    jax.block_until_ready(matmul(a, a))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(matmul(a, a))
        times.append(time.perf_counter() - start)
    _reply(gflops=2 * size**3 / min(times) / 1e9, size=size, loadavg=os.getloadavg())


# --------------------------------------------------------------------------------------------- PyTorch worker


def torch_worker(workload: Workload, mode: str, warmup: int, threads: int) -> None:
    """mode: 'eager' (NCHW), 'channels-last', or 'compile' (torch.compile of the NCHW model); threads: > 0 sets
    torch's intra-op threads (0: torch's default, one per core)."""
    import torch
    from torch.nn import functional as F

    if threads:
        torch.set_num_threads(threads)

    sys.path.insert(0, str(Path(__file__).parent))
    from torch_models import MODELS

    torch.manual_seed(0)
    h, w, c = workload.shape
    model = MODELS[workload.model](in_channels=c, num_classes=workload.num_classes).train()
    x = torch.randint(0, 256, (workload.batch, c, h, w), dtype=torch.uint8)
    y = torch.randint(0, workload.num_classes, (workload.batch,))
    if mode == "channels-last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(model) if mode == "compile" else model
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step():
        loss = F.cross_entropy(forward((x.float() / 255 - 0.5) / 0.25), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    step()
    first_s = time.perf_counter() - start
    for _ in range(warmup - 1):
        step()
    _reply(
        ready=True,
        params=sum(p.numel() for p in model.parameters()),
        compile_s=first_s if mode == "compile" else None,
        threads=torch.get_num_threads(),
        versions={"torch": torch.__version__, "python": platform.python_version()},
    )
    _serve(step)


def worker_main(spec: dict) -> None:
    try:
        workload = Workload(**{**spec["workload"], "shape": tuple(spec["workload"]["shape"])})
        if spec["kind"] == "peak":
            matmul_peak_worker(spec["size"])
        elif spec["kind"] == "cnnjax":
            cnnjax_worker(workload, spec["warmup"], spec["pipeline_seconds"], spec["steps_per_call"], spec["profile"])
        else:
            torch_worker(workload, spec["kind"].removeprefix("pytorch-"), spec["warmup"], spec["torch_threads"])
    except Exception as e:  # reported to the parent, which records it in the results
        _reply(error=f"{type(e).__name__}: {e}"[:2000])
        raise


# --------------------------------------------------------------------------------------------- the parent


@dataclass
class Variant:
    """One measured column: a framework and, for cnnjax, the XLA_FLAGS and backend profile of its subprocess."""

    framework: str
    flags_name: str = ""
    xla_flags: str = ""
    steps_per_call: int = 0  # cnnjax: 0 = the library's choice

    @property
    def profile(self) -> str:
        """cnnjax: "fast" for the library's flag set, "portable" for its portable one, else "xla" (exactly
        `xla_flags`)."""
        return {"": "fast", "cnnjax": "fast", "cnnjax-avx2": "fast", "portable": "portable"}.get(self.flags_name, "xla")

    @property
    def label(self) -> str:
        tags = [t for t in (self.flags_name, f"k={self.steps_per_call}" if self.steps_per_call else "") if t]
        return f"{self.framework}[{','.join(tags)}]" if tags else self.framework


class Worker:
    """A benchmark subprocess speaking the PROTOCOL over stdin/stdout."""

    def __init__(self, python: Path | str, spec: dict, env: dict[str, str]):
        self.process = subprocess.Popen(
            [str(python), __file__, "--worker", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )

    def receive(self) -> dict:
        for line in self.process.stdout:
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL) :])
        stderr = self.process.stderr.read()
        return {"error": f"worker exited ({self.process.wait()}): {stderr.strip()[-2000:]}"}

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.receive()

    def close(self) -> dict:
        reply = self.ask("quit") if self.process.poll() is None else {}
        self.process.wait()
        return reply


def ensure_torch_env() -> None:
    if TORCH_PYTHON.exists():
        return
    print(f"setting up {TORCH_PYTHON.parent.parent} (torch 2.13.0 CPU) ...", file=sys.stderr, flush=True)
    for command in TORCH_SETUP:
        subprocess.run(command, check=True)


def _env(variant: Variant | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("JAX_PLATFORMS", "cpu")
    if variant is not None and variant.xla_flags:
        env["XLA_FLAGS"] = variant.xla_flags
    return env


def measure_peak(size: int) -> dict:
    worker = Worker(sys.executable, {"kind": "peak", "size": size, "workload": asdict(WORKLOADS["lenet5"])}, _env())
    reply = worker.receive()
    worker.process.wait()
    return reply


def measure_workload(
    name: str, workload: Workload, variants: list[Variant], args, peak_gflops: float | None, batch: int
) -> list[dict]:
    workload = Workload(workload.model, batch, workload.shape, workload.num_classes)
    records, workers = [], []
    for variant in variants:
        record = {
            "workload": name,
            "framework": variant.framework,
            "variant": variant.label,
            "xla_flags": variant.xla_flags,
            "model": workload.model,
            "batch": workload.batch,
            "input_shape": list(workload.shape),
            "rounds": [],
            "times": [],
        }
        cnnjax_side = variant.framework == "cnnjax"
        spec = {
            "kind": variant.framework,
            "workload": asdict(workload),
            "warmup": args.warmup,
            "pipeline_seconds": args.pipeline_seconds,
            "torch_threads": args.torch_threads,
            "steps_per_call": variant.steps_per_call,
            "profile": variant.profile,
        }
        print(f"  {name}: starting {variant.label}", file=sys.stderr, flush=True)
        worker = Worker(sys.executable if cnnjax_side else TORCH_PYTHON, spec, _env(variant))
        ready = worker.receive()
        record.update({k: v for k, v in ready.items() if k != "ready"})
        if "error" in ready:
            print(f"  {name}: {variant.label} failed: {ready['error'][-300:]}", file=sys.stderr, flush=True)
            worker.close()
            worker = None
        records.append(record)
        workers.append(worker)
    reference = next((r["params"] for r in records if r["framework"] == "cnnjax" and "params" in r), None)
    for record in records:
        if reference is not None and "params" in record and record["params"] != reference:
            raise AssertionError(f"{name}: {record['variant']} has {record['params']} parameters, cnnjax {reference}")
    live = [i for i, w in enumerate(workers) if w is not None]
    for r in range(args.rounds):
        order = live[r % len(live) :] + live[: r % len(live)] if live else []
        for i in order:
            reply = workers[i].ask(f"run {args.steps}")
            if "error" in reply:
                records[i]["error"] = reply["error"]
                continue
            records[i]["times"] += reply["times"]
            records[i]["rounds"].append(
                {"img_per_s": workload.batch / statistics.median(reply["times"]), "loadavg": reply["loadavg"]}
            )
    for worker, record in zip(workers, records):
        if worker is not None:
            record.update(worker.close())
    _summarise(records, workload, peak_gflops)
    return records


def _summarise(records: list[dict], workload: Workload, peak_gflops: float | None) -> None:
    macs = next((r["macs"] for r in records if "macs" in r), None)
    torch_rounds = [r["rounds"] for r in records if r["framework"].startswith("pytorch") and r["rounds"]]
    for record in records:
        times = record.pop("times")
        if not times:
            continue
        step_s = statistics.median(times)
        record["step_ms"] = 1e3 * step_s
        record["img_per_s"] = workload.batch / step_s
        if macs:
            record["achieved_gflops"] = 3 * 2 * macs * workload.batch / step_s / 1e9
            if peak_gflops:
                record["fraction_of_matmul_peak"] = record["achieved_gflops"] / peak_gflops
        if torch_rounds and len(record["rounds"]) == min(map(len, torch_rounds)):
            ratios = [
                own["img_per_s"] / max(rounds[k]["img_per_s"] for rounds in torch_rounds)
                for k, own in enumerate(record["rounds"])
            ]
            record["ratio_to_best_pytorch"] = statistics.median(ratios)
        if "pipeline_img_per_s" in record:
            record["pipeline_over_consumption"] = record["pipeline_img_per_s"] / record["img_per_s"]
        record["loadavg_1min"] = [round(r["loadavg"][0], 2) for r in record["rounds"]]


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: list[dict]) -> None:
    header = (
        "workload",
        "framework",
        "img/s",
        "step ms",
        "x best torch",
        "compile s",
        "RSS MB",
        "GFLOP/s",
        "% peak",
        "pipeline x",
        "load 1m (per round)",
    )
    rows = [header]
    for r in results:
        if "error" in r and "img_per_s" not in r:
            rows.append((r["workload"], r["variant"], "failed: " + r["error"][:60], *[""] * 8))
            continue
        rows.append(
            (
                r["workload"],
                r["variant"],
                _fmt(r.get("img_per_s"), ".4g"),
                _fmt(r.get("step_ms"), ".1f"),
                _fmt(r.get("ratio_to_best_pytorch"), ".2f"),
                _fmt(r.get("compile_s"), ".1f"),
                _fmt(r.get("peak_rss_mb"), ".0f"),
                _fmt(r.get("achieved_gflops"), ".1f"),
                _fmt(100 * r["fraction_of_matmul_peak"] if "fraction_of_matmul_peak" in r else None, ".0f"),
                _fmt(r.get("pipeline_over_consumption"), ".1f"),
                " ".join(map(str, r.get("loadavg_1min", []))),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(str(c).rjust(w) if i >= 2 else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))))


def _machine() -> dict:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    flags = (
        next(
            (
                line.split(":", 1)[1].split()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("flags")
            ),
            [],
        )
        if Path("/proc/cpuinfo").exists()
        else []
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "simd": [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if f in flags],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--workloads",
        default="lenet5,resnet20,resnet20_28,resnet50",
        help=f"comma-separated, of {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--frameworks", default=",".join(FRAMEWORKS), help=f"comma-separated, of {', '.join(FRAMEWORKS)}"
    )
    parser.add_argument(
        "--xla-flags",
        action="append",
        default=None,
        metavar="FLAGS",
        help=f"an XLA_FLAGS variant of the cnnjax side (repeatable): a name of {list(FLAG_SETS)} "
        "or the flags themselves (run under the 'xla' backend profile: exactly these flags, "
        "the plain lax formulations); default: 'cnnjax' (the library's 'fast' profile)",
    )
    parser.add_argument(
        "--steps-per-call",
        type=lambda v: [int(k) for k in v.split(",")],
        default=[0],
        help="cnnjax side: comma-separated training steps per compiled call, 0 = the library's "
        "choice (config.steps_per_call)",
    )
    parser.add_argument("--steps", type=int, default=5, help="timed steps per framework per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after compilation")
    parser.add_argument("--torch-threads", type=int, default=0, help="> 0: torch.set_num_threads (0: default)")
    parser.add_argument("--batch-size", type=int, default=0, help="> 0: override every workload's batch")
    parser.add_argument("--peak-size", type=int, default=4096, help="the matmul size of the FLOP/s peak (0: skip)")
    parser.add_argument("--pipeline-seconds", type=float, default=1.0)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key, valid in (("workloads", WORKLOADS), ("frameworks", FRAMEWORKS)):
        values = getattr(args, key).split(",")
        unknown = [v for v in values if v not in valid]
        if unknown:
            parser.error(f"--{key}: expected names of {list(valid)}, got {unknown}")
        setattr(args, key, values)
    for key in ("steps", "rounds", "warmup"):
        if getattr(args, key) < 1:
            parser.error(f"--{key}: expected a positive int, got {getattr(args, key)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        worker_main(json.loads(args.worker))
        return 0
    variants = []
    for framework in args.frameworks:
        if framework != "cnnjax":
            variants.append(Variant(framework))
            continue
        for flags in args.xla_flags or ["cnnjax"]:
            name = flags if flags in FLAG_SETS else f"flags{len(variants)}"
            for k in args.steps_per_call:
                variants.append(Variant("cnnjax", name if args.xla_flags else "", FLAG_SETS.get(flags, flags), k))
    if any(v.framework != "cnnjax" for v in variants):
        ensure_torch_env()
    started = time.time()
    loadavg_start = os.getloadavg()
    peak = measure_peak(args.peak_size) if args.peak_size else {}
    if peak:
        print(
            f"float32 {args.peak_size}^2 matmul peak: {peak.get('gflops', 0):.1f} GFLOP/s "
            f"(load {peak.get('loadavg', [0])[0]:.2f})",
            flush=True,
        )
    results = []
    for name in args.workloads:
        workload = WORKLOADS[name]
        results += measure_workload(
            name, workload, variants, args, peak.get("gflops"), args.batch_size or workload.batch
        )
    print_table(results)
    if args.json:
        versions: dict[str, dict] = {}  # per side: the two interpreters differ
        for r in results:
            versions.setdefault("cnnjax" if r["framework"] == "cnnjax" else "pytorch", {}).update(r.get("versions", {}))
        report = {
            "results": results,
            "machine": _machine(),
            "versions": versions,
            "matmul_peak": peak,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if argv is None else " ".join(argv),
            "loadavg_start": loadavg_start,
            "loadavg_end": os.getloadavg(),
            "wall_s": time.time() - started,
            "note": "a shared machine: compare variants by ratio_to_best_pytorch (same rounds), not by img/s",
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
