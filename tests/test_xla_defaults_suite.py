"""The tests whose numbers depend on XLA:CPU's convolution and pooling paths, run under cnnjax's default XLA flags
(the rest of the suite runs under XLA's own defaults: see tests/conftest.py)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SELECTION = [
    "tests/functional/test_conv.py",
    "tests/functional/test_pool.py",
    "tests/train/test_loop.py::test_same_seed_gives_bitwise_equal_runs",
    "tests/train/test_loop.py::test_stopped_and_resumed_run_equals_the_uninterrupted_one",
    "tests/train/test_loop.py::test_steps_unrolled_into_one_call_give_the_same_bits_and_records",
]


def test_convolution_pooling_and_bitwise_training_tests_pass_under_cnnjax_xla_defaults():
    env = {**os.environ, "CNNJAX_XLA_DEFAULTS": "1"}
    env.pop("XLA_FLAGS", None)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SELECTION],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "skipped" not in summary, summary  # the kernel-gradient routing test ran: the defaults were in effect
