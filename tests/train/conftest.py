"""The training tests compile the same small programs many times: share them through JAX's persistent
compilation cache (a fresh directory per pytest run; subprocesses get it through helpers.cli_env)."""

from __future__ import annotations

import jax
import pytest

from . import helpers

CACHE_OPTIONS = {"jax_persistent_cache_min_compile_time_secs": 0.0, "jax_persistent_cache_min_entry_size_bytes": 0}


@pytest.fixture(scope="package", autouse=True)
def compilation_cache(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("jax_compilation_cache"))
    options = {"jax_compilation_cache_dir": directory, **CACHE_OPTIONS}
    previous = {name: getattr(jax.config, name) for name in options}
    for name, value in options.items():
        jax.config.update(name, value)
    helpers.COMPILATION_CACHE_ENV.update({name.upper(): str(value) for name, value in options.items()})
    yield directory
    helpers.COMPILATION_CACHE_ENV.clear()
    for name, value in previous.items():
        jax.config.update(name, value)
