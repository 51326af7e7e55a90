"""`make_loader`: the one entry point to both input pipelines."""

from __future__ import annotations

import jax

from tricks.data._base import Loader
from tricks.data._dataset import Dataset
from tricks.data._device import DeviceLoader
from tricks.data._grain import DEFAULT_THREADS, GrainLoader

DEVICE_BYTES_LIMIT = 1 << 30
"""Splits whose stored features take at most this many bytes go on the device by default."""


def make_loader(
    dataset: Dataset,
    split: str,
    batch_size: int,
    seed: int = 0,
    *,
    on_device: bool | None = None,
    shuffle: bool = True,
    drop_remainder: bool = True,
    class_balanced: bool = False,
    process_index: int | None = None,
    process_count: int | None = None,
    sharding: jax.sharding.NamedSharding | None = None,
    num_threads: int = DEFAULT_THREADS,
    prefetch: int = 2,
) -> Loader:
    """A seeded, per-process sharded, resumable loader of `split`: on device or through Grain.

    Args:
        dataset: a `Dataset` (``registry.build("dataset", ...)``).
        split: ``"train"``, ``"validation"`` or ``"test"``.
        batch_size: the global batch size, over all processes.
        seed: the data-order seed (epoch permutations, class-balanced draws).
        on_device: True: the whole split on the device, batches gathered by jitted
            functions (`DeviceLoader`); False: streamed from disk by Grain
            (`GrainLoader`); None: on the device when the stored split takes at most
            `DEVICE_BYTES_LIMIT` bytes (digits, MNIST-1D and Fashion-MNIST do).
        shuffle: a new permutation every epoch; False keeps the split's order.
        drop_remainder: True: each epoch drops its last ``n % batch_size`` examples
            (a different few each epoch); False: batches run on across epoch ends.
        class_balanced: draw each row's class uniformly, then an example of that class
            (with replacement); overrides `shuffle`.
        process_index: this process (default ``jax.process_index()``).
        process_count: the number of processes (default ``jax.process_count()``); each
            reads rows ``[index * B/count, (index + 1) * B/count)`` of every global batch.
        sharding: a ``NamedSharding`` whose ``"data"`` axis splits the batch: batches
            come out as global arrays with that sharding, in one process or several.
            Without it, each process gets its own rows on its default device (to
            assemble with ``jax.make_array_from_process_local_data``).
        num_threads: Grain read threads (Grain path only).
        prefetch: batches Grain prefetches on the host and on the device (Grain path only).

    Returns:
        A `Loader`: ``batch(step)``, ``iterate(start_step)``, ``eval_batches()``,
        ``steps_per_epoch``...

    Raises:
        ValueError: a bad split, an empty split, a negative seed.
        tricks.config.ConfigError: (a `ValueError`) a batch size not divisible by the
            process count or the mesh's data axis (naming the nearest valid sizes);
            ``batch``/``iterate`` raise it when no full batch fits the split.

    Examples:
        >>> import numpy as np
        >>> from tricks.data import Dataset
        >>> rows = [{"x": np.full((3,), i, np.uint8), "label": i % 2} for i in range(10)]
        >>> ds = Dataset("toy", {"train": rows, "test": rows}, feature_key="x",
        ...              class_names="ab", input_shape=(3,), dtype=np.uint8, scale=1 / 255)
        >>> loader = make_loader(ds, "train", batch_size=4, seed=0)
        >>> loader.on_device, loader.steps_per_epoch
        (True, 2)
        >>> it = loader.iterate(start_step=0)
        >>> batch = next(it)
        >>> batch["image"].shape, batch["image"].dtype, batch["label"].dtype, it.get_state()["step"]
        ((4, 3), dtype('float32'), dtype('int32'), 1)
        >>> make_loader(ds, "train", batch_size=6, process_count=4, process_index=0)
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: batch_size 6 is not divisible by the process count (4); nearest valid sizes: 4, 8
    """
    if on_device is None:
        on_device = dataset.nbytes(split) <= DEVICE_BYTES_LIMIT
    common = {
        "shuffle": shuffle,
        "drop_remainder": drop_remainder,
        "class_balanced": class_balanced,
        "process_index": process_index,
        "process_count": process_count,
        "sharding": sharding,
    }
    if on_device:
        return DeviceLoader(dataset, split, batch_size, seed, **common)
    return GrainLoader(dataset, split, batch_size, seed, num_threads=num_threads, prefetch=prefetch, **common)
