"""Fake study runs for the repro tests: workdirs holding the manifest.json and metrics.jsonl that a finished (or
interrupted) `cnnjax train` leaves, with chosen numbers."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNLOCAL = str(REPO / "experiments/configs/lenet5_fashion_mnist.py") + ":runlocal"

ENVIRONMENT = {
    "cpu_model": "AMD EPYC",
    "isa_class": "avx2",
    "isa_caps": {},
    "cpu_cores": {"total": 2, "available": 2},
    "platform": "cpu",
    "devices": {"cpu": 1},
    "process_count": 1,
    "versions": {"python": "3.12.1", "jax": "0.12.0"},
    "xla_flags": "",
    "numerics": {"profile": "portable", "kernel_gradient_route": False, "tiled_max_pool": False},
    "git": None,
}


def fake_run(
    workdir: Path, final: dict | None, curve: list[float], losses: list[float], environment: dict | None = None
) -> Path:
    """A workdir of 2 steps per epoch, evaluated each epoch (`curve`: test_accuracy), logged each step (`losses`:
    train_loss); finished with `final` as its final metrics, or interrupted (final None)."""
    workdir.mkdir(parents=True)
    records = []
    for i, loss in enumerate(losses):
        step = i + 1
        record = {
            "step": step,
            "epoch": step / 2,
            "train_loss": loss,
            "train_accuracy": 0.5,
            "learning_rate": 0.1,
            "images_per_sec": 1000.0 + i,
        }
        if step % 2 == 0:
            record |= {"test_loss": 1 - curve[i // 2], "test_accuracy": curve[i // 2]}
        records.append(record)
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    manifest = {"environment": environment or ENVIRONMENT, "device_count": 1, "process_count": 1}
    if final is not None:
        manifest["final_metrics"] = {**records[-1], **final, "wall_time": 12.5}
    (workdir / "manifest.json").write_text(json.dumps(manifest))
    return workdir
