"""What a run ran on: a JSON-serialisable fingerprint of the machine, the software and the numerics, and which of its
fields decide a run's bits.

    fp = cnnjax.environment.fingerprint()  # after cnnjax.backend.configure(): it starts JAX's backend
    cnnjax.environment.differences(recorded, fp)                   # every field that differs, in words
    cnnjax.environment.reproducibility_differences(recorded, fp)   # those that can change the bits

Every training run's manifest.json records `fingerprint()` ("environment"), and so does every result file of the
progression study. Two runs of the same config and seed are promised the same bits when
`reproducibility_fields` of their fingerprints are equal; the other fields (the total core count, the git commit)
say where a result came from.

Why the fields of `reproducibility_fields` are those:

- the numerics profile (`cnnjax.backend.configuration()`) and XLA_FLAGS choose the kernels;
- the ISA class, the CPU model and any ISA cap: oneDNN, YNNPACK and XLA's own code generation pick kernels by the
  CPU's instruction set, oneDNN and Eigen their blockings by its caches. A profile of ISA_INDEPENDENT_PROFILES would
  use only paths whose bits depend on none of these, and for it these fields would drop out. None is: under
  "portable", whose caps remove most of the ISA's share, a kernel-gradient convolution still gives other bits on
  AVX-512 than on AVX2, and Eigen's blockings still follow the caches (`cnnjax.backend`, tests/test_portability.py);
- the CPUs available to the process: XLA:CPU sizes its thread pool by them, and Eigen's contractions can split a
  reduction across that pool's threads;
- the platform, device kinds and counts, and the process count: the kernels of another device differ, and data
  parallelism sums gradients across devices in an order set by their number;
- the versions of Python, NumPy, JAX, jaxlib, Flax, optax and cnnjax: none of them promises the same values across
  releases.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import jax

from cnnjax import backend

PACKAGES = ("python", "numpy", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "cnnjax")
# Packages whose versions can change a run's numbers (orbax-checkpoint only stores them).
NUMERIC_PACKAGES = ("python", "numpy", "jax", "jaxlib", "flax", "optax", "cnnjax")
# Profiles (of cnnjax.backend.PROFILES) whose bits were seen to agree across ISA classes and CPU models: none yet
# (the module's docstring says why "portable" is not one); a profile joins when tests/test_portability.py's golden
# fingerprints of every ISA class agree.
ISA_INDEPENDENT_PROFILES: frozenset[str] = frozenset()
ISA_CAP_FLAG = "xla_cpu_max_isa"  # an XLA flag (in XLA_FLAGS) that caps the instruction set XLA:CPU emits
ISA_CAP_ENV = "ONEDNN_MAX_CPU_ISA"  # the environment variable that caps the instruction set oneDNN uses
CPUINFO = Path("/proc/cpuinfo")
GIT_TIMEOUT_S = 10


def _cpuinfo_field(name: str, cpuinfo: str) -> str | None:
    """The value of the first `name : value` line of a /proc/cpuinfo text, None when there is none."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return None


def _read_cpuinfo() -> str:
    try:
        return CPUINFO.read_text()
    except OSError:  # not Linux
        return ""


def isa_class(flags: set[str] | frozenset[str]) -> str:
    """The instruction-set class of a CPU from its /proc/cpuinfo flags: 'amx' (any amx_* flag), 'avx512_bf16',
    'avx512' (avx512f), 'avx2', else the machine's architecture (`platform.machine()`, e.g. 'x86_64' for an x86
    CPU without AVX2, 'aarch64')."""
    if any(flag.startswith("amx_") for flag in flags):
        return "amx"
    for flag, name in (("avx512_bf16", "avx512_bf16"), ("avx512f", "avx512"), ("avx2", "avx2")):
        if flag in flags:
            return name
    return platform.machine() or "unknown"


def isa_caps(xla_flags: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The instruction-set caps in effect: {'xla_cpu_max_isa': its value in `xla_flags` (an XLA_FLAGS string),
    'ONEDNN_MAX_CPU_ISA': its value in `environ`}, each only when set ({} when nothing caps the ISA)."""
    caps = {}
    for token in xla_flags.split():
        name, _, value = token.removeprefix("--").partition("=")
        if token.startswith("--") and name == ISA_CAP_FLAG:
            caps[ISA_CAP_FLAG] = value  # XLA keeps the last of a repeated flag
    if environ.get(ISA_CAP_ENV):
        caps[ISA_CAP_ENV] = environ[ISA_CAP_ENV]
    return caps


def _versions() -> dict[str, str | None]:
    def version(name: str) -> str | None:
        if name == "python":
            return platform.python_version()
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {name: version(name) for name in PACKAGES}


def git_state(root: Path) -> dict[str, Any] | None:
    """{'commit': HEAD's hash, 'dirty': whether tracked files differ from it} of the git checkout whose top folder
    is `root`; None when `root` is not one (an installed package) or git cannot say (no git, a timeout)."""
    if not (root / ".git").exists():
        return None
    try:
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=GIT_TIMEOUT_S,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    commit = next((line.split()[2] for line in status if line.startswith("# branch.oid ")), None)
    return {
        "commit": None if commit == "(initial)" else commit,
        "dirty": any(not line.startswith("#") for line in status),
    }


def fingerprint() -> dict[str, Any]:
    """This process's environment, JSON-serialisable. Starts JAX's backend when none has started: call it after
    `cnnjax.backend.configure`.

    Returns:
      {'cpu_model': str, 'isa_class': 'avx2' | 'avx512' | 'avx512_bf16' | 'amx' | the architecture (`isa_class`),
      'isa_caps': {cap: value} (`isa_caps`), 'cpu_cores': {'total': os.cpu_count(), 'available': the CPUs this
      process may run on}, 'platform': jax.default_backend(), 'devices': {device kind: count}, 'process_count',
      'versions': {package: version or None} (PACKAGES), 'xla_flags': $XLA_FLAGS, 'numerics':
      `cnnjax.backend.configuration()` without its 'xla_flags', 'git': `git_state` of the checkout that holds
      cnnjax (None when cnnjax is installed)}.
    """
    cpuinfo = _read_cpuinfo()
    flags = set((_cpuinfo_field("flags", cpuinfo) or "").split())
    xla_flags = os.environ.get("XLA_FLAGS", "")
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    devices: dict[str, int] = {}
    for device in jax.devices():
        devices[device.device_kind] = devices.get(device.device_kind, 0) + 1
    numerics = {k: v for k, v in backend.configuration().items() if k != "xla_flags"}
    return {
        "cpu_model": _cpuinfo_field("model name", cpuinfo) or platform.processor() or "unknown",
        "isa_class": isa_class(flags),
        "isa_caps": isa_caps(xla_flags, os.environ),
        "cpu_cores": {"total": os.cpu_count(), "available": available},
        "platform": jax.default_backend(),
        "devices": dict(sorted(devices.items())),
        "process_count": jax.process_count(),
        "versions": _versions(),
        "xla_flags": xla_flags,
        "numerics": numerics,
        "git": git_state(Path(backend.__file__).resolve().parents[1]),
    }


def isa_independent(fp: Mapping[str, Any]) -> bool:
    """Whether a fingerprint's numerics profile is one of ISA_INDEPENDENT_PROFILES."""
    return (fp.get("numerics") or {}).get("profile") in ISA_INDEPENDENT_PROFILES


def _without_isa_cap(xla_flags: str) -> list[str]:
    """The flags of an XLA_FLAGS string, sorted (XLA reads them in any order), less the ISA cap (`isa_caps`)."""
    return sorted(token for token in xla_flags.split() if token.removeprefix("--").partition("=")[0] != ISA_CAP_FLAG)


def reproducibility_fields(fp: Mapping[str, Any], *, isa: bool | None = None) -> dict[str, Any]:
    """The fields of a fingerprint that decide a run's bits (the module's docstring says why each): two runs of one
    config and seed whose fingerprints give equal fields are promised equal bits. Fields a fingerprint lacks are
    None.

    `isa`: whether the CPU model, ISA class and ISA caps are among them; None: unless the fingerprint's profile is
    one of ISA_INDEPENDENT_PROFILES."""
    # Less what `configure` had to add ('xla_flags_added', 'environment_added'): the settings themselves count.
    numerics = {k: v for k, v in (fp.get("numerics") or {}).items() if not k.endswith("_added")}
    versions = fp.get("versions") or {}
    fields: dict[str, Any] = {"numerics": numerics, "xla_flags": _without_isa_cap(fp.get("xla_flags") or "")}
    if isa or (isa is None and not isa_independent(fp)):
        fields |= {"isa_class": fp.get("isa_class"), "isa_caps": fp.get("isa_caps"), "cpu_model": fp.get("cpu_model")}
    return fields | {
        "cpu_cores.available": (fp.get("cpu_cores") or {}).get("available"),
        "platform": fp.get("platform"),
        "devices": fp.get("devices"),
        "process_count": fp.get("process_count"),
        "versions": {name: versions.get(name) for name in NUMERIC_PACKAGES},
    }


_ABSENT = object()


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, Mapping):  # an empty one adds nothing: {} and an absent field compare equal
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value
    return out


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    return value if isinstance(value, str) and value else repr(value)


def differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """'field: a's value -> b's value' for each field (nested ones dotted: 'versions.jax') that differs between two
    fingerprints (or any two JSON objects), in `a`'s order then `b`'s; [] when they are equal."""
    flat_a, flat_b = _flatten(a, "", {}), _flatten(b, "", {})
    keys = [*flat_a, *(k for k in flat_b if k not in flat_a)]
    return [
        f"{k}: {_shown(flat_a.get(k, _ABSENT))} -> {_shown(flat_b.get(k, _ABSENT))}"
        for k in keys
        if flat_a.get(k, _ABSENT) != flat_b.get(k, _ABSENT)
    ]


def reproducibility_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """`differences` of the `reproducibility_fields` of two fingerprints: [] when equal bits are promised. The CPU
    model, ISA class and caps count unless both ran a profile of ISA_INDEPENDENT_PROFILES."""
    isa = not (isa_independent(a) and isa_independent(b))
    return differences(reproducibility_fields(a, isa=isa), reproducibility_fields(b, isa=isa))
