"""Overfit a tiny subset first: does training accuracy reach 100 percent on a few examples?

Trains the config's model with its own loss, optimizer and train step on the first
--examples training examples (the whole subset as one batch each step) after stripping
augmentation and regularization: augmentations run in their evaluation form
(normalization stays, random transforms go), dropout -> 0, every weight_decay of the
optimizer -> 0 (a default one too, as adamw's), label smoothing -> 0, class-balanced
sampling off. A model, loss or pipeline bug shows up here in seconds. Prints PASS/FAIL
with the number of steps, the list of what was stripped (only what changes: a spec
spelled differently but building the same component is left as it is), and writes the
loss curve. Exit code 1 on FAIL.

Examples:
  tricks sanity
  tricks sanity --config experiments/configs/digits.py --examples 64 -o sanity.png
  tricks sanity --config experiments/configs/mnist1d_cnn.py --examples 128 --max-steps 1000
"""

from __future__ import annotations

import argparse
import pathlib

from tools.commands._common import add_config_arguments, load_training_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--examples", type=int, default=64, help="size of the subset (default: 64)")
    parser.add_argument(
        "--max-steps", type=int, default=500, help="give up after this many steps (default: 500)"
    )
    parser.add_argument(
        "-o", "--output", default="sanity.png", help="the loss-curve PNG (default: sanity.png)"
    )


def run(args: argparse.Namespace) -> int:
    from tricks import diagnostics

    config = load_training_config(args)
    try:
        result = diagnostics.overfit_check(config, examples=args.examples, max_steps=args.max_steps)
    except ValueError as exc:
        print(f"tricks sanity: {exc}")
        return 2
    print(
        "stripped: "
        + (
            "; ".join(result.stripped)
            if result.stripped
            else "nothing (no augmentation or regularization in the config)"
        )
    )
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    diagnostics.draw_sanity(result).savefig(output, format="png")
    print(result.summary())
    print(f"wrote {output}")
    return 0 if result.reached else 1
