"""A short deterministic training under the "portable" profile and its fingerprint: the sha256 of the trained
variables, with the machine and versions that computed it.

    .venv/bin/python tests/golden/portable.py                    # print this machine's fingerprint (one JSON line)
    .venv/bin/python tests/golden/portable.py --write --emulate  # record it in portable_fingerprint.json

portable_fingerprint.json (beside this file) holds one fingerprint per ISA class (`cnnjax.environment.isa_class`),
all from one jax version: --write records this machine's under its class (and starts the file afresh when the jax
version differs), --emulate also records the "avx2" class from AVX2 CPUs that QEMU emulates.

The model is small and built of the operations "portable" runs on ISA-independent paths (`cnnjax.backend`): 3x3
convolutions with more than 16 channels (YNNPACK with consistent arithmetic), ReLU, a global mean and a dense head,
trained with the classifier recipe's AdamW, cosine schedule and label smoothing (elementwise math in XLA's own code
generation, capped at AVX2) on fixed uint8 images with the normalisation given, not computed. `--emulate` runs the
training on the AVX2 CPUs that QEMU's user-mode emulation provides (qemu-x86_64 >= 7.2): each library sees the
emulated CPU through cpuid, so it gives another ISA class's bits without such a machine.

tests/test_portability.py compares every machine's fingerprint with the committed one.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

GOLDEN = Path(__file__).with_name("portable_fingerprint.json")
ROOT = Path(__file__).resolve().parents[2]
QEMU = "qemu-x86_64"
EMULATED_CPUS = ("EPYC-Rome", "Haswell")  # AVX2 without AVX-512: AMD Zen 2 and Intel, with other cache sizes
BATCH, STEPS, SIZE, CLASSES = 32, 6, 12, 4


def train() -> dict:
    """Trains the model under "portable" (configured here, first thing) and returns its fingerprint."""
    from cnnjax import backend

    backend.configure("portable")

    import flax.linen as nn
    import jax
    import numpy as np

    from cnnjax import data, environment
    from cnnjax.train import build, recipe, validate

    class Model(nn.Module):
        """(N, SIZE, SIZE, 1) -> (N, CLASSES): conv 3x3 (24) - ReLU - conv 3x3 (24) - ReLU - mean - dense."""

        @nn.compact
        def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
            x = nn.relu(nn.Conv(24, (3, 3), name="conv1")(x))
            x = nn.relu(nn.Conv(24, (3, 3), name="conv2")(x))
            return nn.Dense(CLASSES, name="head")(x.mean(axis=(1, 2)))

    rng = np.random.default_rng(0)
    labels = (np.arange(BATCH * STEPS) % CLASSES).astype(np.int32)
    images = rng.integers(0, 128, (len(labels), SIZE, SIZE, 1), dtype=np.uint8)
    images[:, : SIZE // 2] += (64 * (labels % 2)).astype(np.uint8)[:, None, None, None]  # learnable
    dataset = data.from_arrays(images, labels, num_classes=CLASSES, mean=(0.25,), std=(0.25,))
    config = recipe("lenet5")
    config.batch_size, config.num_steps, config.num_epochs, config.steps_per_call = BATCH, STEPS, 0, 1
    setup = build(validate(config, model=Model(), dataset_given=True), dataset, Model())
    state = jax.jit(setup.init)()
    step = jax.jit(setup.train_step)
    for batch in data.batches(setup.train_source, BATCH, seed=setup.shuffle_seed, epoch=0):
        state, metrics = step(state, batch)
    leaves = [np.asarray(x) for x in jax.tree.leaves(state.variables())]
    fp = environment.fingerprint()
    return {
        "sha256": hashlib.sha256(b"".join(x.tobytes() for x in leaves)).hexdigest(),
        "final_loss": float(jax.device_get(metrics["loss"])).hex(),
        "machine": {"cpu_model": fp["cpu_model"], "isa_class": fp["isa_class"], "cores": fp["cpu_cores"]["available"]},
        "versions": {name: fp["versions"][name] for name in ("jax", "jaxlib")},
    }


def run(*, cpu: str | None = None, one_core: bool = False) -> dict:
    """`train()` in a fresh process: this CPU, one of its cores, or the QEMU CPU model `cpu`."""
    command = [sys.executable, __file__]
    if cpu is not None:
        command = [QEMU, "-cpu", cpu, *command]
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "CNNJAX_PROFILE", "ONEDNN_MAX_CPU_ISA")}
    env["JAX_PLATFORMS"] = "cpu"
    preexec = (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if one_core else None
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, preexec_fn=preexec)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"record this machine's fingerprint in {GOLDEN.name}")
    parser.add_argument(
        "--emulate",
        action="store_true",
        help=f"with --write: also record the avx2 class's, from QEMU's {', '.join(EMULATED_CPUS)}",
    )
    args = parser.parse_args(argv)
    if not args.write:
        print(json.dumps(train()))
        return 0
    native = run()
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if golden.get("versions") != native["versions"]:
        golden = {"versions": native["versions"], "fingerprints": {}}
    golden["fingerprints"][native["machine"]["isa_class"]] = {
        "sha256": native["sha256"],
        "final_loss": native["final_loss"],
        "cpu_model": native["machine"]["cpu_model"],
        "cores": native["machine"]["cores"],
        "emulated": None,
        "date": datetime.date.today().isoformat(),
    }
    if args.emulate:
        if shutil.which(QEMU) is None:
            parser.error(f"--emulate: needs {QEMU} (QEMU >= 7.2 user mode)")
        if native["machine"]["isa_class"] == "avx2":
            parser.error("--emulate: this machine is of the avx2 class itself; --write alone records it")
        emulated = {cpu: run(cpu=cpu) for cpu in EMULATED_CPUS}
        if len({fp["sha256"] for fp in emulated.values()}) != 1:
            raise SystemExit(f"the emulated AVX2 CPUs disagree: { {k: v['sha256'] for k, v in emulated.items()} }")
        first = emulated[EMULATED_CPUS[0]]
        golden["fingerprints"]["avx2"] = {
            "sha256": first["sha256"],
            "final_loss": first["final_loss"],
            "cpu_model": None,
            "cores": first["machine"]["cores"],
            "emulated": f"{QEMU} -cpu {' / '.join(EMULATED_CPUS)}",
            "date": datetime.date.today().isoformat(),
        }
    golden["command"] = " ".join(["python tests/golden/portable.py", *(sys.argv[1:] if argv is None else argv)])
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(json.dumps(golden, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
