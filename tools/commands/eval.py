"""Evaluate a run's checkpoint (the newest by default) on its evaluation splits.

Works on a finished run or one still training. Without --step, the newest checkpoint
that restores whole is evaluated: a damaged one is passed over with a warning and left
where it is. Prints a table and writes WORKDIR/eval.json (a read-only WORKDIR is only
warned about: nothing else is written). With --ema, the run's moving average of its
weights is evaluated instead (a run trained with ema_decay > 0), into WORKDIR/eval_ema.json.

Examples:
  tricks eval --workdir runs/digits
  tricks eval --workdir runs/digits --step 200 --splits test
  tricks eval --workdir runs/digits --ema
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", required=True, help="a folder written by 'tricks train'")
    parser.add_argument("--step", type=int, help="which checkpoint (default: the newest)")
    parser.add_argument("--splits", nargs="+", help="which splits (default: the config's eval_splits)")
    parser.add_argument("--ema", action="store_true",
                        help="the moving average of the weights instead of the weights "
                        "(a run trained with ema_decay > 0)")


def run(args: argparse.Namespace) -> int:
    from tricks import train

    try:
        result = train.evaluate_workdir(args.workdir, args.step, args.splits, ema=args.ema)
    except (FileNotFoundError, ValueError) as exc:
        print(f"tricks eval: {exc}")
        return 2
    print(f"step {result['step']}")
    names = [k for k, v in next(iter(result["splits"].values())).items() if not isinstance(v, list)]
    print(f"{'split':<12}" + "".join(f" {name:>{max(len(name), 9)}}" for name in names))
    for split, m in result["splits"].items():
        print(f"{split:<12}" + "".join(f" {_cell(m[name]):>{max(len(name), 9)}}" for name in names))
    path = pathlib.Path(args.workdir) / ("eval_ema.json" if args.ema else "eval.json")
    try:
        path.write_text(json.dumps(result, indent=2) + "\n")
    except OSError as exc:
        print(f"warning: could not write {path} ({exc.strerror}); the results above are not saved", file=sys.stderr)
    return 0


def _cell(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
