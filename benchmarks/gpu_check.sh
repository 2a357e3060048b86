#!/usr/bin/env bash
# cnnjax's GPU check, as one time-boxed script: the GPU test subset, `cnnjax train` LeNet-5 for one epoch, the
# ResNet-50 training step in float32 and bfloat16, the backend routes (conv kernel gradient, tiled max pool, TF32)
# and run-to-run determinism under the "fast" and "portable" profiles. Its results from one NVIDIA H200 are
# benchmarks/results/gpu_h200_check.json, summarised in docs/scaling.md.
#
# It runs in a clean snapshot of the committed code (git archive), prepared in an ignored folder .gpu/ beside it:
#   .gpu/repo/       the snapshot            .gpu/whl/     pure-Python wheels the GPU machine lacks or has in other
#   .gpu/fmnist/     Fashion-MNIST (IDX)                   versions (it needs no package registry)
#   .gpu/gpu_check.sh   this script
# Prepare, from the repository root of a machine with PyPI access:
#   ex=$(git rev-parse --git-path info/exclude); grep -qxF '/.gpu/' "$ex" || echo '/.gpu/' >> "$ex"
#   mkdir -p .gpu/repo .gpu/whl .gpu/fmnist && git archive HEAD | tar -x -C .gpu/repo && git rev-parse HEAD > .gpu/COMMIT
#   cp benchmarks/gpu_check.sh .gpu/
#   cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .gpu/fmnist/        # 30 MB
#   .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .gpu/whl ml_collections==1.1.0 flax==0.12.12 optax==0.2.8 \
#       chex==0.1.92 orbax-checkpoint==0.12.8                            # 2.5 MB: the project's pinned pure-Python deps
# then copy .gpu/ to the GPU machine and run, there:   cd .gpu/repo && bash ../gpu_check.sh
# The GPU machine's python3 must have a CUDA-enabled JAX (the H200 figures: jax 0.11.2 with jax-cuda13 0.11.2, as
# its image had; cnnjax imports and passes its conv/pool/nn/step/precision tests under jax 0.11.2 on CPU).
# Script time is bounded by DEADLINE_S (default 480 s): every step has its own cap, is logged with its exit code and
# duration, and the script goes on after a failure; steps that no longer fit before the deadline are skipped (and
# recorded as skipped). Everything lands in $OUT:
#   summary.json      every step's rc/seconds + the headline results (read this first)
#   gpu_check.log     the whole log
#   pytest.log        the GPU test subset (JAX_DEFAULT_MATMUL_PRECISION=highest), then conv/gradient tests at TF32
#   lenet_run.json    `cnnjax train --model lenet5 --dataset fashion_mnist --epochs 1`: last line, metrics, manifest
#   bench_small.json  benchmarks/run.py --json: LeNet-5 (256) and ResNet-20 (128), if time is left
#   bench_extra.json  ResNet-50 float32 (TF32 by default on GPU) vs bfloat16 (config.precision, batch 256, then 128;
#                     the library's step as benchmarks/run.py builds it, one process each), the backend-specific
#                     routes, and GPU determinism fingerprints
# Dry run on a CPU machine:  cd .gpu/repo && DRY_RUN=1 PY=<python> OUT=/tmp/dry/out bash ../gpu_check.sh
#   (JAX_PLATFORMS=cpu, small shapes, few steps; PY names the interpreter, no wheels are installed).

set -u
export REPO="$(pwd)"
export GPU_DIR="$(cd "$REPO/.." && pwd)"
export WORK="${WORK:-/tmp/cnnjax_gpu}"
rm -rf "$WORK"; mkdir -p "$WORK"
export OUT="${OUT:-$WORK/out}"
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
exec > >(tee -a "$LOG") 2>&1
export START=$(date +%s)
DEADLINE_S="${DEADLINE_S:-480}"
export STEPS="$WORK/steps.jsonl"
: > "$STEPS"
export PYTHONUNBUFFERED=1
export FMNIST="$GPU_DIR/fmnist"
export CNNJAX_FASHION_MNIST_DIR="$FMNIST"
export JAXV_PROJECT="0.12.0.1"   # the project's jax (pyproject.toml: jax>=0.12,<0.13; .venv has 0.12.0.1)
export DRY_RUN="${DRY_RUN:-0}"
if [ "$DRY_RUN" = 1 ]; then export PLATFORM=cpu; else export PLATFORM=cuda; fi

remaining() { echo $(( DEADLINE_S - ($(date +%s) - START) )); }

# run_step NAME CAP_SECONDS FUNCTION: runs FUNCTION (a shell function, exported variables only) under `timeout`,
# capped by what is left before the deadline; records rc and seconds in $STEPS; never stops the script.
run_step() {
  local name=$1 cap=$2 fn=$3 left t t0 rc dt
  left=$(remaining); t=$(( cap < left - 15 ? cap : left - 15 ))
  if [ "$t" -lt $(( cap < 20 ? cap : 20 )) ]; then
    echo "=== $name: SKIPPED (deadline: ${left}s left)"
    echo "{\"step\": \"$name\", \"rc\": null, \"skipped\": \"deadline\"}" >> "$STEPS"; return 0
  fi
  echo "=== $name: start $(date -u +%H:%M:%S), timeout ${t}s, $(( $(date +%s) - START ))s into the script"
  t0=$(date +%s.%N)
  export STEP_TIMEOUT=$t
  timeout --kill-after=10 "$t" bash -c "$(declare -f "$fn"); $fn"; rc=$?
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  echo "=== $name: rc=$rc in ${dt}s$([ "$rc" = 124 ] && echo ' (TIMED OUT)')"
  echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $dt, \"timeout\": $t}" >> "$STEPS"
  return 0
}

# ----------------------------------------------------------------------------------------------- helper programs
cat > "$WORK/cnnjax_cli.py" <<'PY'
"""The `cnnjax` console script without installing the package (PYTHONPATH holds the repository)."""
import sys
from cnnjax.cli import main
sys.exit(main())
PY

cat > "$WORK/probe.py" <<'PY'
"""Versions, backend and devices under one numerics profile of cnnjax.backend (configured first, before JAX starts).
Usage: probe.py OUT_JSON PROFILE"""
import importlib.metadata as md, json, os, sys, time
t0 = time.time()
from cnnjax import backend
configuration = backend.configure(sys.argv[2])
import jax, jax.numpy as jnp
info = {"python": sys.version.split()[0], "executable": sys.executable, "profile_asked": sys.argv[2],
        "CNNJAX_PROFILE": os.environ.get("CNNJAX_PROFILE")}
for dist in ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda13-pjrt", "jax-cuda12-plugin", "jax-cuda12-pjrt", "flax",
             "optax", "chex", "orbax-checkpoint", "ml_collections", "numpy", "tensorstore", "pytest", "pytest-xdist"):
    try:
        info[dist] = md.version(dist)
    except md.PackageNotFoundError:
        info[dist] = None
info["jax_module_version"] = jax.__version__
info["jax_file"] = jax.__file__
info["configuration"] = configuration
info["active_profile"] = backend.active_profile()
info["backend"] = jax.default_backend()
info["devices"] = [f"{d.platform}:{d.device_kind}" for d in jax.devices()]
info["kernel_gradient_route_here"] = backend.kernel_gradient_route(jax.default_backend())
info["tiled_max_pool_here"] = backend.tiled_max_pool(jax.default_backend())
x = jnp.ones((2048, 2048), jnp.float32)
info["matmul_ok"] = float((x @ x)[0, 0]) == 2048.0
info["default_matmul_precision"] = str(jax.config.jax_default_matmul_precision)
import flax, optax, orbax.checkpoint, ml_collections, cnnjax.train  # noqa: F401,E401  (what `cnnjax train` imports)
info["import_train_ok"] = True
for mod in (flax, optax, orbax.checkpoint, ml_collections):
    info[f"{mod.__name__}_file"] = getattr(mod, "__file__", None)
try:
    info["memory_stats"] = {k: v for k, v in (jax.devices()[0].memory_stats() or {}).items() if "limit" in k or "peak" in k}
except Exception as e:  # noqa: BLE001
    info["memory_stats"] = repr(e)
info["seconds"] = round(time.time() - t0, 1)
json.dump(info, open(sys.argv[1], "w"), indent=1, default=str)
print(json.dumps(info, default=str))
PY

cat > "$WORK/micro.py" <<'PY'
"""The backend-specific routes of cnnjax on this device, against plain lax, under the "fast" profile that
`cnnjax train` runs by default (cnnjax.backend). On CPU that profile takes conv's kernel gradient through
`_kernel_tangent_cpu` (pre-padded conv + optimisation barrier, one conv per feature group), chosen when lowering by
lax.platform_dependent; on any other platform the `default` branch is the plain lax conv -- checked here by the
compiled HLO (no conditional, no pad/opt-barrier expected) and by the time against plain lax. Max pooling with
stride == window: the tiled formulation (`cnnjax.functional.pool._tiled_max_pool`, reshape + max, mask gradient) is
taken on CPU only (chosen when tracing, by jax.default_backend()); on GPU F.max_pool is lax.reduce_window, so the
tiled formulation is timed here explicitly against it. Last, what float32 means here (TF32 by default on GPU).
Usage: micro.py OUT_JSON   (MICRO_SMALL=1: small shapes, for a dry run on CPU)"""
import json, os, sys, time
from cnnjax import backend
backend.configure()  # $CNNJAX_PROFILE (set by the probe step if "fast" cannot start), else "fast"
import numpy as np
import jax, jax.numpy as jnp
from jax import lax
from cnnjax import functional as F
from cnnjax.functional.pool import _tiled_max_pool

SMALL = os.environ.get("MICRO_SMALL") == "1"
B = 4 if SMALL else 128
M = 512 if SMALL else 8192
res = {"backend": jax.default_backend(), "device": jax.devices()[0].device_kind, "profile": backend.active_profile(),
       "kernel_gradient_route_here": backend.kernel_gradient_route(jax.default_backend()),
       "tiled_max_pool_here": backend.tiled_max_pool(jax.default_backend()), "batch": B}
PATTERNS = {"conditional": " conditional(", "pad": " pad(", "opt_barrier": "opt-barrier(", "cudnn_calls": "__cudnn$",
            "onednn_calls": "__onednn$", "xla_convolution": " convolution(", "select_and_scatter": "select-and-scatter(",
            "reduce_window": "reduce-window("}


def timed(f, *args, n=20):
    jax.block_until_ready(f(*args))
    ts = []
    for _ in range(3 if SMALL else n):
        t = time.perf_counter(); jax.block_until_ready(f(*args)); ts.append(time.perf_counter() - t)
    return round(1e3 * float(np.median(ts)), 3)


def hlo(f, *args):
    text = f.lower(*args).compile().as_text()
    return {k: text.count(v) for k, v in PATTERNS.items()}


def rel(a, b):
    return float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))) / (jnp.max(jnp.abs(b)) + 1e-30))


def lax_conv(x, w, p, g, precision=None):
    return lax.conv_general_dilated(x, w, (1, 1), [(p, p), (p, p)], dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    feature_group_count=g, precision=precision)


def guarded(name, fn):
    try:
        res[name] = fn()
    except Exception as e:  # noqa: BLE001
        res[name] = {"error": f"{type(e).__name__}: {e}"[:1500]}
    print(name, json.dumps(res[name], default=str), flush=True)
    json.dump(res, open(sys.argv[1], "w"), indent=1, default=str)  # after each case: a timeout keeps what ran


def conv_case(xs, ws, p, g):
    kx, kw = jax.random.split(jax.random.key(0))
    x, w = jax.random.normal(kx, xs), 0.05 * jax.random.normal(kw, ws)
    loss = lambda conv: (lambda x, w: jnp.sum(jnp.square(conv(x, w))))  # noqa: E731
    ours = jax.jit(jax.grad(loss(lambda x, w: F.conv(x, w, padding=p, groups=g)), (0, 1)))
    ref = jax.jit(jax.grad(loss(lambda x, w: lax_conv(x, w, p, g)), (0, 1)))
    go, gr = ours(x, w), ref(x, w)
    return {"cnnjax_fwd_bwd_ms": timed(ours, x, w), "lax_fwd_bwd_ms": timed(ref, x, w),
            "grad_rel_diff_x_w": [rel(a, b) for a, b in zip(go, gr)], "hlo_cnnjax": hlo(ours, x, w),
            "hlo_lax": hlo(ref, x, w)}


guarded("conv_resnet3x3_b128", lambda: conv_case((B, 56, 56, 64), (3, 3, 64, 64), 1, 1))
guarded("conv_alexnet2_groups2_b128", lambda: conv_case((B, 27, 27, 96), (5, 5, 48, 256), 2, 2))


def pool_case():
    x = jax.random.normal(jax.random.key(1), (B, 112, 112, 64))
    rw = lambda x, k, s, pad: lax.reduce_window(x, -jnp.inf, lax.max, (1, k, k, 1), (1, s, s, 1), pad)  # noqa: E731
    ours = jax.jit(jax.grad(lambda x: jnp.sum(jnp.square(F.max_pool(x, 2)))))
    tiled = jax.jit(jax.grad(lambda x: jnp.sum(jnp.square(_tiled_max_pool(x, (2, 2))))))
    ref = jax.jit(jax.grad(lambda x: jnp.sum(jnp.square(rw(x, 2, 2, "VALID")))))
    stem = jax.jit(jax.grad(lambda x: jnp.sum(jnp.square(F.max_pool(x, 3, 2, padding=1)))))
    return {"max_pool_2x2_fwd_bwd_ms": timed(ours, x), "tiled_2x2_fwd_bwd_ms": timed(tiled, x),
            "reduce_window_2x2_fwd_bwd_ms": timed(ref, x),
            "tiled_2x2_fwd_ms": timed(jax.jit(lambda x: _tiled_max_pool(x, (2, 2))), x),
            "reduce_window_2x2_fwd_ms": timed(jax.jit(lambda x: rw(x, 2, 2, "VALID")), x),
            "grads_equal_tiled_vs_reduce_window": bool(jnp.array_equal(tiled(x), ref(x))),
            "grads_equal_max_pool_vs_reduce_window": bool(jnp.array_equal(ours(x), ref(x))),
            "hlo_max_pool": hlo(ours, x), "hlo_tiled": hlo(tiled, x),
            "hlo_reduce_window": hlo(ref, x), "hlo_overlapping_3x3s2_stem": hlo(stem, x)}


guarded("maxpool_112x112x64_b128", pool_case)


def precision_case():
    a = jax.random.normal(jax.random.key(2), (M, M))
    d = jax.jit(lambda a: a @ a)
    h = jax.jit(lambda a: jnp.matmul(a, a, precision="highest"))
    x = jax.random.normal(jax.random.key(3), (B // 2, 56, 56, 64)); w = 0.05 * jax.random.normal(jax.random.key(4), (3, 3, 64, 64))
    cd = jax.jit(lambda x, w: lax_conv(x, w, 1, 1)); ch = jax.jit(lambda x, w: lax_conv(x, w, 1, 1, lax.Precision.HIGHEST))
    md_, mh = timed(d, a, n=5), timed(h, a, n=5)
    return {"matmul_size": M, "matmul_default_ms": md_, "matmul_highest_ms": mh,
            "matmul_default_tflops": round(2 * M**3 / md_ / 1e9, 1),
            "matmul_highest_tflops": round(2 * M**3 / mh / 1e9, 1),
            "matmul_default_vs_highest_rel": rel(d(a), h(a)), "conv_default_vs_highest_rel": rel(cd(x, w), ch(x, w)),
            "note": "rel ~1e-3 means the default float32 matmul/conv runs as TF32 (JAX's default precision on GPU)"}


guarded("precision", precision_case)
json.dump(res, open(sys.argv[1], "w"), indent=1, default=str)
PY

cat > "$WORK/bench_dtype.py" <<'PY'
"""ResNet-50 training step img/s at one compute dtype, with the library's own step, built as benchmarks/run.py's
build_setup builds it (default_config, SGD momentum 0.9, lr 0.01, batch norm in training mode, `cnnjax.train.build`
-> Setup.train_step, jitted with the state donated) plus config.precision: the library's compute dtype (the
preprocessed inputs are cast to it and every layer follows them; parameters, optimiser state, the loss and batch
norm's statistics stay float32). Random uint8 224x224 images, under the "fast" profile (`cnnjax train`'s default).
One configuration per process, so that the device's peak memory is this configuration's. Achieved TFLOP/s as
benchmarks/run.py counts them: 6 x forward MACs (cnnjax.summary) x batch / step time.
Usage: bench_dtype.py OUT_JSONL BATCH DTYPE [SIZE] [TIMED_STEPS]   (appends one JSON record per line)"""
import json, os, re, sys, time
sys.path.insert(0, os.getcwd())
from cnnjax import backend
backend.configure()  # $CNNJAX_PROFILE (set by the probe step if "fast" cannot start), else "fast"
import numpy as np
import jax
from benchmarks.run import LR, MOMENTUM, Workload, _random_dataset
from cnnjax import summary
from cnnjax.train import build, default_config, validate

out_path, batch, dtype = sys.argv[1], int(sys.argv[2]), sys.argv[3]
size = int(sys.argv[4]) if len(sys.argv) > 4 else 224
timed_steps = int(sys.argv[5]) if len(sys.argv) > 5 else 10
record = {"model": "resnet50", "batch": batch, "precision": dtype, "image_size": size,
          "profile": backend.active_profile(), "matmul_precision": "'' (JAX default: TF32 for float32 on GPU)"}
try:
    w = Workload("resnet50", batch, (size, size, 3), 1000)
    ds = _random_dataset(w, batch)
    config = default_config()
    config.model, config.batch_size, config.eval_batch_size, config.num_steps = "resnet50", batch, batch, 10_000
    config.optimizer.name, config.optimizer.lr, config.optimizer.momentum = "momentum", LR, MOMENTUM
    config.steps_per_call = 1
    config.precision = dtype
    setup = build(validate(config, dataset_given=True), ds)
    state = jax.jit(setup.init)()
    b = jax.device_put({"image": ds.train.images[:batch], "label": ds.train.labels[:batch]})
    t = time.perf_counter()
    step = jax.jit(setup.train_step, donate_argnums=0).lower(state, b).compile()
    record["compile_s"] = round(time.perf_counter() - t, 1)
    text = step.as_text()
    conv_types = [re.search(r"=\s*\(?(\w+)\[", line) for line in text.splitlines()
                  if " convolution(" in line or "__cudnn$conv" in line or "__onednn$conv" in line]
    record["hlo_convolutions_by_result_dtype"] = {t: [m.group(1) for m in conv_types if m].count(t)
                                                  for t in {m.group(1) for m in conv_types if m}}
    state, m = step(state, b)
    record["first_loss"], record["loss_dtype"] = float(m["loss"]), str(m["loss"].dtype)
    record["param_dtypes"] = sorted({str(x.dtype) for x in jax.tree.leaves(state.params)})
    record["batch_stats_dtypes"] = sorted({str(x.dtype) for x in jax.tree.leaves(state.batch_stats)})
    for _ in range(2):
        state, m = step(state, b)
    jax.block_until_ready(m)
    times = []
    for _ in range(timed_steps):
        t = time.perf_counter(); state, m = step(state, b); jax.block_until_ready(m); times.append(time.perf_counter() - t)
    record["synced_step_ms"] = round(1e3 * float(np.median(times)), 2)
    record["synced_img_per_s"] = round(batch / float(np.median(times)), 1)
    try:
        macs = summary(setup.model, (size, size, 3)).macs  # forward MACs per example (cnnjax.summary)
        record["forward_gmacs_per_example"] = round(macs / 1e9, 3)
        record["achieved_tflops"] = round(6 * macs * batch / float(np.median(times)) / 1e12, 2)  # as benchmarks/run.py
    except Exception as e:  # noqa: BLE001
        record["achieved_tflops"] = f"{type(e).__name__}: {e}"[:300]
    n = 2 * timed_steps
    t = time.perf_counter()
    for _ in range(n):
        state, m = step(state, b)
    jax.block_until_ready((state, m))
    record["pipelined_img_per_s"] = round(n * batch / (time.perf_counter() - t), 1)
    record["last_loss"] = float(m["loss"])
    record["last_loss_finite"] = bool(np.isfinite(float(m["loss"])))
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001  (CPU: no memory stats)
        stats = {}
    record["peak_gib"] = round(stats.get("peak_bytes_in_use", 0) / 2**30, 2) if stats else None
    record["device"] = jax.devices()[0].device_kind
except Exception as e:  # noqa: BLE001
    record["error"] = f"{type(e).__name__}: {e}"[:1500]
print(json.dumps(record), flush=True)
with open(out_path, "a") as f:
    f.write(json.dumps(record) + "\n")
PY

cat > "$WORK/det.py" <<'PY'
"""Run-to-run determinism of the library's training step on this GPU under one numerics profile (cnnjax.backend:
"fast", `cnnjax train`'s default, keeps XLA's GPU defaults; "portable" adds --xla_gpu_deterministic_ops=true):
ResNet-18 (ImageNet stem: BatchNorm, the overlapping 3x3/2 max-pool whose gradient is select-and-scatter), 64x64
random images, batch 64, 12 steps; records the fingerprint of the final state (cnnjax.train.checkpoint.fingerprint,
integer arithmetic) for single steps and for steps unrolled 2 per call (cnnjax.train.unrolled, which gives the same
bits on CPU; LABEL *_a only). Usage: det.py OUT_JSON LABEL PROFILE [SIZE] [STEPS]"""
import json, os, sys, time
sys.path.insert(0, os.getcwd())
from cnnjax import backend
configuration = backend.configure(sys.argv[3])
import flax, jax
from benchmarks.run import Workload, build_setup, _random_dataset
from cnnjax.train import unrolled
from cnnjax.train.checkpoint import fingerprint

size = int(sys.argv[4]) if len(sys.argv) > 4 else 64
steps = int(sys.argv[5]) if len(sys.argv) > 5 else 12
UNROLLED = sys.argv[2].endswith("_a")  # the second process of a profile checks the single steps alone
record = {"label": sys.argv[2], "profile": backend.active_profile(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
          "steps": steps, "image_size": size}
try:
    w = Workload("resnet18", 64, (size, size, 3), 100)
    ds = _random_dataset(w, 4 * 64)
    setup = build_setup(w, ds, 1)
    batches = [jax.device_put({"image": ds.train.images[i * 64:(i + 1) * 64],
                               "label": ds.train.labels[i * 64:(i + 1) * 64]}) for i in range(4)]
    state = jax.jit(setup.init)()
    record["init_fingerprint"] = fingerprint(flax.serialization.to_state_dict(state))
    step = jax.jit(setup.train_step, donate_argnums=0)
    t = time.perf_counter()
    for i in range(steps):
        state, m = step(state, batches[i % 4])
    jax.block_until_ready(state)
    record["single_seconds"] = round(time.perf_counter() - t, 2)
    record["single_fingerprint"] = fingerprint(flax.serialization.to_state_dict(state))
    record["single_loss"] = float(m["loss"])
    json.dump(record, open(sys.argv[1], "w"), indent=1)  # kept if the unrolled part runs out of time
    if UNROLLED:
        state = jax.jit(setup.init)()
        two = jax.jit(unrolled(setup.train_step, 2), donate_argnums=0)
        for i in range(0, steps, 2):
            state, m = two(state, batches[i % 4], batches[(i + 1) % 4])
        jax.block_until_ready(state)
        record["unrolled2_fingerprint"] = fingerprint(flax.serialization.to_state_dict(state))
        record["unrolled2_loss"] = float(m["loss"][-1])
except Exception as e:  # noqa: BLE001
    record["error"] = f"{type(e).__name__}: {e}"[:1500]
print(json.dumps(record), flush=True)
json.dump(record, open(sys.argv[1], "w"), indent=1)
PY

cat > "$WORK/summary.py" <<'PY'
"""Collects the pieces into $OUT/summary.json, $OUT/lenet_run.json and $OUT/bench_extra.json."""
import glob, json, os, re
W, O = os.environ["WORK"], os.environ["OUT"]


def load(path):
    try:
        return json.load(open(path))
    except Exception as e:  # noqa: BLE001
        return {"missing": f"{os.path.basename(path)}: {type(e).__name__}"}


def load_lines(path):
    try:
        return [json.loads(line) for line in open(path) if line.strip()]
    except Exception as e:  # noqa: BLE001
        return [{"missing": f"{os.path.basename(path)}: {type(e).__name__}"}]


def tail(path, n=4000):
    try:
        return open(path, errors="replace").read()[-n:]
    except OSError:
        return None


steps = load_lines(os.path.join(W, "steps.jsonl"))
summary = {"commit": (tail(os.path.join(os.environ.get("GPU_DIR", ""), "COMMIT"), 100) or "").strip(),
           "dry_run": os.environ.get("DRY_RUN") == "1", "steps": steps, "setup": load(os.path.join(W, "setup.json")),
           "env_profile_fast": load(os.path.join(W, "env_fast.json")),
           "env_profile_xla": load(os.path.join(W, "env_xla.json"))}
text = tail(os.path.join(O, "pytest.log"), 10**6) or ""
summary["pytest"] = [
    {"run": label, **{k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)", line)},
     "seconds": (re.findall(r" in ([\d.]+)s", line) or [None])[0]}
    for label, line in zip(re.findall(r"^### ((?:GPU subset|the conv/gradient tests).*)$", text, re.M),
                           [line for line in text.splitlines()
                            if re.match(r"^=*\s*\d+ (passed|failed|error|deselected)", line.strip("= "))])]
summary["pytest_result_lines"] = [line for line in text.splitlines()
                                  if re.match(r"^=*\s*\d+ (passed|failed|error|deselected)", line.strip("= "))]
summary["pytest_failures"] = [line for line in text.splitlines() if line.startswith(("FAILED", "ERROR"))][:40]

lenet_dir = os.path.join(W, "lenet")
records = [r for r in load_lines(os.path.join(lenet_dir, "metrics.jsonl")) if "missing" not in r]
manifest = load(os.path.join(lenet_dir, "manifest.json"))
lenet = {"stdout_tail": tail(os.path.join(W, "lenet_stdout.txt")), "metrics": records, "manifest": manifest,
         "checkpoints": sorted(os.listdir(os.path.join(lenet_dir, "checkpoints"))) if os.path.isdir(os.path.join(lenet_dir, "checkpoints")) else None}
json.dump(lenet, open(os.path.join(O, "lenet_run.json"), "w"), indent=1, default=str)
if records:
    evals = [r for r in records if "test_accuracy" in r]
    last = evals[-1] if evals else records[-1]
    summary["lenet5_1_epoch"] = {k: last.get(k) for k in ("step", "epoch", "test_accuracy", "test_loss", "train_loss", "train_accuracy")}
    summary["lenet5_1_epoch"]["images_per_sec"] = [r.get("images_per_sec") for r in records if "images_per_sec" in r]
    summary["lenet5_1_epoch"]["compile_seconds"] = manifest.get("compile_seconds") if isinstance(manifest, dict) else None
    summary["lenet5_1_epoch"]["numerics_profile"] = (manifest.get("backend") or {}).get("profile") if isinstance(manifest, dict) else None
    summary["lenet5_1_epoch"]["device_kind"] = manifest.get("device_kind") if isinstance(manifest, dict) else None
    summary["lenet5_1_epoch"]["wall_seconds"] = (manifest.get("start_time"), manifest.get("end_time")) if isinstance(manifest, dict) else None

small = load(os.path.join(O, "bench_small.json"))
if "results" in small:
    summary["small_models_benchmarks_run"] = [{k: r.get(k) for k in ("workload", "batch", "img_per_s", "step_ms", "compile_s",
                                               "pipeline_img_per_s", "pipeline_source", "achieved_gflops", "steps_per_call", "device", "error")}
                                              for r in small["results"]]
    summary["small_models_versions"] = small.get("versions")
else:
    summary["small_models_benchmarks_run"] = small
extra = {"dtype": load_lines(os.path.join(W, "dtype.jsonl")), "routes": load(os.path.join(W, "micro.json")),
         "determinism": {os.path.basename(p)[4:-5]: load(p) for p in sorted(glob.glob(os.path.join(W, "det_*.json")))}}
json.dump(extra, open(os.path.join(O, "bench_extra.json"), "w"), indent=1, default=str)
summary["resnet50_dtype"] = extra["dtype"]
det = extra["determinism"]


def same(a, key_a, b, key_b):
    """None when either fingerprint is missing, else whether they are equal."""
    x, y = det.get(a, {}).get(key_a), det.get(b, {}).get(key_b)
    return None if x is None or y is None else x == y


summary["determinism"] = {
    "fast_two_processes_equal": same("fast_a", "single_fingerprint", "fast_b", "single_fingerprint"),
    "portable_two_processes_equal": same("portable_a", "single_fingerprint", "portable_b", "single_fingerprint"),
    "unrolled2_equals_single_fast": same("fast_a", "single_fingerprint", "fast_a", "unrolled2_fingerprint"),
    "unrolled2_equals_single_portable": same("portable_a", "single_fingerprint", "portable_a", "unrolled2_fingerprint"),
    "init_equal_across_processes": same("fast_a", "init_fingerprint", "portable_b", "init_fingerprint"),
    "fast_equals_portable": same("fast_a", "single_fingerprint", "portable_a", "single_fingerprint"),
    "errors": {k: v.get("error") for k, v in det.items() if isinstance(v, dict) and v.get("error")},
}
routes = extra["routes"]
summary["routes"] = {k: v for k, v in routes.items() if not isinstance(v, dict) or k == "precision"}
for name in ("conv_resnet3x3_b128", "conv_alexnet2_groups2_b128", "maxpool_112x112x64_b128"):
    v = routes.get(name, {})
    summary["routes"][name] = {k: v.get(k) for k in v if not k.startswith("hlo")} | {
        "hlo": {k: v[k] for k in v if k.startswith("hlo")}}
json.dump(summary, open(os.path.join(O, "summary.json"), "w"), indent=1, default=str)
print(json.dumps(summary, indent=1, default=str)[:12000])
PY

# ------------------------------------------------------------------------------------------------------- steps
step_env() {
  echo "--- nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm --format=csv || true
  nvidia-smi | head -15 || true
  echo "--- host"; uname -a; nproc; free -g | head -2; df -h /tmp | tail -1
  echo "--- python3: $(command -v python3) $(python3 --version 2>&1)"
  python3 - <<'PY' || true
import importlib.metadata as md
for d in ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda13-pjrt", "jax-cuda12-plugin", "jax-cuda12-pjrt", "flax",
          "optax", "chex", "orbax-checkpoint", "ml_collections", "tensorstore", "etils", "numpy", "scipy", "tqdm",
          "pillow", "pytest", "pytest-xdist", "pytest-timeout", "torch"):
    try: print(f"  {d}=={md.version(d)}")
    except md.PackageNotFoundError: print(f"  {d}: not installed")
PY
  echo "--- snapshot commit: $(cat "$GPU_DIR/COMMIT" 2>/dev/null)"
  ls -la "$GPU_DIR" "$GPU_DIR/whl" "$FMNIST" 2>&1 | head -30
}

# The interpreter: the image's python3 (CUDA-enabled JAX), with the carried wheels (.gpu/whl) installed into
# $WORK/site ahead of it on PYTHONPATH (dry run: $PY as given, nothing installed). Writes $WORK/env.sh.
step_setup() {
  if [ "$DRY_RUN" = 1 ]; then
    echo "export PY=$PY PYTHONPATH=$REPO" > "$WORK/env.sh"
    echo "{\"mode\": \"dry run: $PY\"}" > "$WORK/setup.json"
    cat "$WORK/env.sh"; return 0
  fi
  site="$WORK/site"; mkdir -p "$site"
  wheels=$(ls "$GPU_DIR"/whl/*.whl 2>/dev/null)
  pinned=""
  if [ -n "$wheels" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" $wheels \
      && pinned="carried wheels: $(for w in $wheels; do basename "$w"; done | tr '\n' ' ')"
  fi
  echo "export PY=$(command -v python3) PYTHONPATH=$site:$REPO" > "$WORK/env.sh"
  . "$WORK/env.sh"
  if ! $PY -c "import flax, optax, chex, orbax.checkpoint, ml_collections" 2>"$WORK/import_err.txt"; then
    echo "pinned wheels do not import on this image:"; tail -5 "$WORK/import_err.txt"
    rm -rf "$site"; mkdir -p "$site"
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" $(ls "$GPU_DIR"/whl/ml_collections-*.whl 2>/dev/null)
    pinned="only ml_collections (pinned flax/optax/chex/orbax failed to import; the image's versions are used)"
  fi
  echo "{\"mode\": \"offline: image python3 + PYTHONPATH\", \"wheels\": \"$pinned\"}" > "$WORK/setup.json"
  cat "$WORK/env.sh"
}

# Both ends of cnnjax.backend: "fast" (cnnjax train's default: adds XLA:CPU flags, which XLA must know even on GPU)
# and "xla" (nothing set). If only "xla" starts, the later steps run under it (CNNJAX_PROFILE=xla).
step_probe() {
  . "$WORK/env.sh"
  JAX_PLATFORMS=$PLATFORM $PY "$WORK/probe.py" "$WORK/env_fast.json" fast; rc1=$?
  JAX_PLATFORMS=$PLATFORM $PY "$WORK/probe.py" "$WORK/env_xla.json" xla; rc2=$?
  echo "probe under the fast profile: rc=$rc1; under xla: rc=$rc2"
  if [ "$rc1" != 0 ] && [ "$rc2" = 0 ]; then
    echo "export CNNJAX_PROFILE=xla FLAGS_ABORT=1  # the fast profile's XLA:CPU flags broke start-up here" >> "$WORK/env.sh"
  fi
  [ "$rc1" = 0 ] || [ "$rc2" = 0 ]
}

# Deselected: the two tests that count XLA:CPU instructions (oneDNN custom calls, per-group kernel gradients).
PYTEST_CPU_ONLY="--deselect tests/functional/test_conv.py::test_grouped_kernel_gradient_is_one_convolution_per_group_on_cpu --deselect tests/functional/test_conv.py::test_conv_kernel_gradient_is_left_to_eigen_under_the_fast_profile"
export PYTEST_CPU_ONLY

step_pytest() {
  . "$WORK/env.sh"
  xdist=""; $PY -c "import xdist" 2>/dev/null && xdist="-n ${PYTEST_WORKERS:-8}"
  export JAX_PLATFORMS=$PLATFORM XLA_PYTHON_CLIENT_PREALLOCATE=false
  if [ "$DRY_RUN" = 1 ]; then
    files="tests/functional/test_losses.py tests/train/test_loop.py::test_same_seed_gives_bitwise_equal_runs"
  else
    files="tests/functional/test_conv.py tests/functional/test_pool.py tests/functional/test_norm.py
      tests/functional/test_gradients.py tests/functional/test_losses.py tests/nn
      tests/train/test_step.py tests/train/test_checkpoint.py tests/train/test_precision.py
      tests/train/test_loop.py::test_smoke_run_writes_every_file
      tests/train/test_loop.py::test_same_seed_gives_bitwise_equal_runs
      tests/train/test_loop.py::test_stopped_and_resumed_run_equals_the_uninterrupted_one
      tests/train/test_loop.py::test_steps_unrolled_into_one_call_give_the_same_bits_and_records
      tests/train/test_parallel.py::test_the_strategy_compiles_puts_fetches_and_reduces_on_one_device
      tests/train/test_parallel.py::test_sharding_helpers_on_one_device"
  fi
  (
    echo "### GPU subset, JAX_DEFAULT_MATMUL_PRECISION=highest (true float32 convs/matmuls), $xdist"
    JAX_DEFAULT_MATMUL_PRECISION=highest timeout $(( STEP_TIMEOUT - 5 )) $PY -m pytest -q -p no:cacheprovider $xdist -rfE \
      $files $PYTEST_CPU_ONLY
    rc=$?
    [ "$rc" = 124 ] && echo "### pytest TIMED OUT after $(( STEP_TIMEOUT - 5 ))s"
    echo "### deselected above: test_grouped_kernel_gradient_is_one_convolution_per_group_on_cpu and"
    echo "### test_conv_kernel_gradient_is_left_to_eigen_under_the_fast_profile (count XLA:CPU instructions)"
    exit $rc
  ) > "$OUT/pytest.log" 2>&1
  rc=$?
  tail -25 "$OUT/pytest.log"
  return $rc
}

step_pytest_tf32() {
  . "$WORK/env.sh"
  xdist=""; $PY -c "import xdist" 2>/dev/null && xdist="-n ${PYTEST_WORKERS:-8}"
  files="tests/functional/test_conv.py tests/functional/test_gradients.py"
  [ "$DRY_RUN" = 1 ] && files="tests/functional/test_losses.py"
  (
    echo; echo "### the conv/gradient tests at JAX's default precision (TF32 on this GPU), $xdist"
    JAX_PLATFORMS=$PLATFORM XLA_PYTHON_CLIENT_PREALLOCATE=false timeout $(( STEP_TIMEOUT - 5 )) $PY -m pytest -q \
      -p no:cacheprovider $xdist -rfE $files $PYTEST_CPU_ONLY
    rc=$?
    [ "$rc" = 124 ] && echo "### pytest TIMED OUT after $(( STEP_TIMEOUT - 5 ))s"
    exit $rc
  ) >> "$OUT/pytest.log" 2>&1
  rc=$?; tail -8 "$OUT/pytest.log"; return $rc
}

step_lenet() {
  . "$WORK/env.sh"
  extra=""; [ "$DRY_RUN" = 1 ] && extra="--limit-train 2048"
  JAX_PLATFORMS=$PLATFORM $PY "$WORK/cnnjax_cli.py" train --model lenet5 --dataset fashion_mnist --epochs 1 \
    --data-dir "$FMNIST" --workdir "$WORK/lenet" $extra > "$WORK/lenet_stdout.txt" 2>&1
  rc=$?; tail -15 "$WORK/lenet_stdout.txt"; return $rc
}

# ResNet-50 at config.precision float32 and bfloat16, one process each (peak memory per configuration), batch 256
# first; each further one only if 60 s of the step's time are left. (benchmarks/run.py would compile the same f32
# step once more: its ResNet-50 run is left out to fit the device time; it runs LeNet-5 and ResNet-20 at the end.)
step_dtype() {
  . "$WORK/env.sh"
  t0=$(date +%s)
  if [ "$DRY_RUN" = 1 ]; then configs="2:float32 2:bfloat16"; size=64; n=2
  else configs="256:float32 256:bfloat16 128:bfloat16 128:float32"; size=224; n=10; fi
  for c in $configs; do
    if [ $(( STEP_TIMEOUT - ($(date +%s) - t0) )) -lt 60 ]; then
      echo "{\"model\": \"resnet50\", \"batch\": ${c%%:*}, \"precision\": \"${c##*:}\", \"skipped\": \"step time\"}" >> "$WORK/dtype.jsonl"
      continue
    fi
    JAX_PLATFORMS=$PLATFORM $PY "$WORK/bench_dtype.py" "$WORK/dtype.jsonl" "${c%%:*}" "${c##*:}" $size $n
  done
}

step_micro() {
  . "$WORK/env.sh"
  small=0; [ "$DRY_RUN" = 1 ] && small=1
  JAX_PLATFORMS=$PLATFORM MICRO_SMALL=$small $PY "$WORK/micro.py" "$WORK/micro.json"
}

step_det() {
  . "$WORK/env.sh"
  export JAX_PLATFORMS=$PLATFORM XLA_PYTHON_CLIENT_MEM_FRACTION=0.15
  args=""; [ "$DRY_RUN" = 1 ] && args="32 2"
  for p in fast portable; do
    for label in ${p}_a ${p}_b; do $PY "$WORK/det.py" "$WORK/det_$label.json" $label $p $args & done
  done
  wait
}

step_small() {
  . "$WORK/env.sh"
  flags=""; [ "${FLAGS_ABORT:-0}" = 1 ] && flags="--xla-flags xla"
  n=20; r=3; [ "$DRY_RUN" = 1 ] && n=2 && r=1
  JAX_PLATFORMS=$PLATFORM $PY benchmarks/run.py --workloads lenet5,resnet20 --frameworks cnnjax --steps $n --rounds $r \
    --warmup 3 --peak-size 0 --pipeline-seconds 1 $flags --json "$OUT/bench_small.json"
}

export -f remaining
echo "cnnjax GPU check: repo $REPO (commit $(cat "$GPU_DIR/COMMIT" 2>/dev/null)), work $WORK, out $OUT, deadline ${DEADLINE_S}s, dry run $DRY_RUN"
run_step env 40 step_env
run_step setup 120 step_setup
run_step probe 90 step_probe
run_step pytest 150 step_pytest
run_step lenet5_train_1_epoch 110 step_lenet
DTYPE_CAP=$(( $(remaining) - 150 < 200 ? $(remaining) - 150 : 200 ))
[ "$DTYPE_CAP" -lt 90 ] && DTYPE_CAP=90
run_step resnet50_f32_vs_bf16 "$DTYPE_CAP" step_dtype
run_step routes_conv_pool_precision 70 step_micro
run_step determinism "${DET_CAP:-100}" step_det
run_step pytest_at_tf32 70 step_pytest_tf32
run_step small_models_benchmarks_run 90 step_small
echo "=== nvidia-smi at the end"; nvidia-smi --query-gpu=memory.used,temperature.gpu,clocks.sm --format=csv || true
. "$WORK/env.sh" 2>/dev/null
timeout 60 "${PY:-python3}" "$WORK/summary.py" > "$WORK/summary_stdout.txt" 2>&1 || timeout 60 python3 "$WORK/summary.py" > "$WORK/summary_stdout.txt" 2>&1
head -c 12000 "$WORK/summary_stdout.txt"
echo "=== done in $(( $(date +%s) - START ))s; files in $OUT:"; ls -la "$OUT"
sleep 1  # let tee flush the log
