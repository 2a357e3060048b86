"""One run per workdir (the lock, its stale-lock takeover), workdir creation and clean-up, the resume command."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnjax.train.workdir import (
    LOCK_FILE,
    WorkdirInUse,
    open_workdir,
    prepare_workdir,
    resume_command,
    workdir_lock,
)

from .helpers import REPO, cli_env

HOLD = """
import sys, time
from cnnjax.train.workdir import workdir_lock
with workdir_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def _hold(workdir) -> subprocess.Popen:
    """A process holding the lock of `workdir` (returns once it does)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(workdir)], env=cli_env(), cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "locked\n"
    return process


def test_a_second_run_refuses_at_once_naming_the_holder(tmp_path):
    holder = _hold(tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(WorkdirInUse) as info, workdir_lock(tmp_path):
            pass
        assert time.monotonic() - started < 1.0
        message = str(info.value)
        holder_text = f"pid {holder.pid} on host {socket.gethostname()}, started "
        assert f"{tmp_path} is in use by another run: {holder_text}" in message
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == holder.pid  # left as it was
    finally:
        holder.kill()
        holder.wait()


def test_the_same_process_cannot_hold_it_twice(tmp_path):
    with workdir_lock(tmp_path), pytest.raises(WorkdirInUse, match=f"pid {os.getpid()} "), workdir_lock(tmp_path):
        pass


def test_a_lock_of_a_killed_process_is_taken_over_with_a_message(tmp_path):
    holder = _hold(tmp_path)
    holder.send_signal(signal.SIGKILL)  # no clean-up runs: the lock file still names it
    holder.wait()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == holder.pid
    messages = []
    with workdir_lock(tmp_path, report=messages.append):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert len(messages) == 1 and f"taking over the stale lock of pid {holder.pid} on host" in messages[0]
    assert "is no longer running" in messages[0]
    assert (tmp_path / LOCK_FILE).read_text() == ""  # released


def _write_lock(workdir, **fields):
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "start_time": "2026-01-02T03:04:05+00:00",
        "command": ["cnnjax", "train"],
        **fields,
    }
    (workdir / LOCK_FILE).write_text(json.dumps(owner))


@pytest.mark.parametrize(
    "fields, why",
    [
        (dict(pid=2**22 + 12345), "is no longer running"),  # above any pid_max: no such process
        (dict(process_start=1), "is no longer running"),  # this pid, but another process started at another time
        (dict(host="elsewhere"), "no longer holds it"),  # not checkable here; the free flock decides
    ],
)
def test_stale_lock_files_without_a_holder_are_taken_over(tmp_path, fields, why):
    _write_lock(tmp_path, **fields)
    messages = []
    with workdir_lock(tmp_path, report=messages.append):
        pass
    assert messages and why in messages[0] and "2026-01-02T03:04:05" in messages[0]


def test_a_live_recorded_holder_counts_even_without_flock(tmp_path):
    """If flock is a no-op on the filesystem, the recorded holder still keeps a second run out."""
    parent = os.getppid()
    start = int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[19])
    _write_lock(tmp_path, pid=parent, process_start=start)
    with pytest.raises(WorkdirInUse, match=f"pid {parent} on host"), workdir_lock(tmp_path):
        pass


def test_disabled_lock_takes_nothing(tmp_path):
    with workdir_lock(tmp_path, enabled=False), workdir_lock(tmp_path):  # process 0 locks, the others don't
        pass
    assert (tmp_path / LOCK_FILE).read_text() == ""


def test_a_run_that_fails_before_writing_leaves_no_workdir(tmp_path):
    target = tmp_path / "runs" / "x"
    with pytest.raises(RuntimeError), open_workdir(target) as workdir:
        assert workdir == target and (target / LOCK_FILE).exists()
        raise RuntimeError("validation failed")
    assert not (tmp_path / "runs").exists()
    with pytest.raises(RuntimeError), open_workdir(target):
        (target / "config.json").write_text("{}")
        raise RuntimeError("failed later")
    assert (target / "config.json").exists()  # something was written: kept
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(RuntimeError), open_workdir(existing):
        raise RuntimeError("failed")
    assert existing.is_dir()  # not created by the run: kept


def test_prepare_workdir_errors_name_the_workdir(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"workdir: expected a writable directory, got '.*file/sub'"):
        prepare_workdir(tmp_path / "file" / "sub")
    assert prepare_workdir(tmp_path / "a") == (tmp_path / "a", tmp_path / "a")
    assert prepare_workdir(tmp_path / "a") == (tmp_path / "a", None)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["train", "--model", "lenet5"], "cnnjax train --model lenet5 --workdir 'runs/my run'"),
        (["train", "--workdir", "old", "--epochs", "3"], "cnnjax train --epochs 3 --workdir 'runs/my run'"),
        (
            ["train", "--workdir=old", "--config.optimizer.lr=0.1"],
            "cnnjax train --config.optimizer.lr=0.1 --workdir 'runs/my run'",
        ),
        (
            ["train", "--config", "cfg.py:runlocal", "--config.name", "a b"],
            "cnnjax train --config cfg.py:runlocal --config.name 'a b' --workdir 'runs/my run'",
        ),
    ],
)
def test_resume_command(argv, expected):
    command = resume_command(argv, "runs/my run")
    assert command == expected
    assert shlex.split(command)[-2:] == ["--workdir", "runs/my run"]


def test_cnnjax_train_on_a_workdir_in_use_refuses_at_once(tmp_path, capsys):
    from cnnjax import cli

    holder = _hold(tmp_path)
    try:
        started = time.monotonic()
        assert cli.main(["train", "--workdir", str(tmp_path), "--steps", "1"]) == 1
        assert time.monotonic() - started < 10.0  # before any data is loaded or anything compiled
        err = capsys.readouterr().err
        assert f"cnnjax train: error: workdir: {tmp_path} is in use by another run: pid {holder.pid} on host " in err
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "config.json").exists()


@pytest.mark.slow
def test_an_interrupted_run_without_workdir_prints_the_command_that_resumes_it(tmp_path, monkeypatch, capsys):
    from cnnjax import cli

    from .helpers import write_fake_fashion_mnist

    data_dir = write_fake_fashion_mnist(tmp_path / "data", n_train=320, n_test=50)
    argv = [
        "train",
        "--model",
        "lenet5",
        "--dataset",
        "fashion_mnist",
        "--data-dir",
        str(data_dir),
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--checkpoint-every",
        "2",
        "--config.eval_batch_size=50",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "cnnjax.cli", *argv],
        env=cli_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("runs/*/checkpoints/2")):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err
    (workdir,) = tmp_path.glob("runs/*")
    (line,) = [line for line in err.splitlines() if line.startswith("cnnjax train: to resume: ")]
    command = shlex.split(line.removeprefix("cnnjax train: to resume: "))
    assert command == ["cnnjax", *argv, "--workdir", str(workdir.relative_to(tmp_path))]
    monkeypatch.chdir(tmp_path)  # the command is for the same working directory
    assert cli.main(command[1:]) == 0
    assert "resuming from the checkpoint of step" in capsys.readouterr().out


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"model": "lenet6"}, "config.model: expected one of"),
        ({"dataset": "fashion_mnist", "data_dir": "/nonexistent/fashion"}, "IDX files missing in /nonexistent/fashion"),
    ],
)
def test_a_run_that_fails_validation_leaves_no_workdir(tmp_path, overrides, match):
    from cnnjax.train import train_and_evaluate

    from .helpers import tiny_config

    with pytest.raises((ValueError, FileNotFoundError), match=match):
        train_and_evaluate(tiny_config(**overrides), tmp_path / "runs" / "new")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workdir", [None, 3, ["runs/a"]])
def test_restore_run_names_a_workdir_that_is_not_a_path(workdir):
    from cnnjax.train import restore_run

    with pytest.raises(TypeError, match=r"workdir: expected a path \(str or os.PathLike\)"):
        restore_run(workdir)
