"""Data-parallel strategies (kind ``parallel``): the same training over all devices and hosts.

Both strategies split each global batch over every device (of every process) and keep
the parameters replicated; the numbers are those of one device with the same global
batch, up to float reassociation, except for per-example randomness under `pmap` (see
below). Batch-norm statistics are those of the global batch under both.

* ``sharded`` (default): `jax.jit` over a `Mesh` of all devices with a ``data`` axis; the
  batch is sharded over it, the state replicated, and XLA inserts the collectives. Random
  draws (dropout, augmentation) are the same as on one device.
* ``pmap``: `jax.pmap` over the devices with an explicit `lax.pmean` of the gradients,
  loss and metrics, and models built with ``axis_name="data"`` so batch norm averages its
  statistics across devices. Each device draws its own random numbers for its rows, so
  runs with dropout or augmentation differ from one device's (statistically alike).

The state keeps one layout outside the step (replicated on the mesh), so checkpoints are
the same whatever the strategy, and a run can resume under the other one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

import registry


@dataclasses.dataclass(frozen=True)
class Sharded:
    """`jax.jit` over a mesh of all devices: batch split on ``data``, state replicated."""

    axis_name = None

    @property
    def mesh(self) -> jax.sharding.Mesh:
        return jax.sharding.Mesh(np.array(jax.devices()), ("data",))

    @property
    def batch_sharding(self) -> jax.sharding.NamedSharding:
        """How loaders lay out each global batch."""
        return jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("data"))

    @property
    def replicated(self) -> jax.sharding.NamedSharding:
        return jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())

    def compile_train(self, step: Callable) -> TrainStep:
        """`step(state, batch, sums)` jitted, state and sums donated."""
        return TrainStep(step, jax.jit(step, donate_argnums=(0, 2)), self)

    def compile_fed(self, step: Callable, gather: Callable, sharding: Any, finish: Callable) -> Callable | None:
        """``(state, sums, count, flag, *window_args) -> (state, sums, out)``: `count` steps in one call.

        Each step gathers its own batch, ``gather(state.step, *window_args)``, laid out by
        `sharding` (each device gathers its rows) as the loader's own jitted gather gives
        it. After the last step, ``finish(state, sums, flag) -> (sums, out)`` closes the
        call (the loop: the values of the log steps it passed). `count` and `flag` are
        traced, so any call compiles once; state and sums are donated.
        """

        def fed(state, sums, count, flag, *args):
            def one(_, carry):
                state, sums = carry
                batch = gather(state.step, *args)
                if sharding is not None:
                    batch = jax.lax.with_sharding_constraint(batch, sharding)
                return step(state, batch, sums)

            state, sums = jax.lax.fori_loop(0, count, one, (state, sums))
            return state, *finish(state, sums, flag)

        return jax.jit(fed, donate_argnums=(0, 1))

    def to_train(self, state: Any) -> Any:
        """The state laid out for `compile_train`'s step."""
        return state

    def from_train(self, state: Any) -> Any:
        """The state back in the common layout (for checkpoints and evaluation)."""
        return state

    def metrics(self, sums: Any) -> Any:
        """The per-step metric sums as one copy."""
        return sums


@dataclasses.dataclass(frozen=True)
class Pmap(Sharded):
    """`jax.pmap` over all devices with `lax.pmean`; models get ``axis_name="data"``."""

    axis_name = "data"

    def compile_train(self, step: Callable) -> TrainStep:
        mapped = jax.pmap(step, axis_name=self.axis_name, donate_argnums=(0, 2))
        devices = jax.local_device_count()

        def train_step(state, batch, sums):
            batch = jax.tree.map(lambda x: x.reshape(devices, x.shape[0] // devices, *x.shape[1:]), batch)
            return mapped(state, batch, sums)

        return TrainStep(step, train_step, self)

    def compile_fed(self, step: Callable, gather: Callable, sharding: Any, finish: Callable) -> None:
        """None: one call per step, batches gathered by calls of their own (inside `pmap`
        each device would need the whole split passed in every call)."""
        return None

    def to_train(self, state: Any) -> Any:
        devices = jax.local_devices()
        mesh = jax.sharding.Mesh(np.array(devices), ("data",))
        stacked = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
        return jax.tree.map(
            lambda x: jax.device_put(np.broadcast_to(np.asarray(x), (len(devices), *np.shape(x))), stacked),
            jax.device_get(state),
        )

    def from_train(self, state: Any) -> Any:
        return jax.device_put(jax.tree.map(lambda x: np.asarray(x[0]), state), self.replicated)

    def metrics(self, sums: Any) -> Any:
        return jax.tree.map(lambda x: x[0], sums)


@dataclasses.dataclass(frozen=True)
class TrainStep:
    """A training step as a strategy compiled it: call it as ``(state, batch, sums)``.

    Attributes:
        step: the pure ``step(state, batch, sums) -> (state, sums)``.
        compiled: what a call runs (the strategy's `jit` or `pmap` of `step`).
        strategy: the strategy that compiled it.

    Examples:
        >>> import jax.numpy as jnp
        >>> train_step = sharded().compile_train(lambda state, batch, sums: (state + batch, sums + 1))
        >>> [int(x) for x in train_step(jnp.ones(()), jnp.ones(()), jnp.zeros(()))]
        [2, 1]
    """

    step: Callable
    compiled: Callable
    strategy: Sharded

    def __call__(self, state: Any, batch: Any, sums: Any) -> tuple[Any, Any]:
        return self.compiled(state, batch, sums)

    def fed_by(self, loader: Any, finish: Callable, step: Callable | None = None) -> Callable | None:
        """Several steps in one call, each gathering its batch from on-device `loader`; or None.

        Args:
            loader: an on-device loader (`tricks.data.DeviceLoader`).
            finish: ``finish(state, sums, flag) -> (sums, out)``, run on the device after
                the call's last step; `flag` is the call's traced boolean argument.
            step: what each iteration runs, ``(state, batch, sums) -> (state, sums)``
                (default: this step; the training loop wraps it to record log steps).

        Returns:
            ``(state, sums, count, flag, *loader.window_args(state.step, window)) ->
            (state, sums, out)`` for any ``count <= window``, compiled by the strategy
            (`Sharded.compile_fed`); None where the strategy cannot (`pmap`).

        Examples:
            >>> import jax.numpy as jnp
            >>> class Loader:  # the batch of step k is data[k]
            ...     sharding = None
            ...     gather = staticmethod(lambda k, data: data[k])
            >>> step = lambda state, batch, sums: (state.replace(step=state.step + 1, total=state.total + batch),
            ...                                    sums + 1)
            >>> finish = lambda state, sums, reset: (jnp.where(reset, 0, sums), sums)  # the count so far
            >>> import flax
            >>> @flax.struct.dataclass
            ... class State:
            ...     step: jax.Array
            ...     total: jax.Array
            >>> fed = sharded().compile_train(step).fed_by(Loader(), finish)
            >>> state, sums, counted = fed(State(jnp.int32(1), jnp.float32(0)), jnp.int32(0), 3, True, jnp.arange(10.0))
            >>> float(state.total), int(state.step), int(counted), int(sums)  # steps 1, 2 and 3
            (6.0, 4, 3, 0)
        """
        return self.strategy.compile_fed(step or self.step, loader.gather, loader.sharding, finish)


@registry.register("parallel", "sharded")
def sharded() -> Sharded:
    """`jax.jit` over a `Mesh` of all devices: batch split over ``data``, state replicated (default).

    Examples:
        >>> tuple(sharded().batch_sharding.spec)
        ('data',)
    """
    return Sharded()


@registry.register("parallel", "pmap")
def pmap() -> Pmap:
    """`jax.pmap` over all devices with `pmean` of gradients and batch-norm statistics.

    Examples:
        >>> pmap().axis_name
        'data'
    """
    return Pmap()
