"""AlexNet's two towers on two devices (`tower_axis`): each device computes its tower's half of every
convolution, the towers exchange maps only at conv3's input and before the fully connected layers (as the paper's
GPUs did), and outputs and gradients are those of one device. Runs in a subprocess with 2 CPU devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a subprocess compiles AlexNet twice

SCRIPT = """
import json
import jax, jax.numpy as jnp, numpy as np
from cnnjax import models
options = dict(small_input=True, width=0.25, fc_features=32, num_classes=10, weight_init="he")
one, two = models.create("alexnet", **options), models.create("alexnet", tower_axis="towers", **options)
x = 30 * jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
variables = one.init(jax.random.key(1), x)
loss = lambda model: lambda v: jnp.sum(model.apply(v, x) ** 2)
reference, reference_grads = one.apply(variables, x), jax.grad(loss(one))(variables)
with jax.set_mesh(jax.make_mesh((2,), ("towers",))):
    apply = jax.jit(two.apply)
    out, grads = apply(variables, x), jax.jit(jax.grad(loss(two)))(variables)
    hlo = apply.lower(variables, x).compile().as_text()
relative = lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())
convs = [line.split("= f32[")[1].split("]")[0] for line in hlo.splitlines() if " convolution(" in line]
print(json.dumps({
    "out": relative(out, reference),
    "grads": max(relative(a, b) for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(reference_grads))),
    "conv_outputs": sorted(convs),
    "all_gathers": sum(" all-gather(" in line for line in hlo.splitlines()),
}))
"""


def test_two_towers_on_two_devices_compute_half_of_each_layer_and_equal_one_device():
    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}
    env.update(XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["out"] < 1e-5 and result["grads"] < 1e-5
    # width 0.25: conv1 24, conv2 64, conv3 96, conv4 96, conv5 64 maps; each device computes half of each
    assert result["conv_outputs"] == sorted(["4,32,32,12", "4,15,15,32", "4,7,7,48", "4,7,7,48", "4,7,7,32"])
    assert result["all_gathers"] == 2  # conv3's input, the fully connected layers' input
