#!/usr/bin/env bash
# Same seed, same bits on a GPU? `cnnjax train` LeNet-5 on Fashion-MNIST (2 epochs, seed 0) twice under each profile
# ("portable": --xla_gpu_deterministic_ops=true; "fast": XLA's GPU defaults), and under "portable" a run stopped at
# step 500 then resumed; compares the final parameters' fingerprints and the metrics records (timings apart).
# Its result on one NVIDIA H200: benchmarks/results/gpu_h200_bits.json (docs/reproducibility.md).
# Prepared and run like benchmarks/gpu_check.sh (its header): .gpu/repo (a git archive), .gpu/whl, .gpu/fmnist, and
# this script as .gpu/bits.sh; on the GPU machine: bash .gpu/bits.sh (OUT names the results folder).
# Dry run on a CPU machine: DRY_RUN=1 PY=<python> bash .gpu/bits.sh
set -u
cd "$(dirname "$0")/repo"
OUT=${OUT:-/tmp/bits_out}; mkdir -p "$OUT"
PY=${PY:-python3}
if [ -z "${DRY_RUN:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site ../whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
  export JAX_PLATFORMS=cuda
else
  export PYTHONPATH=$PWD JAX_PLATFORMS=cpu
fi
export CNNJAX_FASHION_MNIST_DIR=$PWD/../fmnist PYTHONUNBUFFERED=1
EPOCHS=${EPOCHS:-2}
train() { $PY -c "import sys; from cnnjax.cli import main; sys.exit(main())" train --model lenet5 --dataset fashion_mnist \
  --epochs $EPOCHS --numerics "$1" --workdir "/tmp/bits/$2" "${@:3}" > "$OUT/$2.txt" 2>&1; echo "$2 rc=$?"; }
rm -rf /tmp/bits
train portable portable_a; train portable portable_b; train fast fast_a; train fast fast_b
train portable portable_resumed --config.stop_after_step=500; train portable portable_resumed
$PY - <<'PYEOF' | tee "$OUT/bits.json"
import json
import jax
from cnnjax.train import restore_run
from cnnjax.train.checkpoint import fingerprint
def load(name):
    _, _, variables = restore_run(f"/tmp/bits/{name}")
    records = [json.loads(l) for l in open(f"/tmp/bits/{name}/metrics.jsonl")]
    drop = ("images_per_sec", "wall_time", "compile_seconds", "time")
    return fingerprint(jax.device_get(variables)), [{k: v for k, v in r.items() if k not in drop} for r in records]
runs = {n: load(n) for n in ("portable_a", "portable_b", "fast_a", "fast_b", "portable_resumed")}
result = {
  "device": jax.devices()[0].device_kind, "jax": jax.__version__,
  "portable_two_runs_same_parameters": runs["portable_a"][0] == runs["portable_b"][0],
  "portable_two_runs_same_records": runs["portable_a"][1] == runs["portable_b"][1],
  "portable_resumed_same_parameters": runs["portable_a"][0] == runs["portable_resumed"][0],
  "portable_resumed_same_records": runs["portable_a"][1] == runs["portable_resumed"][1],
  "fast_two_runs_same_parameters": runs["fast_a"][0] == runs["fast_b"][0],
  "fast_two_runs_same_records": runs["fast_a"][1] == runs["fast_b"][1],
  "test_accuracy": {n: r[1][-1].get("test_accuracy") for n, r in runs.items()},
  "test_loss": {n: r[1][-1].get("test_loss") for n, r in runs.items()},
}
print(json.dumps(result, indent=1))
PYEOF
