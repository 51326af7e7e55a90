"""Train one config over a grid or list of overrides, each run in its own workdir, and rank the runs.

Each run goes to ROOT/<index>_<overrides> (a run already there resumes, or returns at
once if finished). ROOT/sweep.json lists the runs with their validation and test
results; the table printed ranks them by validation accuracy, ties by validation NLL
(its columns as wide as the longest run name). 'tricks ensemble --workdir ROOT
--members best:K' then combines the K best.

--grid 'key=[v1, v2]' (repeatable) takes every combination, the first key varying
slowest; --overrides-file takes a JSON or YAML list of runs, each a mapping
{key: value} or a list of 'key=value'; with both, every file entry meets every grid
point. --config.key=value overrides apply to all runs.

--vectorize trains the runs that differ only in their seed and in numbers of their
optimizer and loss specs (rates, schedule values, weight decay, momentum, label smoothing)
side by side in one program (one compilation), each still into its own workdir; groups
that differ in anything else run one after another, and the command prints the grouping.

Examples:
  tricks sweep --config experiments/configs/digits.py --workdir runs/sweep --grid 'seed=[0,1,2]'
  tricks sweep --config experiments/configs/digits.py --workdir runs/lr \\
      --grid 'optimizer.learning_rate=[0.01,0.003]' --grid 'seed=[0,1]' --config.progress=false
  tricks sweep --config experiments/configs/mnist1d_cnn.py --workdir runs/models --overrides-file runs.yaml
  tricks sweep --config experiments/configs/mnist1d_mlp.py --workdir runs/seeds --vectorize \
      --grid 'seed=[0,1,2,3,4]' --grid 'optimizer.learning_rate.init_value=[0.03,0.01,0.003,0.001]'
"""

from __future__ import annotations

import argparse

from tools.commands._common import add_config_arguments, load_training_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, required=True)
    parser.add_argument("--workdir", required=True, help="the sweep's root folder")
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=[V1,V2,...]",
        help="values of one config field; repeat for a product",
    )
    parser.add_argument("--overrides-file", help="a JSON or YAML list of runs' overrides")
    parser.add_argument(
        "--force", action="store_true", help="train even if a run's folder holds a run of a different config"
    )
    parser.add_argument(
        "--vectorize", action="store_true",
        help="train runs that differ only in their seed and optimizer/loss numbers side by side"
    )


def run(args: argparse.Namespace) -> int:
    from tricks import ensembles

    base = load_training_config(args)
    listed = ensembles.read_overrides(args.overrides_file) if args.overrides_file else [[]]
    points = ensembles.grid(args.grid) if args.grid else [[]]
    runs = [first + second for first in listed for second in points]
    if runs == [[]]:
        print("tricks sweep: give --grid 'key=[v1,v2]' or --overrides-file FILE")
        return 2
    result = ensembles.sweep(base, args.workdir, runs, force=args.force, vectorize=args.vectorize)
    print(ensembles.sweep_table(result))
    print(f"wrote {args.workdir}/sweep.json")
    return 0
