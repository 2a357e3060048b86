"""`cnnjax repro`: the errors a user can cause are one line before any work; `cnnjax repro diff` of two runs; and
one small study end to end (2 seeds of LeNet-5's runlocal config with the rerun check, then compared)."""

import json
import os
import re
import subprocess
import sys

import pytest

from cnnjax import cli
from cnnjax.train import config as configlib

from .helpers import ENVIRONMENT, REPO, RUNLOCAL, fake_run


def run(capsys, *argv):
    status = cli.main(["repro", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "4-0"], r"--seeds: expected a range FIRST-LAST with FIRST <= LAST, got '4-0'"),
        (["--seeds", "0-1", "--check", "bitwise"], r"--check: expected one of rerun, devices:N, processes:N"),
        (["--seeds", "0", "--check", "devices:8"], r"--check devices:8: expected 2 or more seeds"),
        (["--seeds", "0-1", "--numerics", "quick"], r"--numerics: expected a profile of cnnjax.backend.PROFILES"),
        (["--seeds", "0-1", "--seed", "3"], r"unrecognized argument '--seed'"),
        (["--seeds", "0-1", "--config.optimizer.lr=x"], r"config.optimizer.lr: expected a float"),
    ],
)
def test_bad_command_lines_are_one_line_errors(capsys, tmp_path, argv, message):
    status, out, err = run(capsys, RUNLOCAL, *argv, "--out", str(tmp_path / "s"))
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("cnnjax repro: error: ")
    assert re.search(message, err), err
    assert not (tmp_path / "s").exists()


def test_a_missing_config_is_one_line_error(capsys, tmp_path):
    status, _, err = run(capsys, str(tmp_path / "missing.py"), "--seeds", "0-1")
    assert (
        status == 2
        and err == f"cnnjax repro: error: config: '{tmp_path / 'missing.py'}': no such file (on this machine)\n"
    )


def test_a_study_folder_of_another_config_is_one_line_error(capsys, tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "study.json").write_text(
        json.dumps({"config": "other.py", "overrides": [], "numerics": "portable", "settings": {"model": "alexnet"}})
    )
    status, _, err = run(capsys, RUNLOCAL, "--seeds", "0-1", "--out", str(folder))
    assert status == 2 and err.count("\n") == 1
    assert f"--out: '{folder}' holds a study of another config (other.py); changed settings" in err
    assert "model: 'alexnet' -> 'lenet5'" in err


def test_compare_without_reports_is_one_line_error(capsys, tmp_path):
    status, _, err = run(capsys, "compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert status == 2
    assert (
        err == f"cnnjax repro compare: error: study: expected a study folder with a report.json (written by "
        f"`cnnjax repro`), got '{tmp_path / 'a'}'\n"
    )


def workdir(path, environment):
    fake_run(path, {"test_accuracy": 0.9}, [0.9], [1.0, 0.9], environment)
    (path / "config.json").write_text(json.dumps(configlib.load_config(RUNLOCAL).to_dict()))
    return path


def test_diff_names_the_environment_fields_that_differ(capsys, tmp_path):
    a = workdir(tmp_path / "a", ENVIRONMENT)
    b = workdir(
        tmp_path / "b",
        {
            **ENVIRONMENT,
            "isa_class": "avx512",
            "cpu_cores": {"total": 64, "available": 2},
            "versions": {"python": "3.12.1", "jax": "0.13"},
        },
    )
    status, out, _ = run(capsys, "diff", str(a), str(b))
    assert (status, out.splitlines()) == (
        1,
        [
            "environment.isa_class: avx2 -> avx512",
            "environment.cpu_cores.total: 2 -> 64",
            "environment.versions.jax: 0.12.0 -> 0.13",
        ],
    )
    # the machine's core count does not decide the bits (the cores the process may use do)
    status, out, _ = run(capsys, "diff", str(a), str(b), "--bits")
    assert (status, out.splitlines()) == (
        1,
        ["environment.isa_class: avx2 -> avx512", "environment.versions.jax: 0.12.0 -> 0.13"],
    )
    status, out, _ = run(capsys, "diff", str(a), str(a))
    assert (status, out) == (0, "no differences in the settings and the environment\n")
    status, _, err = run(capsys, "diff", str(a), str(tmp_path / "none"))
    assert status == 2 and err.startswith("cnnjax repro diff: error: workdir: expected a training workdir")


def repro(*argv, cache):
    """`cnnjax repro ARGV` in a fresh process (its trainings share a compilation cache)."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "CNNJAX_PROFILE")}
    env.update(
        JAX_PLATFORMS="cpu",
        JAX_COMPILATION_CACHE_DIR=str(cache),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    )
    return subprocess.run(
        [sys.executable, "-m", "cnnjax.cli", "repro", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_small_study_with_the_rerun_check_end_to_end(tmp_path, capsys):
    study = tmp_path / "study"
    done = repro(RUNLOCAL, "--seeds", "0-1", "--check", "rerun", "--out", str(study), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((study / "report.json").read_text())
    assert list(report["per_seed"]) == ["0", "1"] and report["study"]["numerics"] == "portable"
    [rerun] = report["checks"]
    assert rerun["passed"] and rerun["variables_compared"] == 10 and rerun["records_compared"] == 4
    assert rerun["environment_differences"] == []
    assert report["environment"]["numerics"]["profile"] == "portable"
    assert (study / "report.md").is_file() and (study / "curves.png").is_file()
    assert done.stdout.splitlines()[-2:] == ["check rerun: passed", f"report: {study / 'report.md'}"]
    status, out, _ = run(capsys, "compare", str(study), str(study), "--out", str(tmp_path / "cmp"))
    assert status == 0 and "A - B: +0, 95% bootstrap CI" in out
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["p_a_better"] == 0.5
