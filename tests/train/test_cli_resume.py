"""`cnnjax train` killed (kill -9) or stopped (SIGTERM) mid-run and restarted with the same command finishes with
the same parameters and metrics as an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from cnnjax import cli
from cnnjax.train import Checkpointer

from .helpers import REPO, cli_env, write_fake_fashion_mnist

pytestmark = pytest.mark.slow  # every test runs `cnnjax train` in subprocesses

EVERY = 5  # checkpoint every 5 steps; 20 steps per epoch, 3 epochs


def _argv(data_dir, workdir):
    return [
        "train",
        "--model",
        "lenet5",
        "--dataset",
        "fashion_mnist",
        "--data-dir",
        str(data_dir),
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--checkpoint-every",
        str(EVERY),
        "--workdir",
        str(workdir),
        "--config.eval_batch_size=50",
        "--config.log_every_steps=4",
    ]


def _start(data_dir, workdir) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cnnjax.cli", *_argv(data_dir, workdir)],
        env=cli_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_checkpoint(process: subprocess.Popen, workdir, timeout: float = 120.0) -> None:
    """Returns as soon as the first checkpoint is complete (orbax renames its folder to the step number)."""
    deadline = time.monotonic() + timeout
    while not (workdir / "checkpoints" / str(EVERY)).is_dir():
        assert process.poll() is None, f"the run ended early:\n{process.communicate()[1]}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)


def _records(workdir):
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    timing = ("images_per_sec", "compile_seconds")
    return [{k: v for k, v in json.loads(line).items() if k not in timing} for line in lines]


def _state(workdir):
    return Checkpointer(workdir / "checkpoints", keep=1).read()[0]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("fashion_mnist"), n_train=640, n_test=100)


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    assert cli.main(_argv(data_dir, workdir)) == 0
    return workdir


def _assert_same_run(workdir, reference):
    assert _records(workdir) == _records(reference)
    a, b = _state(workdir), _state(reference)
    assert jax.tree.structure(a) == jax.tree.structure(b) and int(a["step"]) == 60
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_kill_9_after_a_checkpoint_then_the_same_command_finishes_identically(data_dir, reference, tmp_path, capsys):
    process = _start(data_dir, tmp_path)
    _wait_for_checkpoint(process, tmp_path)
    process.kill()  # SIGKILL: no handler runs
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert Checkpointer(tmp_path / "checkpoints", keep=1).latest_step() < 60
    assert cli.main(_argv(data_dir, tmp_path)) == 0
    out = capsys.readouterr().out
    assert "resuming from the checkpoint of step" in out
    assert out.rstrip().splitlines()[-1].startswith("test_accuracy: 0.")
    _assert_same_run(tmp_path, reference)


def test_sigterm_saves_a_checkpoint_and_exits_then_resumes(data_dir, reference, tmp_path):
    process = _start(data_dir, tmp_path)
    _wait_for_checkpoint(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err
    step = int(err.split("interrupted by SIGTERM at step ")[1].split(";")[0])
    state, meta = Checkpointer(tmp_path / "checkpoints", keep=1).read()
    assert meta["step"] == int(state["step"]) == step and step < 60
    assert (meta["epoch"], meta["batch_in_epoch"]) == divmod(step, 20)
    assert cli.main(_argv(data_dir, tmp_path)) == 0
    _assert_same_run(tmp_path, reference)
