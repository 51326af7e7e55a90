"""Measure speed: each benchmark prints a table of timings.

Each benchmark is a module of tools/benchmarks/ (add one there to add a benchmark).

Examples:
  tricks bench optimizers            every registered optimizer vs its raw Optax chain (and torch)
  tricks bench optimizers --quick    a smaller pytree and fewer repeats
  tricks bench optimizers --help
"""

from __future__ import annotations

import argparse

from tools import benchmarks
from tools._modules import add_subparsers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_subparsers(parser, benchmarks.discover(), dest="benchmark", metavar="BENCHMARK")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "run_entry", None) is None:
        print(
            f"tricks bench: choose a benchmark: {', '.join(benchmarks.discover())} (see 'tricks bench --help')"
        )
        return 2
    return args.run_entry(args)
