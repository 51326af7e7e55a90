"""Multi-host start-up: every process calls `jax.distributed.initialize` before using devices.

Where the coordinator is comes from, in order: the config's ``distributed`` fields, the
environment (``TRICKS_COORDINATOR=host:port``, ``TRICKS_NUM_PROCESSES``,
``TRICKS_PROCESS_ID``), or JAX's own cluster detection (TPU pods, SLURM, ...) when
``distributed.auto`` is set. With none of these, the run is single-process.
"""

from __future__ import annotations

import os
import socket
import time

import jax
import ml_collections

from tricks.config import ConfigError


def initialize_distributed(config: ml_collections.ConfigDict) -> bool:
    """Joins the multi-process run `config` or the environment describes; returns whether it did.

    Must run before anything touches a device. On CPU the collectives use gloo. A
    coordinator that cannot be reached fails after ``distributed.timeout_s`` seconds with
    a message naming it, instead of hanging.

    Raises:
        ConfigError: an incomplete description, or a coordinator that did not answer.

    Examples:
        >>> cfg = ml_collections.ConfigDict({"distributed": {"coordinator": "", "num_processes": 0,
        ...                                  "process_id": -1, "auto": False, "timeout_s": 60}})
        >>> initialize_distributed(cfg)   # nothing in the config or environment: one process
        False
    """
    spec = config.distributed
    coordinator = spec.coordinator or os.environ.get("TRICKS_COORDINATOR", "")
    num_processes = spec.num_processes or int(os.environ.get("TRICKS_NUM_PROCESSES", "0"))
    process_id = spec.process_id if spec.process_id >= 0 else int(os.environ.get("TRICKS_PROCESS_ID", "-1"))
    if not coordinator and not spec.auto:
        return False
    if jax.distributed.is_initialized():
        return True
    if coordinator and (num_processes <= 0 or not 0 <= process_id < num_processes):
        raise ConfigError(
            f"a multi-process run needs the coordinator, the number of processes and this process's id "
            f"in [0, num_processes): got coordinator={coordinator!r}, num_processes={num_processes}, "
            f"process_id={process_id} (config distributed.* or TRICKS_COORDINATOR, TRICKS_NUM_PROCESSES, "
            f"TRICKS_PROCESS_ID)"
        )
    if coordinator and process_id != 0:
        _wait_for(coordinator, spec.timeout_s, process_id, num_processes)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # used only by the CPU backend
    kwargs = {"initialization_timeout": int(spec.timeout_s)}
    if coordinator:
        kwargs.update(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)
    try:
        jax.distributed.initialize(**kwargs)
    except Exception as exc:  # JAX raises various errors for an unreachable coordinator
        raise ConfigError(
            f"could not join the multi-process run at coordinator {coordinator or '(auto-detected)'} within "
            f"{spec.timeout_s} s as process {process_id} of {num_processes}: {type(exc).__name__}: {exc}"
        ) from None
    return True


def _wait_for(coordinator: str, timeout_s: float, process_id: int, num_processes: int) -> None:
    """Waits until the coordinator accepts connections (JAX itself would abort the process)."""
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"the coordinator must be host:port, got {coordinator!r}")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"could not reach the coordinator {coordinator} within {timeout_s} s as process "
                    f"{process_id} of {num_processes} ({exc}); start process 0 there first, or check the "
                    f"address (distributed.coordinator or TRICKS_COORDINATOR)"
                ) from None
            time.sleep(0.5)
