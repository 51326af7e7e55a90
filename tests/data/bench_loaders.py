"""Benchmark: images/s delivered by the on-device and the Grain loaders (printed, not asserted).

Run: ``python tests/data/bench_loaders.py [--data-dir DIR] [--datasets digits fashion_mnist]``.
Fashion-MNIST needs its IDX files (see the ``fashion_mnist`` dataset).
"""

from __future__ import annotations

import argparse
import time

import jax

import registry
import tricks  # noqa: F401  (registers the datasets)
from tricks.data import make_loader


def images_per_second(loader, steps: int) -> float:
    """Steady-state rate of ``iterate``: warm up (compilation, first epoch order), then time."""
    iterator = loader.iterate(0)
    for _ in range(5):
        jax.block_until_ready(next(iterator))
    start = time.perf_counter()
    for _ in range(steps):
        batch = next(iterator)
    jax.block_until_ready(batch)
    elapsed = time.perf_counter() - start
    iterator.close()
    return steps * loader.batch_size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--datasets", nargs="+", default=["digits", "fashion_mnist"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, nargs="+", default=[0, 1, 2, 4, 16])
    parser.add_argument("--grain-steps", type=int, default=100)
    parser.add_argument("--device-steps", type=int, default=2000)
    args = parser.parse_args()
    for name in args.datasets:
        dataset = registry.build("dataset", {"name": name, "data_dir": args.data_dir})
        start = time.perf_counter()
        dataset.stored_arrays("train")
        print(f"{name}: reading the train split into memory took {time.perf_counter() - start:.2f} s")
        loader = make_loader(dataset, "train", args.batch_size, seed=0, on_device=True)
        print(f"{name}: on-device  {images_per_second(loader, args.device_steps):12,.0f} images/s")
        for threads in args.threads:
            loader = make_loader(
                dataset, "train", args.batch_size, seed=0, on_device=False, num_threads=threads
            )
            print(
                f"{name}: Grain, {threads:2d} threads "
                f"{images_per_second(loader, args.grain_steps):10,.0f} images/s"
            )


if __name__ == "__main__":
    main()
