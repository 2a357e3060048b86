"""Checkpoints that survive faults: a damaged newest checkpoint is reported, set aside and the run resumes from the
newest intact one, finishing exactly as an uninterrupted run; no readable checkpoint is one line; damaged metadata
names its file; metrics.jsonl lost or cut short before a resume is restored from the checkpoint."""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.train import Checkpointer, train_and_evaluate
from cnnjax.train.checkpoint import CheckpointError, fingerprint

from .helpers import TinyNet, tiny_config, tiny_dataset

pytestmark = pytest.mark.slow  # most tests train, damage and resume a run

TIMING = {"images_per_sec", "compile_seconds"}
EVERY = 4  # checkpoints at 4, 8, 12 before the stop; 16 steps in all


def _run(workdir, **overrides):
    config = tiny_config(checkpoint_every_steps=EVERY, **overrides)
    return train_and_evaluate(config, workdir, dataset=tiny_dataset(), model=TinyNet(dropout=0.1))


def _records(workdir):
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def _assert_same_run(workdir, reference):
    assert _records(workdir) == _records(reference)
    a, b = (Checkpointer(w / "checkpoints", keep=1).read()[0] for w in (workdir, reference))
    assert jax.tree.structure(a) == jax.tree.structure(b) and int(a["step"]) == 16
    jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    _run(workdir)
    return workdir


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A run stopped after step 12 (checkpoints 4, 8, 12), copied by each test before it damages it."""
    workdir = tmp_path_factory.mktemp("stopped")
    _run(workdir, stop_after_step=12)
    assert Checkpointer(workdir / "checkpoints", keep=3).all_steps() == [4, 8, 12]
    return workdir


@pytest.fixture
def run_copy(stopped, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(stopped, workdir)
    return workdir


def _largest_file(folder):
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def _data_files(checkpoint):
    """The OCDBT data files of a checkpoint's arrays (`d/` folders), not its JSON index."""
    return [p for p in (checkpoint / "state").rglob("*") if p.is_file() and p.parent.name == "d"]


def _zero(path):
    path.write_bytes(bytes(path.stat().st_size))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


FAULTS = {  # name: (damage checkpoint folder, words the reason must contain)
    "array data zeroed": (lambda c: [_zero(p) for p in _data_files(c)], "state: "),
    "array data truncated": (lambda c: [_truncate(p) for p in _data_files(c)], "state: "),
    "array data deleted": (lambda c: [p.unlink() for p in _data_files(c)], "state: "),
    "array index zeroed": (lambda c: _zero(c / "state" / "_METADATA"), "state: JSONDecodeError"),
    "array index deleted": (lambda c: (c / "state" / "_METADATA").unlink(), "state/_METADATA is missing"),
    "state folder deleted": (lambda c: shutil.rmtree(c / "state"), "state/_METADATA is missing"),
    "meta zeroed": (lambda c: _zero(c / "meta" / "metadata"), "meta/metadata: not valid JSON"),
    "meta truncated": (lambda c: _truncate(c / "meta" / "metadata"), "meta/metadata: not valid JSON"),
    "meta deleted": (lambda c: (c / "meta" / "metadata").unlink(), "meta/metadata: unreadable"),
    "meta of another step": (
        lambda c: (c / "meta" / "metadata").write_text(
            json.dumps({**json.loads((c / "meta" / "metadata").read_text()), "step": 8})
        ),
        "meta/metadata: expected 'step': 12 (the checkpoint's folder), got 8",
    ),
    "meta without its config": (
        lambda c: (c / "meta" / "metadata").write_text(json.dumps({"step": 12})),
        "meta/metadata: missing keys ['config_hash', 'config', 'pending_metrics']",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_damaged_newest_checkpoint_falls_back_and_finishes_as_uninterrupted(fault, run_copy, reference, capsys):
    damage, reason = FAULTS[fault]
    newest = run_copy / "checkpoints" / "12"
    damage(newest)
    _run(run_copy)
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if "is unreadable" in line]
    assert line.startswith(f"checkpoint 12 in {run_copy / 'checkpoints'} is unreadable: ") and reason in line
    assert line.endswith(f"moved to {run_copy / 'checkpoints' / 'unreadable' / '12'}; resuming from checkpoint 8")
    aside = run_copy / "checkpoints" / "unreadable" / "12"
    assert reason in (aside / "why.txt").read_text() and (aside / "meta").exists()  # kept, not deleted
    _assert_same_run(run_copy, reference)
    assert Checkpointer(run_copy / "checkpoints", keep=3).all_steps() == [8, 12, 16]  # 12 saved again


def test_each_checkpoint_carries_the_records_up_to_its_own_step(tmp_path, monkeypatch):
    # Checkpoints are written in the background: the meta handed to `save` must not change after the call, or a
    # checkpoint takes records of later steps (and a fall-back to it then logs those steps twice).
    handed = []
    save = Checkpointer.save
    monkeypatch.setattr(Checkpointer, "save", lambda self, state, meta: (handed.append(meta), save(self, state, meta)))
    _run(tmp_path)
    assert [meta["step"] for meta in handed] == [4, 8, 12, 16]
    assert [[r["step"] for r in meta["records"]] for meta in handed] == [[4], [4, 8], [4, 8, 12], [4, 8, 12, 16]]


def test_no_readable_checkpoint_is_one_line_naming_each(run_copy):
    for step in (4, 8, 12):
        _zero(run_copy / "checkpoints" / str(step) / "meta" / "metadata")
    _zero(run_copy / "checkpoints" / "8" / "state" / "_METADATA")
    with pytest.raises(CheckpointError) as info:
        _run(run_copy)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"no readable checkpoint in {run_copy / 'checkpoints'} ")
    for step in (12, 8, 4):
        assert f"{step}: {run_copy / 'checkpoints' / str(step) / 'meta' / 'metadata'}: not valid JSON" in message
    assert "Nothing was moved" in message and not (run_copy / "checkpoints" / "unreadable").exists()


def test_a_config_change_is_not_taken_for_damage(run_copy):
    with pytest.raises(ValueError, match=r"config hash.*optimizer\.lr: 0\.02 -> 0\.01"):
        _run(run_copy, **{"optimizer.lr": 0.01})
    assert Checkpointer(run_copy / "checkpoints", keep=3).all_steps() == [4, 8, 12]  # nothing set aside


@pytest.mark.parametrize("loss", ["removed", "cut to one record", "emptied"])
def test_metrics_lost_before_a_resume_are_restored_from_the_checkpoint(loss, run_copy, reference, capsys):
    path = run_copy / "metrics.jsonl"
    if loss == "removed":
        path.unlink()
    else:
        path.write_text(path.read_text().splitlines(keepends=True)[0] if loss != "emptied" else "")
    _run(run_copy)
    assert f"{path}: restored the 3 records up to step 12 from the checkpoint" in capsys.readouterr().out
    _assert_same_run(run_copy, reference)


def test_records_after_the_checkpoint_are_dropped(run_copy, reference):
    path = run_copy / "metrics.jsonl"
    records = path.read_text().splitlines(keepends=True)
    path.write_text("".join(records) + json.dumps({**json.loads(records[-1]), "step": 14}) + "\n")  # a killed run
    _run(run_copy)
    _assert_same_run(run_copy, reference)


def test_silently_wrong_array_data_is_caught_by_the_fingerprint(tmp_path):
    """Zeroed bytes inside a large compressed chunk can decode without an error: the fingerprint catches it."""
    weights = np.random.default_rng(0).standard_normal((512, 1024)).astype(np.float32)
    tree = {"w": jnp.asarray(weights), "step": jnp.int32(1)}
    checkpointer = Checkpointer(tmp_path, keep=3)
    for step in (1, 2):
        checkpointer.save(tree, {"step": step})
    checkpointer.close()
    data = _largest_file(tmp_path / "2" / "state")
    damaged = bytearray(data.read_bytes())
    damaged[100:4196] = bytes(4096)
    data.write_bytes(bytes(damaged))
    messages = []
    checkpointer = Checkpointer(tmp_path, keep=3)
    state, meta, step = checkpointer.restore_latest(jax.eval_shape(lambda: tree), report=messages.append)
    assert step == 1 and meta["step"] == 1
    np.testing.assert_array_equal(state["w"], weights)
    assert len(messages) == 1 and "the arrays read back differ from those saved" in messages[0]
    checkpointer.close()


def test_fingerprint_sees_any_changed_word_and_the_paths():
    tree = {"a": jnp.arange(1000, dtype=jnp.float32), "b": jnp.zeros((3,), jnp.bfloat16), "c": jnp.ones(2, bool)}
    base = fingerprint(tree)
    assert fingerprint(jax.device_get(tree)) == base  # the same on host arrays
    assert fingerprint({**tree, "a": tree["a"].at[517].add(0.5)}) != base
    assert fingerprint({**tree, "a": tree["a"][::-1]}) != base  # same words, other places
    assert fingerprint({**tree, "b": tree["b"].at[0].set(1)}) != base
    assert fingerprint({"x": tree["a"], "b": tree["b"], "c": tree["c"]}) != base


def test_restore_latest_of_an_empty_directory_is_none(tmp_path):
    checkpointer = Checkpointer(tmp_path, keep=1)
    assert checkpointer.restore_latest({"w": jax.ShapeDtypeStruct((2,), jnp.float32)}) is None
    checkpointer.close()


def test_a_checkpoint_from_before_new_schema_keys_resumes_while_a_changed_setting_does_not(tmp_path):
    from cnnjax.train import config as configlib
    from cnnjax.train import resume

    config = configlib.validate(tiny_config())
    saved = resume.hashed_settings(config)
    old = {k: v for k, v in saved.items() if k not in ("eval_crops", "eval_scales", "augment.color_jitter", "numerics")}
    meta = {"config_hash": "written-by-an-older-schema", "config": old}
    config.numerics = "fast"  # what the trainer records; runs written before the key existed ran "fast"
    resume.check_same_config(meta, config, tmp_path)  # the new keys at their defaults: the same run
    config.eval_crops = "center_flip"
    with pytest.raises(ValueError, match=r"eval_crops: 'center' -> 'center_flip'"):
        resume.check_same_config(meta, config, tmp_path)
    config.eval_crops = "center"
    config.numerics = "portable"
    with pytest.raises(ValueError, match=r"numerics: 'fast' -> 'portable'"):
        resume.check_same_config(meta, config, tmp_path)


def test_a_save_that_runs_out_of_space_is_one_line_naming_the_folder_and_the_newest_complete_checkpoint(tmp_path):
    from cnnjax.train import CheckpointWriteError

    checkpointer = Checkpointer(tmp_path, keep=2)
    (tmp_path / "4").mkdir()  # a complete checkpoint's folder, and a save's temporary one
    (tmp_path / "8.orbax-checkpoint-tmp").mkdir()

    def full(*_):
        raise ValueError('RESOURCE_EXHAUSTED: Error writing "params" in OCDBT database: No space left on device')

    checkpointer._manager.wait_until_finished = full
    with pytest.raises(CheckpointWriteError, match=r"no space left to write it in .* bytes free\); checkpoint 4 is"):
        checkpointer.wait()
    checkpointer._manager.wait_until_finished = lambda: (_ for _ in ()).throw(ValueError("another failure"))
    with pytest.raises(ValueError, match="another failure"):
        checkpointer.wait()
