"""cnnjax's numerics profiles: XLA flags, library settings and CPU formulations, in one table, applied by one
explicit call.

    import cnnjax.backend
    cnnjax.backend.configure()  # first thing: before anything starts a JAX backend

`configure(profile=None)` makes the process run a row of `PROFILES`: the one named by its argument, else by the
environment variable CNNJAX_PROFILE, else "fast". Nothing happens on import: `import cnnjax` leaves os.environ
and XLA alone, and a process that never calls `configure` runs the "xla" row (XLA's own flags, the plain lax
formulations): a library that is only imported decides nothing about XLA, and the CPU formulations, measured with
the "fast" flags, come only with them. `cnnjax train`, the scripts in benchmarks/, the experiments' runners and
the test suite (tests/conftest.py) call it first thing.

  "fast"      cnnjax's CPU choices below: the fastest measured for CNN training on x86 CPUs. Its bits depend on
              the CPU: oneDNN and Eigen pick their kernels and blockings by the CPU's instruction set, caches and
              core count.
  "portable"  the CPU paths with the fewest CPU-dependent choices that configuration reaches, and deterministic
              ops on GPU (below). What it guarantees is measured, not assumed (tests/test_portability.py,
              benchmarks/portability.py, docs/reproducibility.md).
  "xla"       nothing set: XLA's own flags and the plain lax formulations, so XLA's own numerics.

Which profile a command runs: `choose_profile(flag, config, default)`, i.e. its --numerics, else the config's
`numerics`, else CNNJAX_PROFILE, else the command's default. `cnnjax train` defaults to "fast": a training run is
compared with other runs on the same machine, where speed is what a profile changes. `cnnjax repro` and the
studies' runners default to "portable": their results are committed and re-run on other machines, where the bits
should not depend on the CPU. A run records its profile (`check_numerics` fills config.numerics, which the config
hash covers, so a resumption under another profile is refused), and its manifest records `configuration()`.

XLA flags of "fast". XLA:CPU picks a convolution library per shape, and its defaults are slow for CNN training on
x86 CPUs: measured by `benchmarks/run.py` on a 2-core AVX2 machine (README, "Performance"), YNNPACK's
weight-gradient convolutions were 2-7x slower than Eigen's, and oneDNN's forward and input-gradient convolutions the
fastest. So "fast" asks XLA for:

  --xla_cpu_experimental_ynn_fusion_type=-individual_convolution   convolutions not to YNNPACK
  --xla_cpu_experimental_onednn_custom_call=true                   forward/input-gradient convolutions to oneDNN
  --xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED     the scheduler that measured fastest with them

Settings of "portable", each removing a CPU dependence that `benchmarks/portability.py` measured (trainings compared
bit for bit on an AVX-512 CPU, on one of its cores, and on AVX2 CPUs emulated by QEMU, which every library sees
through cpuid):

  --xla_cpu_max_isa=AVX2                          XLA's own code (elementwise math, reductions) as on an AVX2 CPU
  --xla_cpu_enable_platform_dependent_math=false  YNNPACK's consistent arithmetic (the same kernel results on every
                                                  CPU of one build, as far as YNNPACK provides them) and no
                                                  platform-dependent math in XLA's own code
  ONEDNN_MAX_CPU_ISA=AVX2                         the oneDNN kernels that Eigen's matrix products call, as on an AVX2
                                                  CPU (an environment variable, read when oneDNN is first used)
  --xla_gpu_deterministic_ops=true                GPU: deterministic reductions and scatters and no autotuning, so a
                                                  rerun on the same GPU gives the same bits (ignored on CPU); "fast"
                                                  and "xla" keep XLA's faster GPU defaults

no oneDNN convolutions, convolutions and matrix products to YNNPACK (XLA's default), the plain kernel gradient (the
route below runs on Eigen) and the tiled max pool (a reshape + max and a mask: exact whatever the CPU). What
remains CPU-dependent, measured: XLA hands YNNPACK no convolution with at most 16 channels in and out; Eigen runs
them, and Eigen's blocking follows the caches and the core count; and YNNPACK's consistent arithmetic does not cover
every kernel (a kernel-gradient convolution with 24 channels differs between AVX-512 and AVX2). So "portable"
removes the instruction-set caps' share of the CPU dependence, not all of it: docs/reproducibility.md, "Numerics
profiles", states what has been seen to agree.

XLA reads XLA_FLAGS once, when the first backend starts, so `configure` must come before that; after, it raises
RuntimeError (and changes nothing) unless the flags are in XLA_FLAGS already. A flag already in XLA_FLAGS, or a
variable already in the environment, keeps the user's value (e.g.
`XLA_FLAGS=--xla_cpu_experimental_onednn_custom_call=false`).

oneDNN convolution (`onednn_conv`, "fast" only): 2-D float32 convolutions -- forward, input gradient and kernel
gradient -- run on oneDNN's NHWC primitives as `jax.ffi` custom calls (`cnnjax.functional.onednn`, built by
scripts/setup.sh; where it is not built, cnnjax warns once and keeps the lax formulations below). Each call cuts the
batch into one slice per thread of XLA's intra-op pool and runs oneDNN single-threaded on each: GNU OpenMP's own
threads, oneDNN's default, competed with XLA's pool on 2 cores and ran 2-5x slower than XLA's own convolutions.
The kernel gradient sums the slices' partial gradients in a fixed order, so its bits depend on the pool's size
(the core count) as well as on the CPU. Chosen per platform when a program is lowered (the primitives lower to the
lax formulation on other platforms). "portable" keeps XLA's own paths.

Kernel-gradient route (`kernel_gradient_route`): for the convolutions the oneDNN convolution does not take, conv's
kernel gradient runs on Eigen, one convolution per feature group (`cnnjax.functional.conv._kernel_tangent_cpu`,
which cites its measurements). Chosen per platform when a program is lowered (`lax.platform_dependent`).

Tiled transposed convolution (`tiled_conv_transpose`, "fast" only): a 2-D `conv_transpose` whose stride equals its
kernel size, unpadded (U-Net's 2x2/2 up-convolutions), as one matrix product and a reshape: each input pixel writes
its own block, and the gradients are matrix products too, where XLA:CPU's transposed convolution's gradient is
14-18x slower than the matrix products' at U-Net's shapes (`cnnjax.functional.conv._tiled_conv_transpose`). Chosen when
tracing, by `jax.default_backend()`.

Tiled max pool (`tiled_max_pool`): max pooling with stride == window and no padding as a reshape + max, whose
gradient is an elementwise mask instead of XLA:CPU's slower select-and-scatter loop
(`cnnjax.functional.pool._tiled_max_pool`). Chosen when tracing, by `jax.default_backend()`.

These formulations are for XLA:CPU; on GPU and TPU every profile runs the plain formulations, and their backends
ignore the XLA:CPU flags.

Host memory (`retain_host_memory`, "fast" and "portable"): XLA:CPU allocates each call's temporary buffer (about
200 MB for a ResNet-20 training step at batch 128) with malloc and frees it when the call ends. glibc serves an
allocation that large from its threads' arenas by mmap and unmaps it at free, so every call page-faults the whole
buffer in again: 53,000 minor faults per ResNet-20 step on a 2-core AMD EPYC (AVX-512), 278 ms per step against
228 ms with the setting (`benchmarks/page_faults.py`, docs/performance.md). `configure` therefore asks glibc,
through mallopt, for one arena, no mmap for large blocks and no trimming (M_ARENA_MAX=1, M_MMAP_MAX=0,
M_TRIM_THRESHOLD=-1), so the buffer is reused from the heap. The cost: the process keeps the most memory it has held
(it returns none to the system; 1.1-1.3 GB peak against 0.72 GB in that measurement). It changes no result. Not
applied where the C library is not glibc, or where GLIBC_TUNABLES sets a glibc.malloc tunable already (the user's
choice).

Steps per call (`steps_per_call`): on CPU, short training steps run several to a compiled call. It follows the
backend, not the profile: the unrolled steps give the same bits, only fewer dispatches.

A known cost of "fast": XLA cannot serialise an executable that holds oneDNN custom calls, so such programs are not
written to JAX's persistent compilation cache (JAX warns "Error writing persistent compilation cache entry ...
std::bad_alloc" and compiles them anew in the next process).

What a process runs is `configuration()`; each training run's manifest records it (`backend`). Another profile is
one more row of `PROFILES`.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import platform
import sys
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Profile:
    """A row of PROFILES: what a profile asks of XLA:CPU and of cnnjax's CPU formulations."""

    xla_flags: Mapping[str, str]  # flag name (without '--') -> value, added to XLA_FLAGS by `configure`
    kernel_gradient_route: bool  # conv's kernel gradient through `_kernel_tangent_cpu`
    tiled_max_pool: bool  # stride == window, unpadded max pooling as reshape + max
    tiled_conv_transpose: bool = False  # 2-D conv_transpose with stride == kernel as one matrix product + reshape
    onednn_conv: bool = False  # 2-D float32 conv on oneDNN's primitives (`cnnjax.functional.onednn`) on CPU
    retain_host_memory: bool = False  # glibc malloc keeps freed memory for reuse (no page faults on each call)
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict)  # variables `configure` sets, for the
    # libraries XLA calls that read their settings from the environment (once, when first used)


PROFILES: dict[str, Profile] = {
    "fast": Profile(
        xla_flags={
            "xla_cpu_experimental_ynn_fusion_type": "-individual_convolution",
            "xla_cpu_experimental_onednn_custom_call": "true",
            "xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED",
        },
        kernel_gradient_route=True,
        tiled_max_pool=True,
        onednn_conv=True,
        tiled_conv_transpose=True,
        retain_host_memory=True,
    ),
    "portable": Profile(
        xla_flags={
            "xla_cpu_max_isa": "AVX2",
            "xla_cpu_enable_platform_dependent_math": "false",
            "xla_gpu_deterministic_ops": "true",
        },
        kernel_gradient_route=False,
        tiled_max_pool=True,
        retain_host_memory=True,
        environment={"ONEDNN_MAX_CPU_ISA": "AVX2"},
    ),
    "xla": Profile(xla_flags={}, kernel_gradient_route=False, tiled_max_pool=False),
}
DEFAULT_PROFILE = "fast"  # what `configure()` runs when neither its argument nor CNNJAX_PROFILE names a profile
UNCONFIGURED_PROFILE = "xla"  # what a process that never called `configure` runs
ENV_PROFILE = "CNNJAX_PROFILE"

# Unrolling several training steps into one compiled call pays on CPU when a step is short: measured by
# benchmarks/run.py (README, "Performance"). Steps under CPU_MAX_UNROLLED_GFLOP per device run CPU_STEPS_PER_CALL
# to a call.
CPU_STEPS_PER_CALL = 8
CPU_MAX_UNROLLED_GFLOP = 2.0


@dataclasses.dataclass(frozen=True)
class _Configured:
    profile: str
    xla_flags_added: tuple[str, ...]
    environment_added: tuple[str, ...]
    host_memory_retained: bool


_configured: _Configured | None = None  # set by `configure` alone, once per process


def _flag_names(flags: str) -> set[str]:
    return {token[2:].split("=", 1)[0] for token in flags.split() if token.startswith("--")}


def _missing_flags(flags: str, wanted: Mapping[str, str]) -> list[str]:
    given = _flag_names(flags)
    return [f"--{name}={value}" for name, value in wanted.items() if name not in given]


def with_flags(flags: str, wanted: Mapping[str, str]) -> str:
    """`flags` (an XLA_FLAGS string) plus each of `wanted` ({name: value}) whose flag it does not set already."""
    return " ".join([flags.strip(), *_missing_flags(flags, wanted)]).strip()


def _backends_started() -> bool:
    if "jax" not in sys.modules:
        return False
    from jax._src import xla_bridge  # no public API says whether a backend has started

    return xla_bridge.backends_are_initialized()


def configure(profile: str | None = None) -> dict[str, Any]:
    """Makes this process run `profile` (a name of PROFILES; None: $CNNJAX_PROFILE, else "fast"); returns
    `configuration()`.

    Adds the profile's XLA flags to os.environ['XLA_FLAGS'] (a flag already there keeps its value) and selects its
    CPU formulations for everything traced afterwards. Call it once, first thing: a second call with the same
    profile changes nothing.

    Raises:
      ValueError: the profile is not a name of PROFILES.
      RuntimeError: the process runs another profile already, or a JAX backend has started (XLA has read its
        flags) and the profile's flags are not all in XLA_FLAGS.
    """
    global _configured
    name = os.environ.get(ENV_PROFILE, DEFAULT_PROFILE) if profile is None else profile
    if name not in PROFILES:
        source = "profile" if profile is not None else ENV_PROFILE
        raise ValueError(f"{source}: expected a profile of cnnjax.backend.PROFILES {sorted(PROFILES)}, got {name!r}")
    if _configured is not None:
        if _configured.profile != name:
            raise RuntimeError(
                f"profile: this process runs cnnjax.backend profile {_configured.profile!r} already, got {name!r}; "
                "a process runs one profile: call cnnjax.backend.configure once, first thing"
            )
        return configuration()
    row = PROFILES[name]
    current = os.environ.get("XLA_FLAGS", "")
    missing = _missing_flags(current, row.xla_flags)
    unset = [key for key in row.environment if key not in os.environ]
    if (missing or unset) and _backends_started():
        settings = " ".join(
            [*(f"{key}={row.environment[key]}" for key in unset), f"XLA_FLAGS='{with_flags(current, row.xla_flags)}'"]
        )
        raise RuntimeError(
            f"cnnjax.backend.configure({name!r}): a JAX backend has started, so XLA has read its flags already; "
            f"call configure before anything uses JAX (first thing in the script), or set {settings} before "
            "starting Python"
        )
    if missing:
        os.environ["XLA_FLAGS"] = with_flags(current, row.xla_flags)
    for key in unset:
        os.environ[key] = row.environment[key]
    retained = row.retain_host_memory and _retain_host_memory()
    _configured = _Configured(
        name, tuple(missing), tuple(f"{key}={row.environment[key]}" for key in unset), host_memory_retained=retained
    )
    return configuration()


# mallopt's parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


def _retain_host_memory() -> bool:
    """Asks glibc's malloc to keep freed memory for reuse: one arena (the others serve large blocks by mmap), no
    mmap, no trimming. Returns whether it did (not where the C library is not glibc, or GLIBC_TUNABLES sets malloc
    tunables)."""
    if platform.libc_ver()[0] != "glibc" or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    libc = ctypes.CDLL(None)
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1))  # -1: never trim (mallopt(3))
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in settings)


def active_profile() -> str:
    """The row of PROFILES this process runs: the configured one, else "xla" (never configured)."""
    return UNCONFIGURED_PROFILE if _configured is None else _configured.profile


def choose_profile(flag: str | None = None, config: str = "", default: str = DEFAULT_PROFILE) -> str:
    """The profile a command runs: `flag` (its --numerics), else `config` (the config's `numerics`; '' = none),
    else $CNNJAX_PROFILE, else `default` (the command's: "fast" for `cnnjax train`, "portable" for `cnnjax repro`).

    Raises:
      ValueError: the chosen name is not a row of PROFILES; the message names where it came from.
    """
    choices = (
        ("--numerics", flag),
        ("config.numerics", config or None),
        (ENV_PROFILE, os.environ.get(ENV_PROFILE)),
        ("default", default),
    )
    source, name = next((source, name) for source, name in choices if name is not None)
    if name not in PROFILES:
        raise ValueError(f"{source}: expected a profile of cnnjax.backend.PROFILES {sorted(PROFILES)}, got {name!r}")
    return name


def check_numerics(requested: str) -> str:
    """The profile to record as a run's config.numerics: this process's (`active_profile`), which `requested`
    (a config's `numerics`; '' = the process's) must name, if it names one.

    Raises:
      ValueError: `requested` names another profile than the one this process runs.
    """
    running = active_profile()
    if requested and requested != running:
        raise ValueError(
            f"config.numerics: this process runs the {running!r} profile, got {requested!r}; a process runs one "
            f"profile, chosen before JAX starts: call cnnjax.backend.configure({requested!r}) first thing in the "
            f"script, run `cnnjax train --numerics {requested}`, or leave config.numerics empty"
        )
    return running


def _profile(name: str | None) -> Profile:
    if name is None:
        return PROFILES[UNCONFIGURED_PROFILE if _configured is None else _configured.profile]
    if name not in PROFILES:
        raise ValueError(f"profile: expected a profile of cnnjax.backend.PROFILES {sorted(PROFILES)}, got {name!r}")
    return PROFILES[name]


def configuration() -> dict[str, Any]:
    """What this process runs, as a run's manifest records it.

    Returns:
      {'profile': the configured name, or None (never configured: the "xla" row), 'xla_flags': $XLA_FLAGS,
      'xla_flags_added': the flags `configure` added to it, 'environment': the profile's environment variables
      as they are ({name: value}, None where unset), 'environment_added': those `configure` set ('NAME=value'),
      'kernel_gradient_route', 'tiled_max_pool' and 'tiled_conv_transpose': the CPU formulations in effect,
      'onednn_conv': whether 2-D float32 convolutions run on oneDNN's primitives (the profile asks for them, the
      extension is built and has not failed to load), 'host_memory_retained': whether `configure` set glibc's
      malloc to keep freed memory}.
    """
    active = _profile(None)
    return {
        "profile": None if _configured is None else _configured.profile,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "xla_flags_added": [] if _configured is None else list(_configured.xla_flags_added),
        "environment": {key: os.environ.get(key) for key in active.environment},
        "environment_added": [] if _configured is None else list(_configured.environment_added),
        "kernel_gradient_route": active.kernel_gradient_route,
        "tiled_max_pool": active.tiled_max_pool,
        "tiled_conv_transpose": active.tiled_conv_transpose,
        "onednn_conv": active.onednn_conv and _onednn_conv_usable(),
        "host_memory_retained": _configured is not None and _configured.host_memory_retained,
    }


def _onednn_conv_usable() -> bool:
    """The oneDNN convolution's extension is built and, if cnnjax tried to load it, loaded (without loading it)."""
    from pathlib import Path

    module = sys.modules.get("cnnjax.functional.onednn")
    if module is not None:
        return module.status()["loaded"] is not False and module.LIBRARY.exists()
    return (Path(__file__).parent / "functional" / "_build" / "onednn_conv.so").exists()


def onednn_conv(backend: str, profile: str | None = None) -> bool:
    """Whether conv may run on oneDNN's primitives (`cnnjax.functional.onednn`) on `backend` under `profile` (None:
    the process's): on CPU where the profile asks for it ("fast"), elsewhere never. Whether a given convolution
    does: `cnnjax.functional.conv._onednn_route`."""
    return backend == "cpu" and _profile(profile).onednn_conv


def kernel_gradient_route(backend: str, profile: str | None = None) -> bool:
    """Whether conv's kernel gradient takes `_kernel_tangent_cpu` on `backend` ('cpu', 'gpu', 'cuda', 'rocm',
    'tpu') under `profile` (None: the process's): on CPU where the profile asks for it, elsewhere never."""
    return backend == "cpu" and _profile(profile).kernel_gradient_route


def tiled_conv_transpose(backend: str, profile: str | None = None) -> bool:
    """Whether a 2-D transposed convolution with stride == kernel size and no padding is one matrix product and a
    reshape on `backend` under `profile` (None: the process's): on CPU where the profile asks for it ("fast"),
    elsewhere never (`lax.conv_transpose`)."""
    return backend == "cpu" and _profile(profile).tiled_conv_transpose


def tiled_max_pool(backend: str, profile: str | None = None) -> bool:
    """Whether stride == window, unpadded max pooling is a reshape + max on `backend` under `profile` (None: the
    process's): on CPU where the profile asks for it, elsewhere never (`lax.reduce_window`)."""
    return backend == "cpu" and _profile(profile).tiled_max_pool


def steps_per_call(macs_per_example: int, device_batch: int, backend: str) -> int:
    """Training steps per compiled call when the config leaves it to cnnjax (config.steps_per_call = 0).

    On CPU, CPU_STEPS_PER_CALL when a training step (forward and backward, ~6 x MACs x the per-device batch FLOPs)
    is under CPU_MAX_UNROLLED_GFLOP, else 1; on other backends 1.
    """
    gflop = 6 * macs_per_example * device_batch / 1e9
    return CPU_STEPS_PER_CALL if backend == "cpu" and gflop < CPU_MAX_UNROLLED_GFLOP else 1
