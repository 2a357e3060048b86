"""Data parallelism: 8 CPU devices (in a subprocess, XLA_FLAGS set before jax is imported) give the 1-device
results to float tolerance, BatchNorm over the global batch, dropout, and gradient accumulation included; so do
two processes joined by jax.distributed on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from cnnjax import parallel
from cnnjax.train import Checkpointer, train_and_evaluate

from .helpers import REPO, TinyNet, cli_env, run_python, tiny_config, tiny_dataset

pytestmark = pytest.mark.slow  # every test trains on several devices or processes in subprocesses

# (config overrides, model options) of each compared run.
RUNS = {
    "jit": ({"num_epochs": 1, "eval_batch_size": 40}, {"batch_norm": True, "dropout": 0.1}),
    # each device takes its share of every micro-batch (the micro-batches are strided over the batch)
    "accumulate": ({"num_epochs": 1, "eval_batch_size": 40, "accumulate_steps": 2}, {"dropout": 0.1}),
}

SCRIPT = """
import json, sys
sys.path.insert(0, {repo!r})
import jax
from cnnjax.train import train_and_evaluate
from tests.train.helpers import TinyNet, tiny_config, tiny_dataset

assert jax.device_count() == 8
for name, (overrides, options) in {runs!r}.items():
    final = train_and_evaluate(tiny_config(**overrides), {workdir!r} + "/" + name, dataset=tiny_dataset(),
                               model=TinyNet(**options))
    print("RESULT", name, json.dumps(final))
"""


def _results(output: str) -> dict[str, dict]:
    lines = [line.split(" ", 2) for line in output.splitlines() if line.startswith("RESULT ")]
    return {name: json.loads(text) for _, name, text in lines}


@pytest.fixture(scope="module")
def eight_devices(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("eight_devices")
    done = run_python(SCRIPT.format(repo=str(REPO), runs=RUNS, workdir=str(workdir)), devices=8, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir, _results(done.stdout)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_eight_devices_match_one(name, eight_devices, tmp_path):
    workdir, results = eight_devices
    overrides, options = RUNS[name]
    one = train_and_evaluate(tiny_config(**overrides), tmp_path, dataset=tiny_dataset(), model=TinyNet(**options))
    eight = results[name]
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        np.testing.assert_allclose(eight[key], one[key], rtol=1e-4, atol=1e-5, err_msg=key)
    params_8 = Checkpointer(workdir / name / "checkpoints", keep=1).read()[0]["params"]
    params_1 = Checkpointer(tmp_path / "checkpoints", keep=1).read()[0]["params"]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), params_8, params_1)


PROCESS_SCRIPT = """
import json, sys
sys.path.insert(0, {repo!r})
from cnnjax.train import train_and_evaluate
from tests.train.helpers import TinyNet, tiny_config, tiny_dataset
config = tiny_config(**{overrides!r})
config.distributed.coordinator_address = "127.0.0.1:{port}"
config.distributed.num_processes = 2
config.distributed.process_id = {process_id}
print("RESULT", json.dumps(train_and_evaluate(config, {workdir!r}, dataset=tiny_dataset(), model=TinyNet())))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_on_localhost_match_one(tmp_path):
    """Each process reads its own shard of every batch; the global batch holds the same examples (in another
    order), so without per-example randomness the results agree to float tolerance."""
    overrides = {"num_epochs": 1, "eval_batch_size": 40, "augment.crop_padding": 0}
    port, workdir = _free_port(), tmp_path / "two"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                PROCESS_SCRIPT.format(
                    repo=str(REPO), overrides=overrides, port=port, process_id=i, workdir=str(workdir)
                ),
            ],
            env=cli_env(),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    finals = [_results(out.replace("RESULT ", "RESULT two ", 1))["two"] for out, _ in outputs]
    one = train_and_evaluate(tiny_config(**overrides), tmp_path / "one", dataset=tiny_dataset(), model=TinyNet())
    for final in finals:
        for key in ("train_loss", "test_loss", "test_accuracy"):
            np.testing.assert_allclose(final[key], one[key], rtol=1e-4, atol=1e-5, err_msg=key)
    records = (workdir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in records] == [4, 8]  # written once, by process 0
    params_2 = Checkpointer(workdir / "checkpoints", keep=1).read()[0]["params"]
    params_1 = Checkpointer(tmp_path / "one" / "checkpoints", keep=1).read()[0]["params"]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), params_2, params_1)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            "initialize_distributed('127.0.0.1:{port}', 2, 0, timeout_s=3)",
            "error: config.distributed: could not join the coordinator at 127.0.0.1:{port} as process 0 of 2 "
            "within 3 s; "
            "start every process (--process-id 0 .. --num-processes - 1) with the same --coordinator-address",
        ),
        (
            "initialize_distributed('no-such-host.invalid:{port}', 2, 1)",
            "ValueError: config.distributed.coordinator_address: host 'no-such-host.invalid' of "
            "'no-such-host.invalid:{port}' "
            "does not resolve",
        ),
        (
            "initialize_distributed('auto')",
            "ValueError: config.distributed.coordinator_address: 'auto' takes the coordinator, process count and index "
            "from a cluster",
        ),
    ],
)
def test_a_process_that_cannot_join_says_why_and_ends(call, message):
    port = _free_port()
    done = run_python(f"from cnnjax import parallel; parallel.{call.format(port=port)}", timeout=60)
    assert done.returncode == 1 and message.format(port=port) in done.stderr.splitlines()[-1], done.stderr[-2000:]


def test_batch_sizes_must_split_over_devices():
    with pytest.raises(ValueError, match=r"got 36: 4.5 examples per device; 32 or 40 would give 4 or 5 per device"):
        parallel.check_batch_size(36, "config.batch_size", devices=8, processes=1)


def test_sharding_helpers_on_one_device():
    mesh = parallel.data_mesh()
    batch = parallel.to_global({"x": np.arange(8.0).reshape(4, 2)}, parallel.batch_sharding(mesh))
    assert batch["x"].sharding.spec == parallel.batch_sharding(mesh).spec
    np.testing.assert_array_equal(batch["x"], np.arange(8.0).reshape(4, 2))
    assert list(parallel.prefetch(iter(range(5)), lambda i: i * 10, size=2)) == [0, 10, 20, 30, 40]
    with pytest.raises(ValueError, match="coordinator_address"):
        parallel.initialize_distributed("", num_processes=2, process_id=0)


def test_the_strategy_compiles_puts_fetches_and_reduces_on_one_device():
    strategy = parallel.strategy("jit")
    assert strategy.devices == jax.device_count()

    def step(state, batch):
        return state + 1, batch["x"].sum()

    compiled = strategy.compile_train(step)
    state = strategy.init(lambda: np.float32(0.0))
    state, total = compiled(state, strategy.put_batch({"x": np.arange(4.0, dtype=np.float32)}))
    assert float(strategy.to_host(state)) == 1.0 and float(strategy.to_host(total)) == 6.0
    with pytest.raises(ValueError, match="parallel: expected one of"):
        parallel.strategy("vmap")
