"""Which numerics depend on the CPU: short trainings (and single operations) under each candidate profile, on this
CPU as it is, with the ISA capped, on one core and on emulated AVX2 CPUs, compared by the bits of their results.

    .venv/bin/python benchmarks/portability.py --json benchmarks/results/portability_bits.json
    .venv/bin/python benchmarks/portability.py --candidates portable --modes native,avx2_amd --workloads lenet5,ops

Each (workload, candidate, mode) trains in its own subprocess: the library's training step (`cnnjax.train.build` ->
`Setup.train_step`, the classifier recipe: AdamW, cosine schedule, label smoothing) for --steps steps on fixed random
uint8 images, from the recipe's seed. Reported: the sha256 of the parameters and batch statistics, the final loss,
the library calls in the compiled step (YNNPACK / XNNPACK fusions, oneDNN custom calls: the kernels that pick their
code by the CPU they run on) and, against the native run of the same candidate, whether the bits are equal and the
largest relative parameter difference. The 'ops' workload runs single operations instead (convolutions and their
gradients at several channel counts, matrix products, reductions, elementwise math: `_ops`) and reports, per
operation, the path XLA gave it and whether its bits equal the native run's.

Modes:
  native    this CPU as it is
  capped    XLA_FLAGS --xla_cpu_max_isa=AVX2 and ONEDNN_MAX_CPU_ISA=AVX2: caps what reads them (XLA's own code
            generation, oneDNN); YNNPACK and XNNPACK read the CPU's features through cpuid and ignore both
  one_core  the process pinned to one core: the thread pools, and so the work split, follow the core count
  avx2_amd  under QEMU's user-mode emulation of an AMD EPYC-Rome CPU (Zen 2: AVX2 and FMA, no AVX-512)
  avx2_intel  the same with an Intel Haswell CPU (AVX2 and FMA; other cache sizes): each library sees the emulated
            CPU through cpuid, so these two do not rely on a library honouring a cap (they need qemu-x86_64 >= 7.2,
            whose TCG emulates AVX2; 10-30x slower)

Candidates are rows of `cnnjax.backend.PROFILES` (fast, portable, xla) and the alternatives in CANDIDATES, added as
rows of that table in the subprocess before `cnnjax.backend.configure`.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnnjax.backend import PROFILES, Profile

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = "@@bits "  # prefix of the worker's result line on stdout
WORKLOADS = {  # name -> (model, batch, image shape H W C, steps)
    "lenet5": ("lenet5", 64, (28, 28, 1), 8),
    "resnet20": ("resnet20", 16, (32, 32, 3), 4),
    "ops": None,  # single operations: `_ops`
}
MODES = ("native", "capped", "one_core", "avx2_amd", "avx2_intel")
CAP_FLAGS = "--xla_cpu_max_isa=AVX2"
QEMU = "qemu-x86_64"
EMULATED = {"avx2_amd": "EPYC-Rome", "avx2_intel": "Haswell"}  # mode -> QEMU CPU model
_EIGEN_CONV = {"xla_cpu_experimental_ynn_fusion_type": "-individual_convolution"}
_MEMORY_SCHEDULER = {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}
CANDIDATES = {  # alternatives to the library's rows
    "eigen+memory": Profile({**_EIGEN_CONV, **_MEMORY_SCHEDULER}, False, False),
    "no_libraries": Profile({"xla_cpu_experimental_ynn_fusion_type": "", "xla_cpu_use_xnnpack": "false"}, False, False),
    "portable+single_thread_eigen": dataclasses.replace(
        PROFILES["portable"], xla_flags={**PROFILES["portable"].xla_flags, "xla_cpu_multi_thread_eigen": "false"}
    ),
}


# --------------------------------------------------------------------------------------------- the worker


def _configure(candidate: str) -> None:
    from cnnjax import backend

    backend.PROFILES.setdefault(candidate, CANDIDATES.get(candidate))
    backend.configure(candidate)


def worker(spec: dict) -> None:
    """Trains spec['workload'] under spec['candidate'], writes its parameters to spec['npz'] and replies."""
    _configure(spec["candidate"])

    import re

    import jax
    import numpy as np

    from cnnjax import data
    from cnnjax.train import build, recipe, validate

    model, batch, shape, steps = WORKLOADS[spec["workload"]]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch * steps, *shape), dtype=np.uint8)
    dataset = data.from_arrays(images, (np.arange(len(images)) % 10).astype(np.int32), num_classes=10)
    config = recipe(model)
    config.batch_size, config.num_steps, config.num_epochs, config.steps_per_call = batch, steps, 0, 1
    setup = build(validate(config, dataset_given=True), dataset)
    state = jax.jit(setup.init)()
    batches = list(data.batches(setup.train_source, batch, seed=setup.shuffle_seed, epoch=0))
    began = time.perf_counter()
    compiled = jax.jit(setup.train_step).lower(state, batches[0]).compile()
    compile_s = time.perf_counter() - began
    text = compiled.as_text()
    began = time.perf_counter()
    for b in batches:
        state, metrics = compiled(state, b)
    loss = float(jax.device_get(metrics["loss"]))
    train_s = time.perf_counter() - began
    leaves = [np.asarray(x) for x in jax.tree.leaves(state.variables())]
    np.savez(spec["npz"], *leaves)
    digest = hashlib.sha256(b"".join(x.tobytes() for x in leaves)).hexdigest()
    print(
        PROTOCOL
        + json.dumps(
            {
                "sha256": digest,
                "loss": loss.hex(),
                "compile_s": compile_s,
                "train_s": train_s,
                "xla_flags": os.environ.get("XLA_FLAGS", ""),
                "jax": jax.__version__,
                "library_calls": {
                    "ynnpack": len(re.findall(r'"kind":"__ynn_fusion"', text)),
                    "xnnpack": len(re.findall(r'"kind":"__xnn_fusion"', text)),
                    "onednn": len(re.findall(r'custom_call_target="__onednn', text)),
                },
            }
        ),
        flush=True,
    )


def _ops() -> dict:
    """name -> (function, argument shapes): the single operations of CNN training whose paths differ by shape."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv(pad):
        return lambda x, w: lax.conv_general_dilated(x, w, (1, 1), pad, dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def kernel_gradient(pad):
        return lambda x, w: jax.grad(lambda w: jnp.sum(conv(pad)(x, w) ** 2))(w)

    def input_gradient(pad):
        return lambda x, w: jax.grad(lambda x: jnp.sum(conv(pad)(x, w) ** 2))(x)

    ops = {}
    for name, x, w, pad in (
        ("1->6 5x5", (64, 28, 28, 1), (5, 5, 1, 6), "SAME"),
        ("6->16 5x5", (64, 14, 14, 6), (5, 5, 6, 16), "VALID"),
        ("16->16 3x3", (32, 16, 16, 16), (3, 3, 16, 16), "SAME"),
        ("16->32 3x3", (32, 16, 16, 16), (3, 3, 16, 32), "SAME"),
        ("24->24 3x3", (32, 12, 12, 24), (3, 3, 24, 24), "SAME"),
        ("32->32 3x3", (32, 12, 12, 32), (3, 3, 32, 32), "SAME"),
    ):
        ops[f"conv {name}"] = (conv(pad), (x, w))
        ops[f"conv {name} kernel gradient"] = (kernel_gradient(pad), (x, w))
        ops[f"conv {name} input gradient"] = (input_gradient(pad), (x, w))
    for m, k, n in ((64, 400, 120), (64, 84, 10), (4608, 216, 24), (216, 4608, 24), (150, 1600, 16)):
        ops[f"dot {m}x{k}x{n}"] = (jnp.matmul, ((m, k), (k, n)))
    ops["dot 400x64x120 (transposed operand)"] = (lambda a, b: a.T @ b, ((64, 400), (64, 120)))
    ops["sum"] = (lambda a, b: jnp.sum(a) + jnp.sum(b, axis=0).sum(), ((1 << 16,), (256, 64)))
    ops["mean over N, H, W"] = (lambda a, b: jnp.mean(a, axis=(0, 1, 2)) * b, ((32, 16, 16, 16), (16,)))
    ops["exp, log"] = (lambda a, b: jnp.exp(a) + jnp.log(jnp.abs(b) + 1e-3), ((4096,), (4096,)))
    ops["tanh, sigmoid"] = (lambda a, b: jnp.tanh(a) + jax.nn.sigmoid(b), ((4096,), (4096,)))
    ops["rsqrt, sqrt, divide"] = (
        lambda a, b: lax.rsqrt(jnp.abs(a) + 1e-3) + a / (jnp.sqrt(jnp.abs(b)) + 1e-8),
        ((4096,), (4096,)),
    )
    ops["log_softmax"] = (lambda a, b: jax.nn.log_softmax(a) * b, ((64, 10), (64, 10)))
    return ops


def ops_worker(spec: dict) -> None:
    """Each of `_ops()` on fixed random arguments under spec['candidate']: the sha256 of its result and the paths of
    its compiled program (a gradient's program holds the forward convolution too)."""
    _configure(spec["candidate"])
    import re

    import jax
    import numpy as np

    rng = np.random.default_rng(0)
    results = {}
    for name, (function, shapes) in _ops().items():
        arguments = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]  # arguments, not constants:
        compiled = jax.jit(function).lower(*arguments).compile()  # XLA folds constant expressions at compile time
        text = compiled.as_text()
        ynn_bodies = set(re.findall(r'calls=(%[\w.-]+)[^\n]*"__ynn_fusion"', text))
        eigen = any(
            re.search(r" (convolution|dot)\(", block) and block.split()[0] not in ynn_bodies
            for block in re.split(r"\n(?=\S)", text)
        )  # a convolution or dot outside YNNPACK's fusions
        paths = [
            name
            for name, found in (("ynnpack", bool(ynn_bodies)), ("onednn", "__onednn" in text), ("eigen", eigen))
            if found
        ]
        path = "+".join(paths) or "xla"
        results[name] = {"sha256": hashlib.sha256(np.asarray(compiled(*arguments)).tobytes()).hexdigest(), "path": path}
    print(PROTOCOL + json.dumps({"ops": results}), flush=True)


# --------------------------------------------------------------------------------------------- the parent


def run(workload: str, candidate: str, mode: str, npz: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "CNNJAX_PROFILE", "ONEDNN_MAX_CPU_ISA")}
    env["JAX_PLATFORMS"] = "cpu"
    if mode == "capped":
        env["XLA_FLAGS"], env["ONEDNN_MAX_CPU_ISA"] = CAP_FLAGS, "AVX2"
    spec = {"workload": workload, "candidate": candidate, "mode": mode, "npz": str(npz)}
    command = [sys.executable, __file__, "--worker", json.dumps(spec)]
    if mode in EMULATED:
        command = [QEMU, "-cpu", EMULATED[mode], *command]
    one_core = (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if mode == "one_core" else None
    began = time.time()
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, preexec_fn=one_core)
    lines = [line for line in result.stdout.splitlines() if line.startswith(PROTOCOL)]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{workload} / {candidate} / {mode} failed:\n{result.stderr[-3000:]}")
    return {**json.loads(lines[-1][len(PROTOCOL) :]), "wall_s": time.time() - began}


def report_ops(row: dict, mode: str) -> None:
    """Marks each operation of `row`'s `mode` run with whether its bits equal the native run's; prints them."""
    outcome, native = row["modes"][mode], row["modes"]["native"]
    for name, op in outcome["ops"].items():
        if mode != "native":
            op["same_bits"] = op["sha256"] == native["ops"][name]["sha256"]
        same = "" if mode == "native" else ("  same bits" if op["same_bits"] else "  DIFFERS")
        print(f"ops       {row['candidate']:28s} {mode:10s} {name:40s} {op['path']:14s}{same}", flush=True)


def max_relative_difference(a: Path, b: Path) -> float:
    """max over parameters of |a - b| / max(|a|), 0.0 when every bit is equal."""
    import numpy as np

    with np.load(a) as x, np.load(b) as y:
        return max(float(np.max(np.abs(x[k] - y[k])) / max(float(np.max(np.abs(x[k]))), 1e-30)) for k in x.files)


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fields = dict(line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = fields.get("flags", "").split()
    return {
        "cpu": fields.get("model name", platform.processor()),
        "cores": len(os.sched_getaffinity(0)),
        "simd": [
            f
            for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_vnni", "amx_bf16")
            if f in flags
        ],
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, of {list(WORKLOADS)}")
    parser.add_argument(
        "--candidates",
        default="fast,portable,xla," + ",".join(CANDIDATES),
        help=f"comma-separated: rows of cnnjax.backend.PROFILES or of {list(CANDIDATES)}",
    )
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {list(MODES)}")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        spec = json.loads(args.worker)
        (ops_worker if spec["workload"] == "ops" else worker)(spec)
        return 0
    workloads, candidates, modes = (getattr(args, k).split(",") for k in ("workloads", "candidates", "modes"))
    for key, values, valid in (
        ("workloads", workloads, WORKLOADS),
        ("modes", modes, MODES),
        ("candidates", candidates, {**PROFILES, **CANDIDATES}),
    ):
        if unknown := [v for v in values if v not in valid]:
            parser.error(f"--{key}: expected names of {list(valid)}, got {unknown}")
    if set(modes) & set(EMULATED) and shutil.which(QEMU) is None:
        parser.error(
            f"--modes {','.join(EMULATED)}: need {QEMU} (QEMU >= 7.2 user mode, e.g. apt-get install qemu-user)"
        )
    if "native" not in modes:
        modes = ["native", *modes]  # the reference of every comparison
    started, results = time.time(), []
    with tempfile.TemporaryDirectory() as scratch:
        for workload in workloads:
            for candidate in candidates:
                native = Path(scratch) / f"{workload}-{candidate}-native.npz"
                row = {"workload": workload, "candidate": candidate, "modes": {}}
                for mode in modes:
                    npz = Path(scratch) / f"{workload}-{candidate}-{mode}.npz"
                    outcome = run(workload, candidate, mode, npz)
                    row["modes"][mode] = outcome
                    if workload == "ops":
                        report_ops(row, mode)
                        continue
                    if mode != "native":
                        outcome["same_bits"] = outcome["sha256"] == row["modes"]["native"]["sha256"]
                        outcome["max_relative_difference"] = max_relative_difference(native, npz)
                    differs = f"  DIFFERS (max rel {outcome.get('max_relative_difference', 0):.1e})"
                    same = "" if mode == "native" else "  same bits" if outcome["same_bits"] else differs
                    print(
                        f"{workload:9s} {candidate:28s} {mode:10s} {outcome['sha256'][:16]} "
                        f"loss {float.fromhex(outcome['loss']):.6f} calls {outcome['library_calls']} "
                        f"{outcome['wall_s']:.0f}s{same}",
                        flush=True,
                    )
                results.append(row)
    if args.json:
        report = {
            "results": results,
            "machine": machine(),
            "command": " ".join(["benchmarks/portability.py", *sys.argv[1:]]),
            "emulated_cpus": {mode: f"{QEMU} -cpu {EMULATED[mode]}" for mode in modes if mode in EMULATED},
            "wall_s": time.time() - started,
            "date": time.strftime("%Y-%m-%d"),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
