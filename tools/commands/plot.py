"""Draw a picture: a schedule before training with it, and the other targets below.

Each target is a module of tools/plots/ (add one there to add a target).

Examples:
  tricks plot schedule "warmup(cosine(init_value=0.1, decay_steps=900), warmup_steps=100)" -o lr.png
  tricks plot schedule "one_cycle(max_lr=0.4, total_steps=1000)" \
      --momentum "one_cycle_momentum(total_steps=1000)" --steps 1200 -o 1cycle.png
  tricks plot schedule --help
"""

from __future__ import annotations

import argparse

from tools import plots
from tools._modules import add_subparsers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_subparsers(parser, plots.discover(), dest="target", metavar="TARGET")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "run_entry", None) is None:
        print(f"tricks plot: choose a target: {', '.join(plots.discover())} (see 'tricks plot --help')")
        return 2
    return args.run_entry(args)
