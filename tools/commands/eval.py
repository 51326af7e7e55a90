"""Evaluate a run's checkpoint (the newest by default) on its evaluation splits.

Works on a finished run or one still training. Prints a table and writes
WORKDIR/eval.json.

Examples:
  tricks eval --workdir runs/digits
  tricks eval --workdir runs/digits --step 200 --splits test
"""

from __future__ import annotations

import argparse
import json
import pathlib


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", required=True, help="a folder written by 'tricks train'")
    parser.add_argument("--step", type=int, help="which checkpoint (default: the newest)")
    parser.add_argument("--splits", nargs="+", help="which splits (default: the config's eval_splits)")


def run(args: argparse.Namespace) -> int:
    from tricks import train

    try:
        result = train.evaluate_workdir(args.workdir, args.step, args.splits)
    except (FileNotFoundError, ValueError) as exc:
        print(f"tricks eval: {exc}")
        return 2
    print(f"step {result['step']}")
    print(f"{'split':<12} {'accuracy':>9} {'loss (NLL)':>11} {'examples':>9}")
    for split, m in result["splits"].items():
        print(f"{split:<12} {m['accuracy']:>9.4f} {m['loss']:>11.4f} {m['examples']:>9d}")
    (pathlib.Path(args.workdir) / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0
