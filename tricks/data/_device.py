"""The on-device loader: the split lives on the accelerator, batches are jitted gathers."""

from __future__ import annotations

import collections
import copy
import functools
import math
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from tricks.data._base import BALANCED_STREAM, Batch, Loader, StepIterator, epoch_order
from tricks.data._dataset import Dataset, to_float

_STACKS_CACHED = 2  # stacked epoch orders kept; a window needs one
REUSE_EPOCHS = 8
"""Epochs a stack of epoch orders holds beyond what one window needs, so the windows that
start in its first ``REUSE_EPOCHS + 1`` epochs all use it (`DeviceLoader.window_args`).
Building a stack for every window cost 1.4-2.1 ms of host time per call on digits
(about 5% of 20 MLP steps), taken from the training computation on a CPU."""
_LAYOUT = ("size", "scale", "start")  # static; the compiled gathers are shared by loaders alike
_ORDER = ("batch_size", "num_examples", "steps_per_epoch", "drop_remainder")


def _gather(x, y, idx, scale):
    """The rows `idx`; features as float32 times `scale`, or as stored where `scale` is None."""
    return {"image": x[idx] if scale is None else to_float(x[idx], scale), "label": y[idx]}


def _ordered(step, x, y, orders, anchor, *, size, scale, start, batch_size, num_examples, steps_per_epoch,
             drop_remainder):
    """The batch of `step` (traced) from the orders of consecutive epochs e0, e0 + 1, ... stacked.

    `anchor` is ``(s, p)``: step s's first row is at position p counted from the start of
    epoch e0 (so the arithmetic stays in int32 however long the run).
    """
    rows = start + jnp.arange(size, dtype=jnp.int32)
    if drop_remainder:  # a batch never leaves its epoch
        epoch = step // steps_per_epoch - anchor[0] // steps_per_epoch
        return _gather(x, y, orders[epoch, (step % steps_per_epoch) * batch_size + rows], scale)
    position = anchor[1] + (step - anchor[0]) * batch_size + rows  # rows past an epoch's end: the next one
    return _gather(x, y, orders[position // num_examples, position % num_examples], scale)


def _balanced(step, x, y, seed, order, starts, counts, present, *, batch_size, size, scale, start):
    key = jax.random.fold_in(jax.random.key(seed), BALANCED_STREAM)
    k_class, k_example = jax.random.split(jax.random.fold_in(key, step))
    classes = present[jax.random.randint(k_class, (batch_size,), 0, present.shape[0])]
    within = jax.random.randint(k_example, (batch_size,), 0, counts[classes])
    return _gather(x, y, jax.lax.dynamic_slice_in_dim(order[starts[classes] + within], start, size), scale)


def _evaluation(x, y, first, *, size, scale, start):
    n = x.shape[0]
    pos = first + start + jnp.arange(size, dtype=jnp.int32)
    return {**_gather(x, y, jnp.minimum(pos, n - 1), scale), "mask": pos < n}


def _stack(*orders):
    return jnp.stack(orders)


@functools.cache
def _jitted(sharding: NamedSharding | None) -> dict:
    """The jitted functions, with outputs laid out by `sharding` (None: default device)."""
    if sharding is None:
        batch = evaluation = replicated = None
    else:
        batch = {"image": sharding, "label": sharding}
        evaluation = {**batch, "mask": sharding}
        replicated = NamedSharding(sharding.mesh, PartitionSpec())
    return {
        "ordered": jax.jit(_ordered, static_argnames=_LAYOUT + _ORDER, out_shardings=batch),
        "balanced": jax.jit(_balanced, static_argnames=("batch_size", *_LAYOUT), out_shardings=batch),
        "evaluation": jax.jit(_evaluation, static_argnames=_LAYOUT, out_shardings=evaluation),
        "stack": jax.jit(_stack, out_shardings=replicated),
    }


class DeviceLoader(Loader):
    """Batches gathered on device by jitted functions of (seed, step); no host round-trip.

    The split is put on the device once, as stored (uint8 pixels stay uint8), and
    converted to float32 inside the gather. Epoch e's order is `epoch_order` (the Grain
    loader's too, so both give the same batches), made on the host and put on the device
    once per epoch (a few are cached), and the batch of step s is a slice of it (see
    `Layout`), so it depends on (seed, step) only. Class-balanced batches draw a class
    uniformly (among those present), then an example of it uniformly, from
    ``fold_in(fold_in(key(seed), BALANCED_STREAM), step)``.

    With a `NamedSharding`, the split is replicated on the mesh and the jitted gather
    has that sharding as ``out_shardings``: it returns the global batch, each device
    computing its own rows (also across processes: every process runs the same program
    on its replica). Without one, it returns this process's rows on the default device.

    Examples:
        >>> import numpy as np
        >>> from tricks.data import Dataset
        >>> rows = [{"x": np.full((1,), i, np.uint8), "label": i % 2} for i in range(10)]
        >>> ds = Dataset("toy", {"train": rows, "test": rows}, feature_key="x",
        ...              class_names="ab", input_shape=(1,), dtype=np.uint8, scale=1.0)
        >>> loader = DeviceLoader(ds, "train", 4, seed=0)
        >>> loader.steps_per_epoch, loader.batch(0)["image"].shape
        (2, (4, 1))
        >>> seen = [int(v) for s in range(2) for v in loader.batch(s)["image"][:, 0]]
        >>> len(set(seen))  # the two steps of epoch 0: 8 distinct examples
        8
    """

    on_device = True

    def __init__(
        self,
        dataset: Dataset,
        split: str,
        batch_size: int,
        seed: int = 0,
        *,
        shuffle: bool = True,
        drop_remainder: bool = True,
        class_balanced: bool = False,
        process_index: int | None = None,
        process_count: int | None = None,
        sharding: NamedSharding | None = None,
    ):
        if sharding is not None and not isinstance(sharding, NamedSharding):
            raise ValueError(f"sharding must be a jax.sharding.NamedSharding, got {type(sharding).__name__}")
        super().__init__(
            dataset,
            split,
            batch_size,
            seed,
            shuffle=shuffle,
            drop_remainder=drop_remainder,
            class_balanced=class_balanced,
            process_index=process_index,
            process_count=process_count,
            sharding=sharding,
        )
        self._fns = _jitted(sharding)
        if sharding is None:
            device = jax.local_devices()[0]
            self._put = lambda a: jax.device_put(a, device)
            start, size = self.rows[0], self.local_batch_size
        else:
            replicated = NamedSharding(sharding.mesh, PartitionSpec())
            self._put = lambda a: jax.make_array_from_callback(a.shape, replicated, lambda i: a[i])
            start, size = 0, batch_size  # the global batch; each device computes its rows
        self._layout_args = {"size": size, "scale": dataset.scale, "start": start}
        if class_balanced:
            self._static = {"batch_size": batch_size, **self._layout_args}
        else:
            layout = self.layout
            self._static = {**self._layout_args, "batch_size": batch_size, "num_examples": layout.num_examples,
                            "steps_per_epoch": layout.steps_per_epoch, "drop_remainder": layout.drop_remainder}
        jitted = self._fns["balanced" if class_balanced else "ordered"]
        self._jitted_gather = functools.partial(jitted, **self._static)
        features, labels = dataset.stored_arrays(split)
        self._x, self._y = self._put(features), self._put(labels)
        self._seed = np.uint32(seed)  # the key is made inside each jitted function
        self._perms: collections.OrderedDict[int, jax.Array] = collections.OrderedDict()
        self._stacks: collections.OrderedDict[tuple[int, int], tuple[jax.Array, jax.Array]] = collections.OrderedDict()
        if class_balanced:
            table = self._classes
            self._table = tuple(
                self._put(a) for a in (self._seed, table.order, table.starts, table.counts, table.present)
            )

    def reseeded(self, seed: int) -> DeviceLoader:
        """This loader with another `seed` (its own epoch orders and class draws), sharing
        the split already on the device: the members of a vectorized run each train with
        their own seed from one copy of the data (`tricks.train.train_population`).

        Examples:
            >>> import numpy as np
            >>> from tricks.data import Dataset
            >>> rows = [{"x": np.full((1,), i, np.uint8), "label": i % 2} for i in range(10)]
            >>> ds = Dataset("toy", {"train": rows, "test": rows}, feature_key="x",
            ...              class_names="ab", input_shape=(1,), dtype=np.uint8, scale=1.0)
            >>> other = DeviceLoader(ds, "train", 4, seed=0).reseeded(1)
            >>> bool((other.batch(3)["image"] == DeviceLoader(ds, "train", 4, seed=1).batch(3)["image"]).all())
            True
        """
        if not 0 <= seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {seed}")
        other = copy.copy(self)
        other.seed, other._seed = seed, np.uint32(seed)
        other._perms, other._stacks = collections.OrderedDict(), collections.OrderedDict()
        if self.class_balanced:
            other._table = (self._put(other._seed), *self._table[1:])
        return other

    def _epoch_order(self, epoch: int, keep: int) -> jax.Array:
        if not self.shuffle:
            return self._identity
        if epoch not in self._perms:
            self._perms[epoch] = self._put(epoch_order(self.seed, epoch, self.num_examples))
            while len(self._perms) > keep:
                self._perms.popitem(last=False)
        return self._perms[epoch]

    @functools.cached_property
    def _identity(self) -> jax.Array:
        return self._put(np.arange(self.num_examples, dtype=np.int32))

    def epochs_spanned(self, steps: int) -> int:
        """How many consecutive epochs the rows of `steps` consecutive steps can touch, at most."""
        n, b, spe = self.num_examples, self.batch_size, self.steps_per_epoch
        if self.drop_remainder:
            return (spe + steps - 2) // spe + 1
        return (n - math.gcd(n, b) + steps * b - 1) // n + 1  # a step's first row: a multiple of the gcd

    def batch(self, step: int) -> Batch:
        """The training batch of `step`: ``{"image": float32 (B, ...), "label": int32 (B,)}``."""
        self.layout.check_trainable(self.split)
        return self._jitted_gather(np.int32(step), *self.window_args(step, 1))

    @functools.cached_property
    def gather(self) -> Callable[..., Batch]:
        """The pure function that `batch` jits: ``gather(step, *window_args(first, count))``.

        It gives the batch of any `step` in ``[first, first + count)`` from the same
        arrays, `step` being a traced int32 scalar, so a jitted training loop can run
        `count` steps in one call (`tricks.train`'s calls); its output should then be
        constrained to `sharding`. With ``scale=None`` the features come as stored
        (uint8 pixels stay uint8; `Dataset.to_float` converts them).

        Examples:
            >>> import numpy as np
            >>> from tricks.data import Dataset
            >>> rows = [{"x": np.full((1,), i, np.uint8), "label": i % 2} for i in range(10)]
            >>> ds = Dataset("toy", {"train": rows, "test": rows}, feature_key="x", class_names="ab",
            ...              input_shape=(1,), dtype=np.uint8, scale=1.0)
            >>> loader = DeviceLoader(ds, "train", 4, seed=0)
            >>> args = loader.window_args(2, count=5)  # steps 2 to 6: epochs 1 to 3 of 2 steps each
            >>> batch = jax.jit(loader.gather)(np.int32(5), *args)
            >>> bool((batch["image"] == loader.batch(5)["image"]).all())
            True
        """
        fn = _balanced if self.class_balanced else _ordered
        return functools.partial(fn, **self._static)

    def window_args(self, first: int, count: int) -> tuple:
        """The arrays `gather` takes for the steps ``[first, first + count)``: the split, then
        the stacked orders of consecutive epochs that hold them and where `first` lies in them.
        Class-balanced batches need only the split and the class table.

        A stack holds ``epochs_spanned(count) + REUSE_EPOCHS`` epochs, always that many for
        a given `count` (so a jitted loop compiles once), and serves every later window
        whose epochs it holds: consecutive windows pass the same arrays.
        """
        if self.class_balanced:
            return (self._x, self._y, *self._table)
        epoch, position = self.layout.start(first)
        span = self.epochs_spanned(count)
        for (start, spanned), arrays in self._stacks.items():
            if spanned == span and start <= epoch <= start + REUSE_EPOCHS:
                self._stacks.move_to_end((start, spanned))
                return self._x, self._y, *arrays
        size = span + REUSE_EPOCHS
        epochs = range(epoch, epoch + size) if self.shuffle else [0] * size
        orders = self._fns["stack"](*(self._epoch_order(e, keep=size) for e in epochs))
        self._stacks[epoch, span] = orders, self._put(np.array([first, position], np.int32))
        while len(self._stacks) > _STACKS_CACHED:
            self._stacks.popitem(last=False)
        return self._x, self._y, *self._stacks[epoch, span]

    def iterate(self, start_step: int = 0) -> StepIterator:
        return _DeviceIterator(self, start_step)

    def eval_batches(self) -> Iterator[Batch]:
        for k in range(self.num_eval_batches):
            yield self._fns["evaluation"](self._x, self._y, np.int32(k * self.batch_size), **self._layout_args)


class _DeviceIterator(StepIterator):
    def __next__(self) -> Batch:
        batch = self.loader.batch(self.step)
        self.step += 1
        return batch

    def next_window(self, steps: int, window: int) -> tuple:
        """`loader.window_args` for the next `window` steps, moving past `steps` <= `window` of them."""
        args = self.loader.window_args(self.step, window)
        self.step += steps
        return args
