"""The Grain loader: batches read from `Dataset.source` by threads, prefetched to the device."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import grain
import jax
import numpy as np

from tricks.data._base import BALANCED_STREAM, Batch, Loader, StepIterator, epoch_order
from tricks.data._dataset import Dataset

DEFAULT_THREADS = 2
"""Grain read threads. Measured on this project's 2-core machine, shared with other jobs
(load average 5 to 8), batch 128: Grain delivered 7k to 12k digits/s and 6k to 9k
Fashion-MNIST images/s with 0, 1, 2, 4 or 16 threads alike, the differences within
run-to-run noise: TFDS's per-record decoding (70 to 120 us per example, holding the
GIL) bounds it, so more threads do not help here. Two keep reading while the consumer
works without crowding two cores; raise it where reads wait on I/O."""


class GrainLoader(Loader):
    """Batches read with Grain from `Dataset.source` (array_record through tfds.data_source).

    A ``grain.MapDataset`` over steps maps step s to its batch: epoch e's order is
    `epoch_order` (the on-device loader's too; cached; Grain's
    own ``MapDataset.shuffle`` computes each index with a Feistel network, measured at
    60 us per index here, a third of the read time), laid out in batches by `Layout`, so
    process p reads only its rows of every global batch (the same global batch whatever
    the number of processes, which ``ShardByJaxProcess``'s contiguous shards would not
    give). Class-balanced draws use ``np.random.default_rng([BALANCED_STREAM, seed,
    step])``. ``to_iter_dataset`` reads `num_threads` batches in parallel; a thread then
    prefetches `prefetch` batches onto the device. The iterator's state is Grain's
    (``{"next_index": step}``), so a restored iterator continues with exactly the
    batches an uninterrupted one would have given.

    With a `NamedSharding`, batches are global arrays: ``jax.device_put`` in one process,
    ``jax.make_array_from_process_local_data`` from each process's rows in several.

    Examples:
        >>> import numpy as np
        >>> from tricks.data import Dataset
        >>> rows = [{"x": np.full((1,), i, np.uint8), "label": i % 2} for i in range(10)]
        >>> ds = Dataset("toy", {"train": rows, "test": rows}, feature_key="x",
        ...              class_names="ab", input_shape=(1,), dtype=np.uint8, scale=1.0)
        >>> loader = GrainLoader(ds, "test", 4, seed=0)
        >>> [b["mask"].tolist() for b in loader.eval_batches()][-1]
        [True, True, False, False]
    """

    on_device = False

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
        sharding: jax.sharding.Sharding | None = None,
        num_threads: int = DEFAULT_THREADS,
        prefetch: int = 2,
    ):
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
        if num_threads < 0 or prefetch < 1:
            raise ValueError(f"need num_threads >= 0 and prefetch >= 1, got {num_threads} and {prefetch}")
        self.num_threads = num_threads
        self.prefetch = prefetch
        self._source = dataset.source(split)

    def _indices(self, step: int) -> np.ndarray:
        first, last = self.rows
        if self.class_balanced:
            table = self._classes
            rng = np.random.default_rng([BALANCED_STREAM, self.seed, step])
            classes = table.present[rng.integers(0, len(table.present), self.batch_size)]
            within = rng.integers(0, table.counts[classes])
            return table.order[table.starts[classes] + within][first:last]
        epoch, k0 = self.layout.start(step)
        k = k0 + np.arange(first, last)
        wrap = k >= self.num_examples  # rows past the end of this epoch come from the next one
        k = np.where(wrap, k - self.num_examples, k)
        if not self.shuffle:
            return k
        return np.where(wrap, self._order(epoch + 1)[k], self._order(epoch)[k])

    def _order(self, epoch: int) -> np.ndarray:
        return epoch_order(self.seed, epoch, self.num_examples)

    def _read(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        features, labels = self._source.read(indices)
        return {"image": self.dataset.to_float(features), "label": labels}

    def _train_host(self, step: int) -> dict[str, np.ndarray]:
        return self._read(self._indices(step))

    def _eval_host(self, k: int) -> dict[str, np.ndarray]:
        pos = k * self.batch_size + np.arange(*self.rows)
        return {**self._read(np.minimum(pos, self.num_examples - 1)), "mask": pos < self.num_examples}

    def _put(self, batch: dict[str, np.ndarray]) -> Batch:
        if self.sharding is None:
            return jax.device_put(batch)
        if jax.process_count() == 1:
            return jax.device_put(batch, self.sharding)
        return {k: jax.make_array_from_process_local_data(self.sharding, v) for k, v in batch.items()}

    def _pipeline(self, host_batch: Any, length: int) -> grain.IterDataset:
        ds = grain.MapDataset.range(length).map(host_batch)
        ds = ds.to_iter_dataset(
            grain.ReadOptions(
                num_threads=self.num_threads, prefetch_buffer_size=max(self.prefetch, self.num_threads)
            )
        )
        # As grain.experimental.device_put, with a placement that also serves several processes.
        ds = grain.experimental.ThreadPrefetchIterDataset(ds, prefetch_buffer_size=self.prefetch)
        return grain.experimental.ThreadPrefetchIterDataset(
            ds.map(self._put), prefetch_buffer_size=self.prefetch
        )

    def batch(self, step: int) -> Batch:
        """The training batch of `step`: ``{"image": float32 (B, ...), "label": int32 (B,)}``."""
        self.layout.check_trainable(self.split)
        return self._put(self._train_host(step))

    def iterate(self, start_step: int = 0) -> StepIterator:
        self.layout.check_trainable(self.split)
        inner = iter(self._pipeline(self._train_host, sys.maxsize))
        iterator = _GrainIterator(self, start_step, inner)
        inner.set_state({"next_index": start_step})
        return iterator

    def eval_batches(self) -> Iterator[Batch]:
        iterator = iter(self._pipeline(self._eval_host, self.num_eval_batches))
        try:
            yield from iterator
        finally:
            iterator.close()


class _GrainIterator(StepIterator):
    def __init__(self, loader: GrainLoader, start_step: int, inner: grain.DatasetIterator):
        super().__init__(loader, start_step, (inner,))

    def __next__(self) -> Batch:
        batch = next(self._parent)
        self.step += 1
        return batch

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "grain": self._parent.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self._parent.set_state(state["grain"])
