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
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
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
        """`step(state, batch) -> (state, out)` jitted, the state donated."""
        return TrainStep(step, jax.jit(step, donate_argnums=0), self)

    def compile_calls(self, call: Callable) -> Callable:
        """A training call ``call(state, opened, count, histograms, constants, window) -> (state, results, sums)``
        (`tricks.train._calls.Calls`) jitted, the state donated; `window` holds the call's
        batches stacked on a leading step axis (`stack_window`)."""
        return jax.jit(call, donate_argnums=0)

    def stack_window(self, batches: Any) -> Any:
        """Consecutive global batches stacked for `compile_calls`: ``(steps, batch, ...)``,
        the batch axis split over ``data``."""
        return _stacked(jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec(None, "data")), None)(
            *batches)

    def to_train(self, state: Any) -> Any:
        """The state laid out for `compile_train`'s step."""
        return state

    def from_train(self, state: Any) -> Any:
        """The state back in the common layout (for checkpoints and evaluation)."""
        return state

    def metrics(self, tree: Any) -> Any:
        """A step's outputs (metrics, gradients) as one copy."""
        return tree


@dataclasses.dataclass(frozen=True)
class Pmap(Sharded):
    """`jax.pmap` over all devices with `lax.pmean`; models get ``axis_name="data"``."""

    axis_name = "data"

    def compile_train(self, step: Callable) -> TrainStep:
        mapped = jax.pmap(step, axis_name=self.axis_name, donate_argnums=0)
        devices = jax.local_device_count()

        def train_step(state, batch):
            batch = jax.tree.map(lambda x: x.reshape(devices, x.shape[0] // devices, *x.shape[1:]), batch)
            return mapped(state, batch)

        return TrainStep(step, train_step, self)

    def compile_calls(self, call: Callable) -> Callable:
        """`call` mapped over the devices (`Sharded.compile_calls`): each device runs it on
        its slice of the state, the open sums and the window (``(devices, steps, rows, ...)``);
        the step count, the histograms flag and the constants are shared."""
        return jax.pmap(call, axis_name=self.axis_name, in_axes=(0, 0, None, None, None, 0), donate_argnums=0)

    def stack_window(self, batches: Any) -> Any:
        """Consecutive global batches stacked for `compile_calls`: ``(devices, steps, rows, ...)``,
        each device's rows of every step on that device."""
        return _stacked(self._stacked_sharding, jax.local_device_count())(*batches)

    @property
    def _stacked_sharding(self) -> jax.sharding.NamedSharding:
        """A leading axis split over this process's devices, as `pmap` lays out its arguments."""
        return jax.sharding.NamedSharding(jax.sharding.Mesh(np.array(jax.local_devices()), ("data",)),
                                          jax.sharding.PartitionSpec("data"))

    def to_train(self, state: Any) -> Any:
        """A leading device axis, each device's slice made from its own replica (no host copy)."""
        devices, stacked = jax.local_devices(), self._stacked_sharding

        def stack(x):
            shards = {shard.device: shard.data for shard in jax.device_put(x, self.replicated).addressable_shards}
            return jax.make_array_from_single_device_arrays((len(devices), *np.shape(x)), stacked,
                                                            [shards[d][None] for d in devices])

        return jax.tree.map(stack, state)

    def from_train(self, state: Any) -> Any:
        """The common layout again, each device keeping its own slice (no host copy)."""
        return jax.tree.map(lambda x: jax.make_array_from_single_device_arrays(
            x.shape[1:], self.replicated, [shard.data[0] for shard in x.addressable_shards]), state)

    def metrics(self, tree: Any) -> Any:
        return jax.tree.map(lambda x: x[0], tree)


def _stack(batches: tuple, devices: int | None) -> Any:
    """`batches` stacked on a new step axis; with `devices`, each batch's rows split into
    `devices` parts first, the device axis leading: ``(devices, steps, rows / devices, ...)``."""
    if devices is None:
        return jax.tree.map(lambda *xs: jnp.stack(xs), *batches)
    return jax.tree.map(lambda *xs: jnp.stack([x.reshape(devices, -1, *x.shape[1:]) for x in xs], axis=1), *batches)


@functools.lru_cache(maxsize=None)
def _stacked(sharding: jax.sharding.NamedSharding, devices: int | None) -> Callable:
    """`_stack` jitted into `sharding` (one program per window length)."""
    return jax.jit(lambda *batches: _stack(batches, devices), out_shardings=sharding)


@dataclasses.dataclass(frozen=True)
class TrainStep:
    """A training step as a strategy compiled it: call it as ``(state, batch)``.

    Attributes:
        step: the pure ``step(state, batch) -> (state, out)``.
        compiled: what a call runs (the strategy's `jit` or `pmap` of `step`).
        strategy: the strategy that compiled it.

    Examples:
        >>> import jax.numpy as jnp
        >>> train_step = sharded().compile_train(lambda state, batch: (state + batch, 2 * batch))
        >>> [int(x) for x in train_step(jnp.ones(()), jnp.ones(()))]
        [2, 2]
    """

    step: Callable
    compiled: Callable
    strategy: Sharded

    def __call__(self, state: Any, batch: Any) -> tuple[Any, Any]:
        return self.compiled(state, batch)


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
