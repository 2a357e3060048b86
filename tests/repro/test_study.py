"""cnnjax.repro.study: the seeds and checks syntax, the study folder's identity, and resumption (a finished seed is
skipped, an interrupted one trains again in its own workdir, which resumes it)."""

import json

import pytest

from cnnjax.repro import study as studylib

from .helpers import RUNLOCAL, fake_run


@pytest.mark.parametrize(
    "spec, seeds",
    [
        ("0-4", [0, 1, 2, 3, 4]),
        ("0,2,5", [0, 2, 5]),
        ("3", [3]),
        ("0-2,7", [0, 1, 2, 7]),
        (" 1 - 2 , 9", [1, 2, 9]),
        ("2147483647", [2**31 - 1]),
    ],
)
def test_seeds_are_ranges_and_lists(spec, seeds):
    assert studylib.parse_seeds(spec) == seeds


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", r"expected seeds like '0-4', '0,2,5' or '3', got ''"),
        ("a", r"expected seeds like '0-4', '0,2,5' or '3', got 'a'"),
        ("0-4-5", r".*got '0-4-5'"),
        ("-1", r".*got '-1'"),
        ("1,,2", r".*got '1,,2'"),
        ("4-0", r"expected a range FIRST-LAST with FIRST <= LAST, got '4-0' in '4-0'; write 0-4"),
        ("0-2,2", r"expected each seed once, got 2 more than once"),
        ("2147483648", r"expected a seed in \[0, 2\*\*31\), got 2147483648"),
    ],
)
def test_malformed_seeds_are_refused_naming_the_spec(spec, message):
    with pytest.raises(ValueError, match=r"--seeds: " + message):
        studylib.parse_seeds(spec)


def test_checks_are_rerun_devices_and_processes():
    checks = studylib.parse_checks(["rerun", "devices:8", "processes:2"])
    assert checks == [studylib.Check("rerun"), studylib.Check("devices", 8), studylib.Check("processes", 2)]
    assert [c.name for c in checks] == ["rerun", "devices:8", "processes:2"]
    assert [c.folder(3) for c in checks] == ["rerun_seed3", "devices8_seed3", "processes2_seed3"]


@pytest.mark.parametrize(
    "specs, message",
    [
        (["reruns"], r"--check: expected one of rerun, devices:N, processes:N \(e.g. devices:8\), got 'reruns'"),
        (["devices"], r"--check: expected one of .*got 'devices'"),
        (["rerun:2"], r"--check: expected one of .*got 'rerun:2'"),
        (["devices:1"], r"--check devices:1: expected devices:N with N an integer >= 2 .*got '1'"),
        (["processes:x"], r"--check processes:x: expected processes:N .*got 'x'"),
        (["rerun", "rerun"], r"--check: expected each check once, got rerun more than once"),
    ],
)
def test_unknown_or_malformed_checks_are_refused(specs, message):
    with pytest.raises(ValueError, match=message):
        studylib.parse_checks(specs)


def test_default_folder_is_the_config_stem_and_argument():
    assert (
        str(studylib.default_folder("experiments/configs/lenet5_fashion_mnist.py")) == "runs/repro/lenet5_fashion_mnist"
    )
    assert str(studylib.default_folder("a/b/lenet5.py:runlocal")) == "runs/repro/lenet5_runlocal"


def test_study_knows_its_main_metric_commands_and_settings(tmp_path):
    study = studylib.open_study(RUNLOCAL, [0, 1], overrides=["--config.optimizer.lr=0.01"], folder=tmp_path / "s")
    assert study.main_metric == "test_accuracy" and study.numerics == "portable"
    assert study.config.optimizer.lr == 0.01 and "seed" not in study.settings
    argv = study.train_argv(1, study.workdir(1))
    assert argv == [
        "train",
        "--config",
        RUNLOCAL,
        "--numerics",
        "portable",
        "--seed",
        "1",
        "--workdir",
        str(tmp_path / "s" / "seed_1"),
        "--config.optimizer.lr=0.01",
    ]
    assert study.command(argv, devices=8).startswith(
        "XLA_FLAGS=--xla_force_host_platform_device_count=8 cnnjax train --config "
    )


def test_the_profile_is_the_flags_else_the_configs_else_the_environments_else_portable(tmp_path, monkeypatch):
    folder = tmp_path / "s"
    assert studylib.open_study(RUNLOCAL, [0], numerics="xla", folder=folder).numerics == "xla"
    assert studylib.open_study(RUNLOCAL, [0], overrides=["--config.numerics=fast"], folder=folder).numerics == "fast"
    monkeypatch.setenv("CNNJAX_PROFILE", "xla")
    assert studylib.open_study(RUNLOCAL, [0], folder=folder).numerics == "xla"
    monkeypatch.delenv("CNNJAX_PROFILE")
    assert studylib.open_study(RUNLOCAL, [0], folder=folder).numerics == "portable"


def test_a_folder_of_another_config_or_profile_is_refused(tmp_path):
    folder = tmp_path / "study"
    studylib.write_study(studylib.open_study(RUNLOCAL, [0], folder=folder))
    studylib.open_study(RUNLOCAL, [0, 1, 2], folder=folder)  # the same study, more seeds
    with pytest.raises(
        ValueError,
        match=r"--out: .* holds a study of another config .*changed settings \(study -> "
        r"this command\): optimizer.lr: 0.003 -> 0.01",
    ):
        studylib.open_study(RUNLOCAL, [0], overrides=["--config.optimizer.lr=0.01"], folder=folder)
    with pytest.raises(ValueError, match=r"--numerics: .* holds a study run under the 'portable' profile, got 'xla'"):
        studylib.open_study(RUNLOCAL, [0], numerics="xla", folder=folder)


def test_a_study_recorded_before_the_schema_gained_a_key_continues_when_the_key_keeps_its_default(tmp_path):
    import json

    folder = tmp_path / "study"
    studylib.write_study(studylib.open_study(RUNLOCAL, [0], folder=folder))
    recorded = json.loads((folder / "study.json").read_text())
    del recorded["settings"]["ema_decay"]  # as written by a cnnjax without the key
    (folder / "study.json").write_text(json.dumps(recorded))
    studylib.open_study(RUNLOCAL, [0, 1], folder=folder)
    with pytest.raises(ValueError, match=r"changed settings \(study -> this command\): ema_decay: 0.0 -> 0.9"):
        studylib.open_study(RUNLOCAL, [0], overrides=["--config.ema_decay=0.9"], folder=folder)


def test_a_folder_holding_other_files_or_a_file_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"--out: .* holds notes.txt but no study.json; name a new or empty folder"):
        studylib.open_study(RUNLOCAL, [0], folder=tmp_path)
    with pytest.raises(ValueError, match=r"--out: expected a study folder, got .*notes.txt', a file"):
        studylib.open_study(RUNLOCAL, [0], folder=tmp_path / "notes.txt")


@pytest.mark.parametrize(
    "config, overrides, numerics, message",
    [
        ("missing.py", [], "portable", r"config: 'missing.py': no such file \(relative to the working directory "),
        (RUNLOCAL, ["--config.seed=3"], "portable", r"--config.seed=3: the study sets each run's seed from --seeds"),
        (RUNLOCAL, ["--config.optimizer.lr=fast"], "portable", r"config.optimizer.lr: expected a float"),
        (RUNLOCAL, [], "quick", r"--numerics: expected a profile of cnnjax.backend.PROFILES .*got 'quick'"),
    ],
)
def test_bad_configs_overrides_and_profiles_are_refused(tmp_path, config, overrides, numerics, message):
    with pytest.raises(ValueError, match=message):
        studylib.open_study(config, [0], overrides=overrides, numerics=numerics, folder=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_finished_seeds_are_skipped_and_unfinished_ones_trained_in_their_workdir(tmp_path, monkeypatch):
    study = studylib.open_study(RUNLOCAL, [0, 1, 2], folder=tmp_path / "s")
    fake_run(study.workdir(0), {"test_accuracy": 0.5}, [0.5], [1.0, 0.9])
    fake_run(study.workdir(1), None, [0.4], [1.0, 0.9])  # interrupted: no final metrics
    trained = []
    monkeypatch.setattr(studylib, "run_training", lambda argvs, what, devices=None: trained.append(argvs))
    lines = []
    studylib.train_seeds(study, report=lines.append)
    assert trained == [[study.train_argv(1, study.workdir(1))], [study.train_argv(2, study.workdir(2))]]
    assert lines[0] == f"seed 0: finished in {study.workdir(0)}, skipped"
    assert json.loads((study.folder / "study.json").read_text())["settings"] == study.settings


def test_training_environment_is_the_users_without_what_this_process_profile_added(monkeypatch):
    configured = {"xla_flags_added": ["--xla_cpu_max_isa=AVX2"], "environment_added": ["ONEDNN_MAX_CPU_ISA=AVX2"]}
    monkeypatch.setattr(studylib.backend, "configuration", lambda: configured)
    monkeypatch.setenv("XLA_FLAGS", "--xla_mine=1 --xla_cpu_max_isa=AVX2 --xla_force_host_platform_device_count=4")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    env = studylib.training_env()
    assert env["XLA_FLAGS"] == "--xla_mine=1 --xla_force_host_platform_device_count=4"
    assert "ONEDNN_MAX_CPU_ISA" not in env
    assert studylib.training_env(devices=8)["XLA_FLAGS"] == "--xla_mine=1 --xla_force_host_platform_device_count=8"


def test_read_run_refuses_an_unfinished_workdir(tmp_path):
    fake_run(tmp_path / "w", None, [0.4], [1.0, 0.9])
    with pytest.raises(ValueError, match=r"workdir: expected a finished training in .*w'"):
        studylib.read_run(tmp_path / "w")
