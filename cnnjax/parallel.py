"""Data parallelism: a 'data' mesh over all devices (jit + NamedSharding), and multi-host set-up.

The training state is replicated (`replicated(mesh)`), each global batch is split along its first axis over the
mesh's 'data' axis (`batch_sharding(mesh)`), and XLA inserts the gradient all-reduce; batch norm's statistics are
those of the global batch (or of groups: `ghost_batch_size`). Each process loads only its own part of the batch
and `to_global` assembles the global array from the processes' parts. (`jax.pmap`, in maintenance mode since JAX
re-implemented it on jit + shard_map, offered nothing more here: per-device batch statistics are ghost batch norm
with the per-device batch as the group.)
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


JOIN_TIMEOUT_S = 300
"""How long a process waits for all processes to join the coordinator (jax.distributed's own default)."""


def initialize_distributed(
    coordinator_address: str = "", num_processes: int = 1, process_id: int = 0, *, timeout_s: int = JOIN_TIMEOUT_S
) -> bool:
    """Starts `jax.distributed` when a coordinator address is given; True if it runs.

    Call before any other JAX work. Every process runs the same program with its own `process_id`
    (`cnnjax train --coordinator-address HOST:PORT --num-processes N --process-id I`). coordinator_address
    'auto': `jax.distributed.initialize()` finds the coordinator, process count and index itself (Cloud TPU pod
    slices, SLURM, Open MPI), so every host runs the same command line; num_processes / process_id are not read.

    A process says on stderr that it waits for the others; one that cannot join within `timeout_s` seconds (a
    process not started, a coordinator it cannot reach) prints one line naming the coordinator and the processes
    and exits with status 1 (jax.distributed would end the process then anyway, with an abort and a C++ trace).

    Raises:
      ValueError: a host that does not resolve, a process id outside [0, num_processes), 'auto' outside a
        cluster that jax.distributed recognises.
    """
    address = coordinator_address
    if address == "auto":
        if not jax.distributed.is_initialized():
            try:
                with _join_deadline(timeout_s, "the coordinator that jax.distributed found ('auto')"):
                    jax.distributed.initialize(initialization_timeout=timeout_s + _JAX_GRACE_S)
            except ValueError as e:
                raise ValueError(
                    f"config.distributed.coordinator_address: 'auto' takes the coordinator, process count and index "
                    f"from a cluster (Cloud TPU pod slices, SLURM, Open MPI), and jax.distributed found none ({e}); "
                    "give 'host:port' of process 0 with --num-processes and --process-id"
                ) from None
        return True
    if not address:
        if num_processes != 1:
            raise ValueError(
                f"coordinator_address: expected 'host:port' of process 0 for num_processes={num_processes}, got ''"
            )
        return False
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process_id: expected 0 <= process_id < num_processes={num_processes}, got {process_id}")
    if jax.distributed.is_initialized():
        return True
    host, _, port = address.rpartition(":")
    try:
        socket.getaddrinfo(host.strip("[]"), port)
    except (socket.gaierror, UnicodeError) as e:
        raise ValueError(
            f"config.distributed.coordinator_address: host {host!r} of {address!r} does not resolve "
            f"({e}); expected the address of process 0 as this machine reaches it"
        ) from None
    print(
        f"process {process_id} of {num_processes}: joining the coordinator at {address} (waiting up to {timeout_s} s "
        "for every process)",
        file=sys.stderr,
        flush=True,
    )
    with _join_deadline(timeout_s, f"the coordinator at {address} as process {process_id} of {num_processes}"):
        jax.distributed.initialize(
            coordinator_address=address,
            num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=timeout_s + _JAX_GRACE_S,
        )
    return True


_JAX_GRACE_S = 30  # jax.distributed's own deadline comes this much later than cnnjax's, which reports it


@contextlib.contextmanager
def _join_deadline(timeout_s: int, joining: str) -> Iterator[None]:
    """Within the block (a jax.distributed.initialize, which blocks in C++ and cannot be interrupted), a timer
    that after `timeout_s` seconds prints why on stderr and ends the process with status 1."""

    def expire() -> None:
        print(
            f"error: config.distributed: could not join {joining} within {timeout_s} s; start every process "
            "(--process-id 0 .. --num-processes - 1) with the same --coordinator-address, the address of process "
            "0 as each machine reaches it, and its port open",
            file=sys.stderr,
            flush=True,
        )
        os._exit(1)

    timer = threading.Timer(timeout_s, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def data_mesh(devices: list[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis 'data' over `devices` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (the training state)."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """The first axis is split over the mesh's 'data' axis (batches)."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(batch_size: int, name: str, *, devices: int, processes: int) -> None:
    """A global batch must split evenly over processes and devices."""
    if batch_size % devices or batch_size % processes:
        near = [m for m in ((batch_size // devices) * devices, (batch_size // devices + 1) * devices) if m > 0]
        raise ValueError(
            f"{name}: expected a multiple of the device count {devices} (and of the process count {processes}), "
            f"got {batch_size}: {batch_size / devices:g} examples per device; {' or '.join(map(str, near))} "
            f"would give {' or '.join(str(m // devices) for m in near)} per device"
        )


def to_global(local: Any, sharding: NamedSharding) -> Any:
    """Assembles global arrays from this process's part of a batch (a pytree of NumPy arrays)."""
    if jax.process_count() == 1:  # the local part is the whole batch; one device_put of the tree costs 0.4x
        return jax.device_put(local, sharding)  # (175 vs 430 us per LeNet-5 batch: docs/performance.md)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local)


def prefetch[T](iterator: Iterator[T], transfer: Callable[[T], Any], size: int = 2) -> Iterator[Any]:
    """Yields `transfer(item)` for each item, keeping `size` transfers in flight ahead of the consumer."""
    queue: collections.deque = collections.deque()
    for item in iterator:
        queue.append(transfer(item))
        if len(queue) > size:
            yield queue.popleft()
    while queue:
        yield queue.popleft()


class Jit:
    """The jit strategy: the state replicated over a 'data' mesh of all devices, batches split along it; XLA
    inserts the gradient all-reduce."""

    def __init__(self):
        mesh = data_mesh()
        self.devices = jax.device_count()
        self.state_sharding = replicated(mesh)  # also the sharding a restored state is read into
        self._batch_sharding = batch_sharding(mesh)

    def compile_train(self, step: Callable) -> Callable:
        return jax.jit(step, donate_argnums=0, out_shardings=(self.state_sharding, self.state_sharding))

    def compile_eval(self, step: Callable) -> Callable:
        return jax.jit(step, out_shardings=self.state_sharding)

    def init(self, init: Callable[[], Any]) -> Any:
        """Runs `init` (a pure function returning the state) with its result replicated."""
        return jax.jit(init, out_shardings=self.state_sharding)()

    def put_batch(self, batch: Any) -> Any:
        """This process's part of a global batch (NumPy) -> global arrays."""
        return to_global(batch, self._batch_sharding)

    def abstract_batch(self, local_batch: int, image_shape: Sequence[int]) -> dict[str, jax.ShapeDtypeStruct]:
        """The shapes, dtypes and shardings of what `put_batch` makes of a training batch (to compile ahead)."""
        shape = (local_batch * jax.process_count(), *image_shape)
        return {
            "image": jax.ShapeDtypeStruct(shape, np.uint8, sharding=self._batch_sharding),
            "label": jax.ShapeDtypeStruct(shape[:1], np.int32, sharding=self._batch_sharding),
        }

    def to_host(self, tree: Any) -> Any:
        return jax.device_get(tree)


STRATEGIES = {"jit": Jit}


def strategy(name: str) -> Jit:
    """The data-parallel strategy of config.parallel: 'jit' (see the module docstring)."""
    if name not in STRATEGIES:
        raise ValueError(f"parallel: expected one of {list(STRATEGIES)}, got {name!r}")
    return STRATEGIES[name]()
