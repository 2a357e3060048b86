"""The XLA flags cnnjax sets by default, before JAX initialises its backends.

XLA:CPU picks a convolution library per shape, and its defaults are slow for CNN training on x86 CPUs: measured by
`benchmarks/run.py` on a 2-core AVX2 machine (README, "Performance"), YNNPACK's weight-gradient convolutions were
2-7x slower than Eigen's, and oneDNN's forward and input-gradient convolutions the fastest. So by default cnnjax
asks XLA for:

  --xla_cpu_experimental_ynn_fusion_type=-individual_convolution   convolutions not to YNNPACK
  --xla_cpu_experimental_onednn_custom_call=true                   forward/input-gradient convolutions to oneDNN
  --xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED     the scheduler that measured fastest with them

(the weight gradient is routed to Eigen by `cnnjax.functional.conv` itself). They are CPU flags: GPU and TPU
backends ignore them. XLA reads `XLA_FLAGS` once, when the first backend starts, so `import cnnjax` adds them to
the environment if no backend has started yet; later, it cannot, and warns.

A known cost: XLA cannot serialise an executable that holds oneDNN custom calls, so such programs are not written
to JAX's persistent compilation cache (JAX warns "Error writing persistent compilation cache entry ...
std::bad_alloc" and compiles them anew in the next process).

Overriding: a flag already in `XLA_FLAGS` keeps the user's value (e.g.
`XLA_FLAGS=--xla_cpu_experimental_onednn_custom_call=false`); `CNNJAX_XLA_DEFAULTS=0` sets none of them. What a
run used is in its manifest (`xla_flags`, `cnnjax_xla_defaults`).
"""

from __future__ import annotations

import os
import sys
import warnings

DEFAULTS: dict[str, str] = {
    "xla_cpu_experimental_ynn_fusion_type": "-individual_convolution",
    "xla_cpu_experimental_onednn_custom_call": "true",
    "xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED",
}
ENV_SWITCH = "CNNJAX_XLA_DEFAULTS"


def _flag_names(flags: str) -> set[str]:
    return {token[2:].split("=", 1)[0] for token in flags.split() if token.startswith("--")}


def with_defaults(flags: str, defaults: dict[str, str] = DEFAULTS) -> str:
    """`flags` (an XLA_FLAGS string) plus each default whose flag it does not set already."""
    given = _flag_names(flags)
    added = [f"--{name}={value}" for name, value in defaults.items() if name not in given]
    return " ".join([flags.strip(), *added]).strip()


def enabled() -> bool:
    """Whether cnnjax's defaults are wanted (`CNNJAX_XLA_DEFAULTS` unset, or not one of 0/false/no/off)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def _backends_started() -> bool:
    if "jax" not in sys.modules:
        return False
    from jax._src import xla_bridge  # no public API says whether a backend has started

    return xla_bridge.backends_are_initialized()


def apply() -> bool:
    """Adds the defaults to `os.environ['XLA_FLAGS']` unless disabled; True when they are in effect.

    Warns (and changes nothing) when a JAX backend has already started: XLA read its flags then.
    """
    if not enabled():
        return False
    current = os.environ.get("XLA_FLAGS", "")
    if not set(DEFAULTS) - _flag_names(current):
        return True
    if _backends_started():
        warnings.warn(
            "cnnjax: a JAX backend started before `import cnnjax`, so cnnjax's default XLA flags (faster CPU "
            "convolutions) are not in effect; import cnnjax before using JAX, or set "
            f"XLA_FLAGS='{with_defaults(current)}' (or {ENV_SWITCH}=0 to silence this)",
            stacklevel=3,
        )
        return False
    os.environ["XLA_FLAGS"] = with_defaults(current)
    return True


def in_effect() -> dict[str, object]:
    """What a run records: the XLA_FLAGS string and whether `import cnnjax` applied its defaults."""
    return {"xla_flags": os.environ.get("XLA_FLAGS", ""), "cnnjax_xla_defaults": APPLIED}


APPLIED = apply()  # once, when `import cnnjax` runs this module
