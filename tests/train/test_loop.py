"""train_and_evaluate: workdir files, determinism, exact resumption, and the failures a user can cause."""

from __future__ import annotations

import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models
from cnnjax.train import Checkpointer, restore_run, train_and_evaluate

from .helpers import TinyNet, tiny_config, tiny_dataset

pytestmark = pytest.mark.slow  # every test trains (and most resume) a run

TIMING = {"images_per_sec", "compile_seconds"}


def _run(workdir, model=None, **overrides):
    model = model or TinyNet(dropout=0.1)
    return train_and_evaluate(tiny_config(**overrides), workdir, dataset=tiny_dataset(), model=model)


def _records(workdir):
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def _final_state(workdir):
    return Checkpointer(workdir / "checkpoints", keep=1).read()[0]


def _assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 2-epoch run (16 steps), shared by the tests that compare against it."""
    workdir = tmp_path_factory.mktemp("reference")
    return workdir, _run(workdir)


def test_smoke_run_writes_every_file(reference, capsys):
    workdir, final = reference
    assert {p.name for p in workdir.iterdir()} >= {"metrics.jsonl", "config.json", "manifest.json", "checkpoints"}
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    train_fields = {"step", "epoch", "train_loss", "train_accuracy", "learning_rate", "images_per_sec"}
    evals = [r for r in records if "test_accuracy" in r]
    assert all(train_fields <= set(r) for r in records)
    assert [r["step"] for r in records] == [4, 8, 12, 16]  # every 4 steps; epochs end at 8 and 16
    assert [r["step"] for r in evals] == [8, 16] and all(0.0 <= r["test_accuracy"] <= 1.0 for r in evals)
    assert all("test_loss" in r for r in evals)
    assert final["test_accuracy"] == evals[-1]["test_accuracy"] and final["step"] == 16
    assert final["test_accuracy"] > 0.5  # 4 classes: the tiny net learns the brightest quadrant
    config = json.loads((workdir / "config.json").read_text())
    assert config["batch_size"] == 32 and config["dataset"] == "arrays"
    manifest = json.loads((workdir / "manifest.json").read_text())
    assert set(manifest["versions"]) == {"jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "cnnjax"}
    assert manifest["device_count"] == jax.device_count() and manifest["device_kind"]
    assert len(manifest["config_hash"]) == 16 and manifest["command"] and manifest["start_time"]
    assert manifest["backend"]["xla_flags"] == os.environ.get("XLA_FLAGS", "")
    assert manifest["backend"]["profile"] == "fast"  # tests/conftest.py
    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [8, 16]  # one per epoch, the newest `checkpoint_keep` kept
    rerun = _run(workdir)  # a finished run resumes at its end: no new training, no duplicate records
    assert rerun["test_accuracy"] == final["test_accuracy"] and len(_records(workdir)) == len(records)
    assert capsys.readouterr().out.rstrip().splitlines()[-1].startswith("test_accuracy: ")


def test_same_seed_gives_bitwise_equal_runs(reference, tmp_path):
    workdir, final = reference
    again = _run(tmp_path)
    assert _records(tmp_path) == _records(workdir)
    _assert_trees_equal(_final_state(tmp_path), _final_state(workdir))
    other = _run(tmp_path / "seed1", seed=1)
    assert other["train_loss"] != final["train_loss"]
    assert again["test_accuracy"] == final["test_accuracy"]


def test_stopped_and_resumed_run_equals_the_uninterrupted_one(reference, tmp_path, capsys):
    workdir, final = reference
    stopped = _run(tmp_path, stop_after_step=6, checkpoint_every_steps=3)
    assert stopped["stopped"] and stopped["step"] == 6
    assert Checkpointer(tmp_path / "checkpoints", keep=1).latest_step() == 6
    assert "stopped at step 6 of 16 (config.stop_after_step=6)" in capsys.readouterr().out
    records_at_the_stop = _records(tmp_path)
    again = _run(tmp_path, stop_after_step=6, checkpoint_every_steps=3)  # the same command: stays stopped
    assert again["stopped"] and again["step"] == 6 and _records(tmp_path) == records_at_the_stop
    resumed = _run(tmp_path, checkpoint_every_steps=3)  # run-only settings may change between the two
    assert resumed["test_accuracy"] == final["test_accuracy"] and resumed["train_loss"] == final["train_loss"]
    _assert_trees_equal(_final_state(tmp_path), _final_state(workdir))
    records = _records(tmp_path)
    assert records == _records(workdir)  # continues without duplicates
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["resumptions"][0]["step"] == 6


def test_steps_unrolled_into_one_call_give_the_same_bits_and_records(tmp_path):
    # 16 steps, records every 4: k steps per call where nothing happens inside, single steps elsewhere; a stop at
    # step 5 falls inside a group, so the resumed run regroups from there. Same numbers in every case. LeNet-5, not
    # the tiny net: without a barrier between the unrolled steps XLA fused across them and LeNet-5's last bits
    # moved, the tiny net's did not.
    lenet = models.create("lenet5", num_classes=10)
    workdir = tmp_path / "reference"
    final = _run(workdir, model=lenet, steps_per_call=1, pad_to=16)
    for k, extra in ((4, {}), (2, {"stop_after_step": 5})):
        run = tmp_path / f"k{k}"
        result = _run(run, model=lenet, steps_per_call=k, pad_to=16, **extra)
        if extra:
            assert result["stopped"] and result["step"] == 5
            result = _run(run, model=lenet, steps_per_call=3, pad_to=16)  # run-only: may regroup
        assert result["train_loss"] == final["train_loss"] and result["test_accuracy"] == final["test_accuracy"]
        _assert_trees_equal(_final_state(run), _final_state(workdir))
        assert _records(run) == _records(workdir)


def test_resuming_with_another_config_fails_naming_the_change(reference, tmp_path):
    _run(tmp_path, stop_after_step=2, checkpoint_every_steps=2)
    with pytest.raises(ValueError, match=r"config hash.*optimizer\.lr: 0\.02 -> 0\.01"):
        _run(tmp_path, **{"optimizer.lr": 0.01})


def test_checkpoint_that_does_not_fit_the_model_names_the_parameter(tmp_path):
    _run(tmp_path, stop_after_step=2, checkpoint_every_steps=2)
    mismatch = r"params/conv/kernel: checkpoint \(3, 3, 1, 4\) float32, model \(3, 3, 1, 8\)"
    with pytest.raises(ValueError, match=mismatch):
        _run(tmp_path, model=TinyNet(width=8, dropout=0.1))


def test_nonfinite_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    settings = {
        "optimizer.name": "sgd",
        "optimizer.weight_decay": 0.0,
        "optimizer.lr": 1e30,
        "schedule.warmup_fraction": 0.0,
        "checkpoint_every_steps": 1,
        "log_every_steps": 1,
    }
    with pytest.raises(FloatingPointError, match=r"at step (\d+)") as info:
        _run(tmp_path, **settings)
    bad = int(re.search(r"at step (\d+)", str(info.value)).group(1))
    assert f"last good checkpoint is step {bad - 1}" in str(info.value)
    state, meta = Checkpointer(tmp_path / "checkpoints", keep=1).read()
    assert meta["step"] == bad - 1
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(state["params"]))

    skipped = _run(tmp_path / "skip", skip_nonfinite=True, **{**settings, "checkpoint_every_steps": 0})
    assert skipped["nonfinite_steps"] > 0 and skipped["step"] == 16
    final = _final_state(tmp_path / "skip")
    assert int(final["nonfinite_steps"]) == skipped["nonfinite_steps"]


def test_unwritable_workdir_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="workdir: expected a writable directory"):
        _run(blocker / "run")


def test_unknown_model_and_dataset_list_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"config.model: expected one of \[.*'lenet5'.*\], got 'lenet6'"):
        train_and_evaluate(tiny_config(model="lenet6"), tmp_path)
    with pytest.raises(ValueError, match=r"config.dataset: expected one of \[.*'fashion_mnist'.*\], got 'mnist2'"):
        train_and_evaluate(tiny_config(dataset="mnist2"), tmp_path)
    with pytest.raises(ValueError, match=r"unknown key 'optimiser.lr'"):
        train_and_evaluate({"optimiser": {"lr": 1.0}}, tmp_path)


def test_a_config_that_fails_validation_creates_no_workdir(tmp_path):
    with pytest.raises(ValueError, match=r"config\.log_every_steps"):
        _run(tmp_path / "run", log_every_steps=0)
    with pytest.raises(ValueError, match="warm-up shorter than the run"):  # needs the data's size: still before
        _run(tmp_path / "run", **{"schedule.warmup_fraction": 0.0, "schedule.warmup_steps": 50})
    assert not (tmp_path / "run").exists()


def test_restore_run_rebuilds_model_and_variables_from_the_workdir(tmp_path):
    """The registered autoencoder, fitted to 8x8 images by its task: restore_run needs no dataset."""
    config = tiny_config(
        model="autoencoder",
        num_epochs=1,
        loss="l2",
        label_smoothing=0.0,
        **{"model_options.features": (4, 8), "model_options.latent_dim": 8},
    )
    final = train_and_evaluate(config, tmp_path, dataset=tiny_dataset(n_train=64))
    restored, model, variables = restore_run(tmp_path)
    assert restored.model == "autoencoder" and tuple(model.input_size) == (8, 8) and model.latent_dim == 8
    state = Checkpointer(tmp_path / "checkpoints", keep=1).read()[0]
    _assert_trees_equal(variables["params"], state["params"])
    assert model.apply(variables, jnp.zeros((4, 8, 8, 1), jnp.float32)).shape == (4, 8, 8, 1)
    assert final["step"] == 2 and "test_mse" in final


def test_a_read_only_checkpointer_creates_and_cleans_up_nothing(tmp_path):
    """What restore_run (and so cnnjax viz) uses on a run that may still be training."""
    reader = Checkpointer(tmp_path / "checkpoints", keep=1, read_only=True)
    assert reader.latest_step() is None
    reader.close()
    assert not (tmp_path / "checkpoints").exists()


def test_a_signal_arriving_while_a_step_is_logged_still_leaves_the_checkpoint_it_names(tmp_path, monkeypatch):
    import signal

    from cnnjax.train import trainer

    record = trainer.training_record

    def record_and_signal(values, step, *args):  # SIGINT lands between deciding to checkpoint and acting on it
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return record(values, step, *args)

    monkeypatch.setattr(trainer, "training_record", record_and_signal)
    with pytest.raises(trainer.Interrupted, match=r"at step (\d+)") as raised:
        _run(tmp_path, checkpoint_every_steps=100)
    step = int(re.search(r"at step (\d+)", str(raised.value)).group(1))
    assert step > 4
    assert Checkpointer(tmp_path / "checkpoints", keep=1).latest_step() == step
