"""Trains 8 members side by side on the visible devices (run by test_population.py in a subprocess).

Usage: python population_worker.py ROOT  (writes ROOT/m0 .. ROOT/m7 and ROOT/sharding.txt)
"""

import pathlib
import sys

import jax

from tests.train.test_population import config
from tricks import train

if __name__ == "__main__":
    root = pathlib.Path(sys.argv[1])
    train.train_population([config(seed) for seed in range(8)], [root / f"m{seed}" for seed in range(8)])
    (root / "sharding.txt").write_text(f"{jax.device_count()}\n")
