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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    found = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK")
    for name, module in benchmarks.discover().items():
        doc = (module.__doc__ or "").strip()
        benchmark = found.add_parser(
            name,
            help=doc.partition("\n")[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(benchmark)
        benchmark.set_defaults(measure=module.run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "measure", None) is None:
        print(
            f"tricks bench: choose a benchmark: {', '.join(benchmarks.discover())} (see 'tricks bench --help')"
        )
        return 2
    return args.measure(args)
