"""metrics.jsonl continuation, the manifest, the progress display, and the optional TensorBoard writer."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import importlib.util
import json
import time

import pytest

from cnnjax.data import fingerprint_files
from cnnjax.train.metrics import (
    MetricsWriter,
    Progress,
    finish_manifest,
    read_manifest,
    read_records,
    write_manifest,
)

RECORD = {
    "step": 10,
    "epoch": 0.5,
    "train_loss": 1.25,
    "train_accuracy": 0.5,
    "learning_rate": 0.1,
    "images_per_sec": 1000.0,
}


def test_resumed_writer_drops_records_after_the_checkpoint_and_a_torn_line(tmp_path):
    lines = [json.dumps({**RECORD, "step": s}) for s in (10, 20, 30)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 4')  # killed mid-write
    writer = MetricsWriter(tmp_path, resume_step=20)
    writer.write({**RECORD, "step": 25, "train_loss": float("nan")})
    writer.close()
    records = read_records(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [10, 20, 25]
    assert records[-1]["train_loss"] == "nan"  # JSON has no NaN: written as a string


SAVED = [{**RECORD, "step": s, "train_loss": 1.0 / s} for s in (10, 20, 30)]


@pytest.mark.parametrize(
    "on_disk, state",
    [
        (None, "was missing"),
        (SAVED[:1], "had 1 of them"),
        ([], "had 0 of them"),
        ([{**SAVED[0], "train_loss": 9.0}, *SAVED[1:]], "differed from them"),
    ],
)
def test_resumed_writer_restores_the_records_the_checkpoint_carries(tmp_path, on_disk, state):
    path = tmp_path / "metrics.jsonl"
    if on_disk is not None:
        path.write_text("".join(json.dumps(r) + "\n" for r in on_disk))
    messages = []
    writer = MetricsWriter(tmp_path, resume_step=30, saved_records=SAVED, report=messages.append)
    writer.write({**RECORD, "step": 40})
    writer.close()
    assert read_records(path) == [*SAVED, {**RECORD, "step": 40}]
    assert messages == [f"{path}: restored the 3 records up to step 30 from the checkpoint (the file {state})"]


@pytest.mark.parametrize(
    "lines, line, problem",
    [
        ([json.dumps(RECORD), "garbage", json.dumps(RECORD)], 2, "not valid JSON, got 'garbage'"),
        ([json.dumps(RECORD), '{"step": "x"}'], 2, "expected a record of training (a JSON object with an int 'step')"),
        (["[3]", json.dumps(RECORD)], 1, "expected a record of training"),
        ([json.dumps({**RECORD, "step": True})], 1, "an int 'step'"),
    ],
)
def test_a_damaged_metrics_file_names_its_line_and_is_restored_from_the_checkpoint(tmp_path, lines, line, problem):
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as info:
        read_records(path)
    message = str(info.value)
    assert f"metrics.jsonl:{line}: " in message and problem in message and "rewrites the file" in message
    with pytest.raises(ValueError, match=f"metrics.jsonl:{line}"):
        MetricsWriter(tmp_path, resume_step=30)  # no records in the checkpoint to restore it from
    messages = []
    MetricsWriter(tmp_path, resume_step=30, saved_records=SAVED, report=messages.append).close()
    assert read_records(path) == SAVED
    assert messages == [
        f"{path}: restored the 3 records up to step 30 from the checkpoint (the file was damaged at "
        f"line {line}: {info.value.problem})"
    ]


def test_a_manifest_that_is_not_a_json_object_is_named(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"manifest.json: expected a JSON object .*, got list; move it away"):
        read_manifest(path)


def test_resumed_writer_keeps_a_complete_file_and_drops_records_after_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*SAVED, {**RECORD, "step": 40}]))  # killed after 40
    messages = []
    MetricsWriter(tmp_path, resume_step=30, saved_records=SAVED, report=messages.append).close()
    assert read_records(path) == SAVED and messages == []


def test_resumed_writer_without_saved_records_refuses_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"metrics.jsonl: missing, and the checkpoint of step 30 carries no records"):
        MetricsWriter(tmp_path, resume_step=30)
    MetricsWriter(tmp_path, resume_step=0).close()  # a fresh run: nothing to restore


def test_manifest_records_the_run_and_its_resumptions(tmp_path, monkeypatch):
    data = tmp_path / "data.bin"
    data.write_bytes(b"cnnjax" * 1000)
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(tmp_path)
    start = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    write_manifest(run, config_hash="abc", start_time=start, resumed_from=0, data_files=[data], compile_seconds=2.5)
    write_manifest(run, config_hash="abc", start_time=start, resumed_from=40, compile_seconds=1.5)
    end = datetime.datetime(2026, 1, 2, 4, 0, 0, tzinfo=datetime.UTC)
    finish_manifest(run, end_time=end, metrics={"step": 80, "test_accuracy": 0.75, "test_loss": float("nan")})
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config_hash"] == "abc" and manifest["start_time"] == "2026-01-02T03:04:05+00:00"
    assert manifest["versions"]["jax"][0].isdigit() and manifest["device_count"] >= 1
    assert manifest["cwd"] == str(tmp_path) and manifest["compile_seconds"] == 2.5
    assert sorted(manifest["data_files"], key=lambda entry: entry["path"]) == [
        {"path": str(data), "size": 6000, "sha256": hashlib.sha256(b"cnnjax" * 1000).hexdigest()}
    ]
    assert [(r["step"], r["compile_seconds"], r["cwd"]) for r in manifest["resumptions"]] == [(40, 1.5, str(tmp_path))]
    assert manifest["end_time"] == "2026-01-02T04:00:00+00:00"
    assert manifest["final_metrics"] == {"step": 80, "test_accuracy": 0.75, "test_loss": "nan"}


def test_fingerprint_of_a_gzipped_idx_file(tmp_path):
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(bytes(range(256)) * 100))
    (entry,) = fingerprint_files([path])
    assert entry == {
        "path": str(path),
        "size": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


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


def test_progress_bar_shows_the_values_of_the_step_it_is_at(capsys):
    progress = Progress(total=100, initial=0, tty=True)
    for step, loss in ((10, 1.25), (20, 0.5), (30, 0.25)):  # faster than tqdm's redraw interval
        progress.update({**RECORD, "step": step, "train_loss": loss})
        frame = capsys.readouterr().err.split("\r")[-1]  # what the terminal shows now
        assert f"{step}/100" in frame and f"loss={loss:.4f}" in frame
    progress.close()


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
        pending.add(
            {
                "step": jnp.asarray(step),
                "loss": jnp.asarray(0.5 * step),
                "mse": jnp.asarray(0.1),
                "learning_rate": jnp.asarray(0.01),
                "finite": jnp.asarray(True),
            }
        )
    values = pending.pull()
    assert list(values["step"]) == [1, 2] and list(values["loss"]) == [0.5, 1.0] and values["finite"].all()
    resumed = PendingMetrics(keys, images_per_step=32, saved=pending.state_dict())
    assert resumed.pull()["loss"].tolist() == [0.5, 1.0]
    pending.clear()
    assert pending.pull()["step"].size == 0 and pending.images_per_sec() >= 0.0


@pytest.mark.slow
def test_a_run_reports_compile_time_apart_and_fingerprints_its_data(tmp_path, monkeypatch):
    """Compilation (made slow here) is in compile_seconds, not in the first record's img/s; the manifest has the
    data files' sizes and sha256, the working directory, the end time and the final metrics."""
    import jax

    from cnnjax.train import train_and_evaluate

    from .helpers import TinyNet, tiny_config, write_fake_fashion_mnist

    slow = 1.5
    compile_ = jax.stages.Lowered.compile

    def slow_compile(self, *args, **kwargs):
        time.sleep(slow)
        return compile_(self, *args, **kwargs)

    monkeypatch.setattr(jax.stages.Lowered, "compile", slow_compile)
    monkeypatch.chdir(tmp_path)
    data_dir = write_fake_fashion_mnist(tmp_path / "data", n_train=128, n_test=50)
    config = tiny_config(dataset="fashion_mnist", data_dir=str(data_dir), num_epochs=1, log_every_steps=2)
    final = train_and_evaluate(config, tmp_path / "run", model=TinyNet(num_classes=10))
    records = read_records(tmp_path / "run" / "metrics.jsonl")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["compile_seconds"] >= slow and records[0]["compile_seconds"] == manifest["compile_seconds"]
    assert all("compile_seconds" not in r for r in records[1:])
    first_interval = records[0]["step"] * config.batch_size / records[0]["images_per_sec"]
    assert first_interval < slow  # the seconds the first record's img/s covers: training only
    files = sorted(data_dir.iterdir())
    assert sorted(manifest["data_files"], key=lambda entry: entry["path"]) == [
        {"path": str(p), "size": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in files
    ]
    assert manifest["cwd"] == str(tmp_path) and manifest["end_time"] >= manifest["start_time"]
    assert manifest["final_metrics"]["test_accuracy"] == final["test_accuracy"]
    assert manifest["final_metrics"]["step"] == final["step"] == 4
