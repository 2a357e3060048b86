"""metrics.jsonl continuation, the manifest, the progress display, and the optional TensorBoard writer."""

from __future__ import annotations

import datetime
import importlib.util
import json

import pytest

from cnnjax.train.metrics import MetricsWriter, Progress, read_records, write_manifest

RECORD = {"step": 10, "epoch": 0.5, "train_loss": 1.25, "train_accuracy": 0.5, "learning_rate": 0.1,
          "images_per_sec": 1000.0}


def test_resumed_writer_drops_records_after_the_checkpoint_and_a_torn_line(tmp_path):
    lines = [json.dumps({**RECORD, "step": s}) for s in (10, 20, 30)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 4')  # killed mid-write
    writer = MetricsWriter(tmp_path, resume_step=20)
    writer.write({**RECORD, "step": 25, "train_loss": float("nan")})
    writer.close()
    records = read_records(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [10, 20, 25]
    assert records[-1]["train_loss"] == "nan"  # JSON has no NaN: written as a string


def test_manifest_records_the_run_and_its_resumptions(tmp_path):
    start = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    write_manifest(tmp_path, config_hash="abc", start_time=start, resumed_from=0)
    write_manifest(tmp_path, config_hash="abc", start_time=start, resumed_from=40)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config_hash"] == "abc" and manifest["start_time"] == "2026-01-02T03:04:05+00:00"
    assert manifest["versions"]["jax"][0].isdigit() and manifest["device_count"] >= 1
    assert [r["step"] for r in manifest["resumptions"]] == [40]


def test_progress_prints_plain_lines_without_a_terminal(capsys):
    progress = Progress(total=100, initial=0, tty=False)
    progress.update(RECORD)
    progress.message("epoch 1 done")
    progress.close()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("step 10/100 epoch 0.50 loss 1.2500 accuracy 0.5000") and "img/s 1000" in out[0]
    assert out[1] == "epoch 1 done"


def test_progress_bar_on_a_terminal(capsys):
    progress = Progress(total=100, initial=5, tty=True)
    progress.update(RECORD)
    progress.close()
    captured = capsys.readouterr()
    assert "10/100" in captured.err and "loss=1.2500" in captured.err and captured.out == ""


@pytest.mark.skipif(importlib.util.find_spec("tensorboardX") is not None, reason="tensorboardX is installed")
def test_tensorboard_without_the_extra_explains_how_to_install_it(tmp_path):
    with pytest.raises(ImportError, match=r"pip install 'cnnjax\[tensorboard\]'"):
        MetricsWriter(tmp_path, resume_step=0, tensorboard=True)


@pytest.mark.skipif(importlib.util.find_spec("tensorboardX") is None, reason="needs the tensorboard extra")
def test_tensorboard_events_are_written(tmp_path):
    writer = MetricsWriter(tmp_path, resume_step=0, tensorboard=True)
    writer.write(RECORD)
    writer.close()
    assert any((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_pending_metrics_stay_on_device_until_pulled_and_survive_a_checkpoint():
    import jax.numpy as jnp

    from cnnjax.train.metrics import PendingMetrics

    keys = ("step", "loss", "mse", "learning_rate", "finite")
    pending = PendingMetrics(keys, images_per_step=32)
    for step in (1, 2):
        pending.add({"step": jnp.asarray(step), "loss": jnp.asarray(0.5 * step), "mse": jnp.asarray(0.1),
                     "learning_rate": jnp.asarray(0.01), "finite": jnp.asarray(True)})
    values = pending.pull()
    assert list(values["step"]) == [1, 2] and list(values["loss"]) == [0.5, 1.0] and values["finite"].all()
    resumed = PendingMetrics(keys, images_per_step=32, saved=pending.state_dict())
    assert resumed.pull()["loss"].tolist() == [0.5, 1.0]
    pending.clear()
    assert pending.pull()["step"].size == 0 and pending.images_per_sec() >= 0.0
