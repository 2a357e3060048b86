"""cnnjax.environment: the fingerprint's fields, the ISA class and caps, which differences decide the bits; the
manifest that records it and `run_differences` between two workdirs."""

import datetime
import json
import pathlib
import platform
import re
import shutil
import subprocess

import jax
import pytest

from cnnjax import backend, environment
from cnnjax.train import config as configlib
from cnnjax.train.metrics import write_manifest
from cnnjax.train.resume import run_differences

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu sse2 avx fma avx2 avx512f avx512bw avx512vl avx512_bf16

processor\t: 1
model name\t: AMD EPYC 7B13 64-Core Processor
"""


@pytest.fixture(scope="module")
def fingerprint():
    return environment.fingerprint()


@pytest.mark.parametrize(
    "flags, expected",
    [
        ({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, "amx"),
        ({"avx2", "avx512f", "avx512_bf16"}, "avx512_bf16"),
        ({"avx2", "avx512f", "avx512bw"}, "avx512"),
        ({"sse2", "avx", "fma", "avx2"}, "avx2"),
        ({"sse2", "avx"}, platform.machine()),
        (set(), platform.machine()),
    ],
)
def test_isa_class_is_the_highest_class_the_cpu_flags_name(flags, expected):
    assert environment.isa_class(flags) == expected


def test_isa_caps_from_xla_flags_and_onednn_environment_variable():
    assert environment.isa_caps("--xla_cpu_use_xnnpack=false", {}) == {}
    flags = "--xla_cpu_max_isa=AVX512 --xla_cpu_use_xnnpack=false --xla_cpu_max_isa=AVX2"
    assert environment.isa_caps(flags, {"ONEDNN_MAX_CPU_ISA": "AVX2"}) == {
        "xla_cpu_max_isa": "AVX2",  # the last of a repeated flag, as XLA reads it
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    }


def test_fingerprint_describes_this_process(fingerprint):
    assert json.loads(json.dumps(fingerprint)) == fingerprint
    assert fingerprint["platform"] == jax.default_backend()
    assert sum(fingerprint["devices"].values()) == jax.device_count()
    assert fingerprint["process_count"] == jax.process_count()
    assert 1 <= fingerprint["cpu_cores"]["available"] <= fingerprint["cpu_cores"]["total"]
    assert fingerprint["versions"]["jax"] == jax.__version__
    assert fingerprint["versions"]["python"] == platform.python_version()
    assert set(fingerprint["versions"]) == set(environment.PACKAGES)
    numerics = backend.configuration()
    assert fingerprint["numerics"] == {k: v for k, v in numerics.items() if k != "xla_flags"}
    assert fingerprint["numerics"]["profile"] == "fast"  # tests/conftest.py
    assert fingerprint["xla_flags"] == numerics["xla_flags"]


def test_fingerprint_reads_cpu_model_and_isa_class_from_cpuinfo(tmp_path, monkeypatch):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    monkeypatch.setattr(environment, "CPUINFO", tmp_path / "cpuinfo")
    monkeypatch.setenv("XLA_FLAGS", f"{backend.configuration()['xla_flags']} --xla_cpu_max_isa=AVX2")
    fp = environment.fingerprint()
    assert fp["cpu_model"] == "AMD EPYC 7B13 64-Core Processor"
    assert fp["isa_class"] == "avx512_bf16"
    assert fp["isa_caps"] == {"xla_cpu_max_isa": "AVX2"}


def test_fingerprint_records_the_git_commit_of_a_cnnjax_checkout(fingerprint):
    root = pathlib.Path(backend.__file__).resolve().parents[1]
    if not (root / ".git").exists() or shutil.which("git") is None:
        pytest.skip("cnnjax is not run from a git checkout")
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert fingerprint["git"]["commit"] == head.stdout.strip()
    assert isinstance(fingerprint["git"]["dirty"], bool)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_state_of_a_checkout_clean_and_dirty_and_of_a_plain_folder(tmp_path):
    def git(*args):
        return subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert environment.git_state(tmp_path) is None
    git("init", "-q")
    assert environment.git_state(tmp_path) == {"commit": None, "dirty": False}
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-q", "-m", "a")
    (tmp_path / "untracked.py").write_text("")  # untracked files do not make a tree dirty
    assert environment.git_state(tmp_path) == {"commit": git("rev-parse", "HEAD"), "dirty": False}
    (tmp_path / "a.py").write_text("x = 2\n")
    assert environment.git_state(tmp_path)["dirty"] is True


def changed(fp, **fields):
    """A copy of fingerprint `fp` with fields replaced, nested ones named with '__' ('versions__jax')."""
    out = json.loads(json.dumps(fp))
    for dotted, value in fields.items():
        *parents, last = dotted.split("__")
        node = out
        for key in parents:
            node = node[key]
        node[last] = value
    return out


def test_differences_name_each_differing_field_with_both_values(fingerprint):
    assert environment.differences(fingerprint, json.loads(json.dumps(fingerprint))) == []
    other = changed(
        fingerprint, isa_class="avx2", versions__jax="9.9", isa_caps={"xla_cpu_max_isa": "AVX2"}, extra=None
    )
    assert environment.differences(fingerprint, other) == [  # in the first's order, then the second's
        f"isa_class: {fingerprint['isa_class']} -> avx2",
        f"versions.jax: {jax.__version__} -> 9.9",
        "isa_caps.xla_cpu_max_isa: (absent) -> AVX2",
        "extra: (absent) -> None",
    ]


def test_only_the_fields_that_decide_the_bits_are_reproducibility_differences(fingerprint):
    fast = changed(fingerprint, numerics__profile="fast", isa_caps={})
    provenance = changed(
        fast,
        cpu_cores__total=999,
        git={"commit": "0" * 40, "dirty": True},
        numerics__xla_flags_added=["--xla_a=1"],
        numerics__environment_added=["A=1"],
        **{"versions__orbax-checkpoint": "0"},
    )  # it stores the numbers, computes none
    assert environment.reproducibility_differences(fast, provenance) == []
    other_cpu = changed(fast, isa_class="avx2", cpu_model="another CPU")
    assert environment.reproducibility_differences(fast, other_cpu) == [
        f"isa_class: {fast['isa_class']} -> avx2",
        f"cpu_model: {fast['cpu_model']} -> another CPU",
    ]
    for field, value in [
        ("versions__jaxlib", "9.9"),
        ("platform", "gpu"),
        ("devices", {"cpu": 8}),
        ("cpu_cores__available", 64),
        ("numerics__tiled_max_pool", False),
    ]:
        assert environment.reproducibility_differences(fast, changed(fast, **{field: value})), field


def test_under_portable_the_cpu_still_counts(fingerprint):
    portable = changed(fingerprint, numerics__profile="portable")
    other_cpu = changed(portable, isa_class="avx2", cpu_model="another CPU")
    assert environment.reproducibility_differences(portable, other_cpu) == [
        f"isa_class: {portable['isa_class']} -> avx2",
        f"cpu_model: {portable['cpu_model']} -> another CPU",
    ]


def test_under_an_isa_independent_profile_the_cpu_and_its_isa_cap_do_not_count(fingerprint, monkeypatch):
    monkeypatch.setattr(environment, "ISA_INDEPENDENT_PROFILES", frozenset({"portable"}))
    portable = changed(
        fingerprint, numerics__profile="portable", isa_caps={}, xla_flags="--xla_cpu_use_xnnpack=false --xla_a=1"
    )
    capped = changed(
        portable,
        isa_class="avx2",
        cpu_model="another CPU",
        isa_caps={"xla_cpu_max_isa": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
        xla_flags="--xla_a=1 --xla_cpu_max_isa=AVX2 --xla_cpu_use_xnnpack=false",
    )  # order is no change
    assert environment.reproducibility_differences(portable, capped) == []
    fast = changed(capped, numerics__profile="fast")
    differences = environment.reproducibility_differences(portable, fast)
    assert differences[0] == "numerics.profile: portable -> fast"
    assert f"isa_class: {portable['isa_class']} -> avx2" in differences  # one run depends on the ISA: it counts


def test_a_fingerprint_missing_fields_compares_without_error(fingerprint):
    differences = environment.reproducibility_differences({"versions": {"jax": "0.1"}}, fingerprint)
    assert f"versions.jax: 0.1 -> {jax.__version__}" in differences
    assert any(line.startswith("platform: None -> ") for line in differences)


def workdir(path, fingerprint=None, **settings):
    """A training workdir with config.json and manifest.json, as the trainer writes them."""
    path.mkdir()
    config = configlib.default_config()
    config.update(settings)
    (path / "config.json").write_text(json.dumps(config.to_dict(), default=str))
    start = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    write_manifest(path, config_hash="abc", start_time=start, resumed_from=0)
    if fingerprint is not None:
        manifest = json.loads((path / "manifest.json").read_text())
        (path / "manifest.json").write_text(json.dumps({**manifest, "environment": fingerprint}))
    return path


def test_the_manifest_records_the_fingerprint_at_the_start_and_at_each_resumption(tmp_path, fingerprint):
    run = workdir(tmp_path / "run")
    write_manifest(run, config_hash="abc", start_time=datetime.datetime.now(datetime.UTC), resumed_from=40)
    manifest = json.loads((run / "manifest.json").read_text())
    for recorded in (manifest["environment"], manifest["resumptions"][0]["environment"]):
        assert environment.differences(recorded, fingerprint) == []
    assert manifest["versions"]["jax"] == fingerprint["versions"]["jax"]


def test_run_differences_name_the_settings_and_the_environment_that_differ(tmp_path, fingerprint):
    a = workdir(tmp_path / "a", seed=1)
    assert run_differences(a, a) == []
    b = workdir(
        tmp_path / "b", changed(fingerprint, isa_class="avx2", git={"commit": "1" * 40, "dirty": False}), seed=2
    )
    found = run_differences(a, b)
    assert found[0] == "config.seed: 1 -> 2"
    assert f"environment.isa_class: {fingerprint['isa_class']} -> avx2" in found
    assert any(line.startswith("environment.git.commit: ") for line in found)
    only = run_differences(a, b, reproducibility_only=True)
    assert not any(line.startswith("environment.git.") for line in only)
    assert (f"environment.isa_class: {fingerprint['isa_class']} -> avx2" in only) == (
        fingerprint["numerics"]["profile"] not in environment.ISA_INDEPENDENT_PROFILES
    )


def test_run_differences_name_a_resumption_under_another_environment(tmp_path, fingerprint):
    a = workdir(tmp_path / "a")
    manifest = json.loads((a / "manifest.json").read_text())
    manifest["resumptions"] = [{"step": 40, "environment": changed(fingerprint, versions__jaxlib="9.9")}]
    (a / "manifest.json").write_text(json.dumps(manifest))
    b = workdir(tmp_path / "b")
    assert run_differences(a, b) == [
        f"{a}: resumed at step 40 under another environment (versions.jaxlib: {jax.__version__} -> 9.9)"
    ]


def test_run_differences_refuse_a_folder_that_is_not_a_run_or_records_no_environment(tmp_path):
    a = workdir(tmp_path / "a")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"workdir: expected a training workdir with a config.json"):
        run_differences(a, tmp_path / "empty")
    manifest = json.loads((a / "manifest.json").read_text())
    del manifest["environment"]
    (a / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=re.escape(f"{a / 'manifest.json'}: records no environment")):
        run_differences(a, a)
