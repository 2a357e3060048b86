"""Reading a workdir for figures (`cnnjax.viz.load_run`): the data must be the run's (its manifest's sha256), a
damaged config.json names itself, a damaged newest checkpoint falls back to the intact one without changing the
workdir, empty records say where they are kept, and a run that stopped early is told apart from a finished one."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import jax
import numpy as np
import pytest

from cnnjax import cli as cnnjax_cli
from cnnjax.data import read_idx, write_idx
from cnnjax.train import Checkpointer
from cnnjax.viz import cli, load_run

pytestmark = pytest.mark.slow  # the tests read runs trained for them


def copy_run(workdir, tmp_path, name="run"):
    copy = tmp_path / name
    shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns("viz"))
    return copy


def recorded_files(workdir):
    return json.loads((workdir / "manifest.json").read_text())["data_files"]


@pytest.fixture
def data_copy(workdir, tmp_path):
    """A folder holding copies of the run's four IDX files."""
    folder = tmp_path / "data"
    folder.mkdir()
    for entry in recorded_files(workdir):
        shutil.copy(entry["path"], folder)
    return folder


def test_figures_refuse_a_test_set_other_than_the_runs(workdir, data_copy, monkeypatch):
    labels = next(data_copy.glob("t10k-labels*"))
    write_idx(labels, (read_idx(labels) + 1) % 10)  # the same images, other labels
    monkeypatch.setenv("CNNJAX_FASHION_MNIST_DIR", str(data_copy))
    run = load_run(workdir)
    with pytest.raises(ValueError) as info:
        run.test_set  # noqa: B018 (the first use loads the dataset)
    message = str(info.value)
    [recorded] = [e for e in recorded_files(workdir) if e["path"].endswith(labels.name)]
    found = hashlib.sha256(labels.read_bytes()).hexdigest()
    assert f"{labels.name}: {workdir / 'manifest.json'} records sha256 {recorded['sha256']}" in message
    assert f"the file loaded, {labels}, has sha256 {found}" in message
    assert "else CNNJAX_FASHION_MNIST_DIR=DIR (config.data_dir takes precedence)" in message
    assert message.count("sha256") == 2  # the other three files are the run's


def test_the_same_files_in_another_folder_are_the_runs_data(workdir, data_copy, monkeypatch):
    monkeypatch.setenv("CNNJAX_FASHION_MNIST_DIR", str(data_copy))
    run = load_run(workdir, report=pytest.fail)
    assert {p.parent for p in run.dataset.files} == {data_copy}


def test_a_run_without_a_manifest_is_drawn_with_a_warning(workdir, tmp_path):
    copy = copy_run(workdir, tmp_path)
    (copy / "manifest.json").unlink()
    warnings = []
    run = load_run(copy, report=warnings.append)
    assert len(run.test_set) == 2000
    assert warnings == [
        f"warning: {copy / 'manifest.json'} is missing, so the fashion_mnist files loaded cannot be "
        "checked against the run's data; drawing with them unchecked"
    ]


def test_a_run_trained_on_arrays_is_not_drawn_on_the_named_dataset(workdir, tmp_path):
    copy = copy_run(workdir, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "data_files": []}))
    with pytest.raises(
        ValueError,
        match=r"data: .*manifest.json records no data files \(the run was given its "
        r"dataset as arrays\)",
    ):
        load_run(copy).dataset  # noqa: B018 (the first use loads it)


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"model": ', r"config.json: not valid JSON \(Expecting value: line 1 column 11 .*\); expected the config"),
        ("[1, 2]", r"config.json: expected a JSON object \(the config that training writes\), got list"),
        ('{"model": "lenet5", "batch_size": 0}', r"config.json: not a valid config: config.batch_size"),
    ],
)
def test_a_damaged_config_json_names_the_file(tmp_path, text, match):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ValueError, match=rf"{tmp_path}/{match}"):
        load_run(tmp_path)


def test_a_damaged_manifest_names_the_file(workdir, tmp_path):
    copy = copy_run(workdir, tmp_path)
    (copy / "manifest.json").write_text('{"data_files": [')
    with pytest.raises(ValueError, match=rf"{copy}/manifest.json: not valid JSON"):
        load_run(copy).dataset  # noqa: B018 (the first use loads it)


def _zero_arrays(checkpoint):
    for path in (checkpoint / "state").rglob("*"):
        if path.is_file() and path.parent.name == "d":  # OCDBT's data files, not its index
            path.write_bytes(bytes(path.stat().st_size))


def test_a_damaged_newest_checkpoint_falls_back_to_the_intact_one_and_changes_nothing(
    workdir, tmp_path, capsys, caplog
):
    copy = copy_run(workdir, tmp_path)
    _zero_arrays(copy / "checkpoints" / "8")
    before = sorted(p.relative_to(copy) for p in copy.rglob("*"))
    with caplog.at_level(logging.INFO):
        variables = load_run(copy).variables
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"checkpoint 8 in {copy / 'checkpoints'} is unreadable: state: ")
    assert line.endswith("; read checkpoint 4 instead (the unreadable one is left in place)")
    assert "TensorStore details" not in line
    assert sorted(p.relative_to(copy) for p in copy.rglob("*")) == before
    intact, _ = Checkpointer(copy / "checkpoints", keep=3, read_only=True).read(4)
    jax.tree.map(np.testing.assert_array_equal, variables["params"], intact["params"])
    assert warnings(caplog) == []


def warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_reading_a_run_logs_no_read_only_notices(workdir, caplog, capsys):
    with caplog.at_level(logging.INFO):
        assert load_run(workdir).variables["params"]
    assert [r for r in caplog.records if r.name == "absl"]  # orbax logs there, its notices would be seen
    assert warnings(caplog) == [] and capsys.readouterr().err == ""


def test_curves_of_empty_records_say_the_checkpoints_hold_them(workdir, tmp_path):
    copy = copy_run(workdir, tmp_path)
    (copy / "metrics.jsonl").write_text("")
    with pytest.raises(
        ValueError,
        match=rf"workdir: {copy}/metrics.jsonl is empty, but the run has checkpoints, "
        r"which carry its records: run its training again on .*rewrites",
    ):
        cli.curves([load_run(copy)])
    shutil.rmtree(copy / "checkpoints")
    (copy / "metrics.jsonl").unlink()
    with pytest.raises(
        ValueError,
        match=r"metrics.jsonl is missing and the run has no checkpoint: it has not "
        r"logged a step yet",
    ):
        cli.curves([load_run(copy)])


def test_a_run_whose_records_stop_early_is_unfinished(workdir, tmp_path):
    copy = tmp_path / "stopped"
    copy.mkdir()
    shutil.copy(workdir / "config.json", copy)
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    (copy / "metrics.jsonl").write_text("\n".join(lines[:2]) + "\n")  # steps 2 and 4 of 8
    finished, stopped = load_run(workdir), load_run(copy)
    assert finished.finished and finished.planned_steps == 8
    assert not stopped.finished and stopped.planned_steps == 8
    [(_, figure, _)] = cli.curves([finished, stopped])
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend[2:] == ["stopped (unfinished) train"]  # no evaluation in its records: no empty test series
    assert "stopped (unfinished)" in figure.get_suptitle()


def test_the_command_line_reports_other_data_in_one_line(workdir, data_copy, monkeypatch, capsys):
    images = next(data_copy.glob("t10k-images*"))
    write_idx(images, 255 - read_idx(images))
    monkeypatch.setenv("CNNJAX_FASHION_MNIST_DIR", str(data_copy))
    assert cnnjax_cli.main(["viz", "errors", "--workdir", str(workdir), "--out", str(data_copy / "e.png")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("cnnjax viz: error: data: the fashion_mnist files loaded are not the run's: t10k-images")
    assert not (data_copy / "e.png").exists()
