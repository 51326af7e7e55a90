"""Train a model from a config into a workdir; resume if the workdir holds a run.

With no arguments, trains the embedded default (an MLP on scikit-learn's digits) into a
fresh folder under ./runs and prints where it went.

Examples:
  tricks train
  tricks train --config experiments/configs/digits.py --workdir runs/digits
  tricks train --config experiments/configs/mnist1d_cnn.py:smoke --workdir /tmp/smoke --config.seed=1
  tricks train --workdir runs/digits --config.optimizer='adamw(learning_rate=3e-3, weight_decay=1e-4)'
"""

from __future__ import annotations

import argparse
import datetime
import pathlib

from tools.commands._common import add_config_arguments, load_training_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--workdir", help="where metrics, checkpoints and the summary go (default: ./runs/<time>)")
    parser.add_argument("--force", action="store_true",
                        help="train even if WORKDIR holds a run of a different config (its files are kept)")


def run(args: argparse.Namespace) -> int:
    from tricks import train

    cfg = load_training_config(args)
    workdir = args.workdir
    if workdir is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = str(cfg.dataset).split("(")[0] if isinstance(cfg.dataset, str) else cfg.dataset.name
        workdir = pathlib.Path("runs") / f"{stamp}-{name}"
    print(f"workdir: {workdir}")
    summary = train.train_and_evaluate(cfg, workdir, force=args.force)
    evaluation = ", ".join(f"{split} accuracy {m['accuracy']:.4f}" for split, m in summary["splits"].items())
    print(f"done: step {summary['step']}, {evaluation}, {summary['wall_time_s']:.1f} s; results in {workdir}")
    return 0
