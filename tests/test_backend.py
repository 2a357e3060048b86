"""cnnjax.backend: profiles applied by one explicit call (XLA flags and environment variables merged under the
user's, before JAX starts a backend, recorded), chosen by flag > config > CNNJAX_PROFILE > the command's default,
checked against a config's numerics, CPU formulations gated by backend, and an import that changes nothing."""

import importlib
import json
import os
import platform
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from cnnjax import backend
from cnnjax import functional as F

FAST_FLAGS = backend.PROFILES["fast"].xla_flags
PORTABLE = backend.PROFILES["portable"]


def test_with_flags_keeps_the_users_value_of_a_flag_and_adds_the_others():
    flags = backend.with_flags("--xla_cpu_experimental_onednn_custom_call=false --xla_foo=1", FAST_FLAGS)
    assert flags.split()[:2] == ["--xla_cpu_experimental_onednn_custom_call=false", "--xla_foo=1"]
    assert flags.count("onednn_custom_call") == 1
    for name in FAST_FLAGS.keys() - {"xla_cpu_experimental_onednn_custom_call"}:
        assert f"--{name}={FAST_FLAGS[name]}" in flags


def test_with_flags_of_nothing_is_the_profiles_flags():
    assert backend.with_flags("", FAST_FLAGS) == " ".join(f"--{k}={v}" for k, v in FAST_FLAGS.items())


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", backend.ENV_PROFILE)}
    return subprocess.run([sys.executable, "-c", code], env={**environment, **env}, capture_output=True, text=True)


def _json(code: str, **env: str):
    result = _run(code, **env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


IMPORT_EVERYTHING = """
import importlib, json, os, pkgutil
first = dict(os.environ)
import cnnjax
root = dict(os.environ)
import jax  # JAX's own import sets variables of its own (TF_CPP_MIN_LOG_LEVEL, ...): compare after it
before = dict(os.environ)
names = [m.name for m in pkgutil.walk_packages(cnnjax.__path__, "cnnjax.") if not m.name.endswith(".__main__")]
for name in names:
    importlib.import_module(name)
from jax._src import xla_bridge
print(json.dumps({
    "root_changed": root != first, "changed": dict(set(os.environ.items()) ^ set(before.items())),
    "modules": names, "backend_started": xla_bridge.backends_are_initialized(),
    "configuration": cnnjax.backend.configuration(),
}))
"""


def test_importing_every_cnnjax_module_changes_no_environment_variable_and_starts_no_backend():
    out = _json(IMPORT_EVERYTHING)
    some = {"cnnjax.backend", "cnnjax.cli", "cnnjax.train", "cnnjax.viz", "cnnjax.functional.conv"}
    assert some <= set(out["modules"])
    assert not out["root_changed"] and out["changed"] == {}
    assert not out["backend_started"]
    assert out["configuration"]["profile"] is None and out["configuration"]["xla_flags_added"] == []
    assert out["configuration"]["environment_added"] == []


def test_configure_adds_the_profiles_flags_before_jax_starts_and_records_them():
    out = _json(
        "import json, os, jax; from cnnjax import backend; record = backend.configure('fast'); "
        "jax.devices(); print(json.dumps([record, os.environ['XLA_FLAGS']]))"
    )
    record, flags = out
    assert record["profile"] == "fast" and record["xla_flags"] == flags
    assert record["kernel_gradient_route"] and record["tiled_max_pool"]
    assert sorted(record["xla_flags_added"]) == sorted(f"--{k}={v}" for k, v in FAST_FLAGS.items())
    assert flags == backend.with_flags("", FAST_FLAGS)


def test_configure_without_a_name_reads_cnnjax_profile_else_runs_fast():
    code = "import json; from cnnjax import backend; print(json.dumps(backend.configure()))"
    assert _json(code)["profile"] == "fast"
    xla = _json(code, CNNJAX_PROFILE="xla")
    keys = ("profile", "xla_flags", "kernel_gradient_route", "tiled_max_pool")
    assert [xla[k] for k in keys] == ["xla", "", False, False]


def test_a_users_xla_flag_keeps_its_value():
    record = _json(
        "import json; from cnnjax import backend; print(json.dumps(backend.configure('fast')))",
        XLA_FLAGS="--xla_cpu_experimental_onednn_custom_call=false",
    )
    assert record["xla_flags"].startswith("--xla_cpu_experimental_onednn_custom_call=false ")
    assert "onednn_custom_call=true" not in record["xla_flags"]
    assert len(record["xla_flags_added"]) == len(FAST_FLAGS) - 1


def test_configure_portable_sets_its_flags_and_environment_variables_and_records_them():
    out = _json(
        "import json, os, jax; from cnnjax import backend; record = backend.configure('portable'); jax.devices(); "
        "print(json.dumps([record, {k: os.environ.get(k) for k in backend.PROFILES['portable'].environment}]))"
    )
    record, environment = out
    assert environment == dict(PORTABLE.environment) == record["environment"]
    assert record["environment_added"] == [f"{k}={v}" for k, v in PORTABLE.environment.items()]
    assert record["xla_flags"] == backend.with_flags("", PORTABLE.xla_flags)
    assert not record["kernel_gradient_route"] and record["tiled_max_pool"]


def test_a_users_environment_variable_keeps_its_value():
    name = next(iter(PORTABLE.environment))
    record = _json(
        "import json; from cnnjax import backend; print(json.dumps(backend.configure('portable')))",
        **{name: "AVX512_CORE"},
    )
    assert record["environment"] == {name: "AVX512_CORE"} and record["environment_added"] == []


FAULTS_PER_CALL = """
import json, resource
from cnnjax import backend
record = backend.configure({profile!r})
import jax, jax.numpy as jnp
x = jnp.ones((4096, 4096))  # 64 MiB: the reversed exp below is a 64-MiB temporary buffer of each call
f = jax.jit(lambda x: jnp.sum(jnp.exp(x)[::-1] @ x[:8].T))
for _ in range(10):
    f(x).block_until_ready()
per_call = []  # faults per call in windows of 5 calls
for _ in range(4):
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        f(x).block_until_ready()
    per_call.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / 5)
print(json.dumps([record["host_memory_retained"], per_call]))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the malloc settings are glibc's")
@pytest.mark.parametrize(
    "profile, tunables, retained",
    [("fast", "", True), ("portable", "", True), ("xla", "", False), ("fast", "glibc.malloc.tcache_count=7", False)],
)
def test_retained_host_memory_stops_each_call_page_faulting_its_temporary_buffer(profile, tunables, retained):
    # 64 MiB = 16,384 pages; glibc's defaults mmap and unmap the buffer at each call, so each call faults it in.
    # Retained, the heap can still grow now and then (a freed block split by a small allocation no longer fits the
    # next buffer): the quietest window of calls is compared.
    recorded, per_call = _json(FAULTS_PER_CALL.format(profile=profile), GLIBC_TUNABLES=tunables)
    assert recorded == retained
    assert min(per_call) < 1_000 if retained else min(per_call) > 10_000


def test_configure_after_a_backend_started_raises_and_names_the_fix():
    result = _run("import jax; jax.devices(); from cnnjax import backend; backend.configure('fast')")
    assert result.returncode != 0
    assert "RuntimeError" in result.stderr and "call configure before anything uses JAX" in result.stderr
    assert "XLA_FLAGS='--xla_cpu" in result.stderr


def test_configure_after_a_backend_started_is_fine_when_the_profile_sets_no_flags():
    record = _json(
        "import json, jax; jax.devices(); from cnnjax import backend; print(json.dumps(backend.configure('xla')))"
    )
    assert record["profile"] == "xla"


def test_a_process_runs_one_profile():
    # tests/conftest.py configured this process with "fast"
    assert backend.configure("fast")["profile"] == "fast"
    with pytest.raises(RuntimeError, match=r"runs cnnjax\.backend profile 'fast' already, got 'xla'"):
        backend.configure("xla")


CHOICES = r"expected a profile of cnnjax\.backend\.PROFILES \['fast', 'portable', 'xla'\]"


@pytest.mark.parametrize("profile, env, source", [("Portable", None, "profile"), (None, "Fast", "CNNJAX_PROFILE")])
def test_an_unknown_profile_is_a_value_error_naming_its_source_and_the_choices(profile, env, source, monkeypatch):
    if env is not None:
        monkeypatch.setenv(backend.ENV_PROFILE, env)
    with pytest.raises(ValueError, match=rf"^{source}: {CHOICES}, got '{profile or env}'$"):
        backend.configure(profile)


@pytest.mark.parametrize(
    "flag, config, env, chosen",
    [
        ("xla", "portable", "fast", "xla"),
        (None, "portable", "xla", "portable"),
        (None, "", "xla", "xla"),
        (None, "", None, "fast"),
    ],
)
def test_choose_profile_takes_the_flag_then_the_config_then_cnnjax_profile_then_the_default(
    flag, config, env, chosen, monkeypatch
):
    monkeypatch.delenv(backend.ENV_PROFILE, raising=False)
    if env is not None:
        monkeypatch.setenv(backend.ENV_PROFILE, env)
    assert backend.choose_profile(flag, config, default="fast") == chosen
    if flag is None and not config and env is None:
        assert backend.choose_profile(default="portable") == "portable"


@pytest.mark.parametrize(
    "flag, config, env, source",
    [
        ("Fast", "", None, "--numerics"),
        (None, "quick", "xla", "config.numerics"),
        (None, "", "XLA", "CNNJAX_PROFILE"),
    ],
)
def test_choose_profile_names_where_an_unknown_profile_came_from(flag, config, env, source, monkeypatch):
    monkeypatch.delenv(backend.ENV_PROFILE, raising=False)
    if env is not None:
        monkeypatch.setenv(backend.ENV_PROFILE, env)
    with pytest.raises(ValueError, match=rf"^{source}: {CHOICES}, got '{flag or config or env}'$"):
        backend.choose_profile(flag, config)


def test_check_numerics_records_the_process_profile_and_refuses_another():
    # tests/conftest.py configured this process with "fast"
    assert backend.active_profile() == "fast"
    assert backend.check_numerics("") == "fast" and backend.check_numerics("fast") == "fast"
    with pytest.raises(
        ValueError,
        match=r"^config\.numerics: this process runs the 'fast' profile, got 'portable'.*"
        r"cnnjax\.backend\.configure\('portable'\) first thing.*--numerics portable",
    ):
        backend.check_numerics("portable")


@pytest.mark.parametrize("choice, portable", [(backend.kernel_gradient_route, False), (backend.tiled_max_pool, True)])
def test_cpu_formulations_follow_the_profile_on_cpu_only(choice, portable):
    assert choice("cpu", "fast")
    assert choice("cpu", "portable") == portable
    assert not choice("cpu", "xla")
    for other in ("gpu", "cuda", "rocm", "tpu"):
        assert not any(choice(other, profile) for profile in backend.PROFILES)
    assert choice("cpu")  # this process: "fast" (tests/conftest.py)


def test_steps_per_call_unrolls_only_short_steps_and_only_on_cpu():
    assert backend.steps_per_call(420_000, 256, "cpu") == backend.CPU_STEPS_PER_CALL  # LeNet-5: 0.6 GFLOP per step
    assert backend.steps_per_call(41_000_000, 128, "cpu") == 1  # ResNet-20: 32 GFLOP per step
    for other in ("gpu", "tpu"):
        assert backend.steps_per_call(420_000, 256, other) == 1


def _kernel_gradient_text(platform: str) -> str:
    x, w = jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 4))
    grad = jax.grad(lambda w: jnp.sum(F.conv(x, w) ** 2))
    return jax.jit(grad).trace(w).lower(lowering_platforms=(platform,)).as_text()


def test_conv_kernel_gradient_route_is_lowered_for_cpu_only(monkeypatch):
    # the lax formulation's route (the oneDNN convolution, which replaces it where built: test_onednn_conv.py)
    monkeypatch.setattr(importlib.import_module("cnnjax.functional.conv"), "_onednn_route", lambda *_: False)
    # the route: x padded one more pixel, kept by an optimisation barrier, convolved with padding -1
    assert "optimization_barrier" in _kernel_gradient_text("cpu")
    for other in ("cuda", "rocm", "tpu"):
        assert "optimization_barrier" not in _kernel_gradient_text(other)


def test_max_pool_is_tiled_on_cpu_under_the_fast_profile():
    x = jnp.ones((2, 8, 8, 3))
    text = str(jax.make_jaxpr(jax.grad(lambda x: jnp.sum(F.max_pool(x, 2))))(x))
    assert "reduce_window" not in text and "select_and_scatter" not in text and "reduce_max" in text


def test_a_process_never_configured_runs_the_plain_lax_formulations():
    code = """
import json, jax, jax.numpy as jnp
from cnnjax import functional as F
x, w = jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 4))
pool = str(jax.make_jaxpr(jax.grad(lambda x: jnp.sum(F.max_pool(x, 2))))(x))
conv = jax.jit(jax.grad(lambda w: jnp.sum(F.conv(x, w) ** 2))).lower(w).as_text()
print(json.dumps(["reduce_window_max" in pool, "optimization_barrier" in conv]))
"""
    assert _json(code) == [True, False]
