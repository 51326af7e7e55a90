"""Run the experiments: each measures one claim of the catalogue over seeds, with a verdict.

list: every experiment, its claim in one line and the verdict of its saved result
(experiments/results/NAME/result.json).
run NAME: trains its arms over seeds (side by side where they can share one program;
finished runs in --workdir are reused), prints the table, the reading and the verdict, and
saves table.md, result.json and curves.png under --out/NAME (default
experiments/results; smoke runs default to runs/experiments-smoke, so they never
replace a real result).

Examples:
  tricks experiments list
  tricks experiments run warmup
  tricks experiments run warmup --smoke          (seconds: what the tests run)
  tricks experiments run warmup --seeds 5 --workdir runs/exp
"""

from __future__ import annotations

import argparse
import pathlib
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="every experiment, its claim and verdict")
    run_parser = actions.add_parser("run", help="run one experiment", description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    run_parser.add_argument("name", help="the experiment (see 'tricks experiments list')")
    modes = run_parser.add_mutually_exclusive_group()
    modes.add_argument("--smoke", action="store_true", help="a few steps per run: seconds, for tests")
    modes.add_argument("--full", action="store_true", help="the larger scale, where the experiment has one")
    run_parser.add_argument("--seeds", type=int, default=0, help="seeds per arm (default: the experiment's own)")
    run_parser.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("runs/experiments"),
                            help="where the runs train (default: runs/experiments/NAME)")
    run_parser.add_argument("--out", type=pathlib.Path, default=None,
                            help="where results are saved (default: experiments/results; smoke: "
                                 "runs/experiments-smoke)")


def run(args: argparse.Namespace) -> int:
    import experiments

    if args.action is None:
        print("tricks experiments: choose an action: list, run (see 'tricks experiments --help')")
        return 2
    if args.action == "list":
        found = experiments.experiments()
        width = max(len(name) for name in found)
        for name, experiment in found.items():
            print(f"{name:<{width}}  {experiments.saved_verdict(name):<28}  {experiment.claim}")
        return 0
    try:
        experiment = experiments.find(args.name)
    except KeyError as exc:
        print(f"tricks experiments: {exc.args[0]}")
        return 2
    if args.seeds < 0:
        print(f"tricks experiments: --seeds must be at least 1, got {args.seeds}")
        return 2
    mode = "smoke" if args.smoke else "full" if args.full else "default"
    options = experiments.Options(mode=mode, seeds=args.seeds, workdir=args.workdir / experiment.name / mode)
    out = args.out or (pathlib.Path("runs/experiments-smoke") if args.smoke else experiments.RESULTS)
    began = time.perf_counter()
    result = experiment.run(options)
    folder = experiments.save(experiment, options, result, time.perf_counter() - began, out)
    print((folder / "table.md").read_text())
    print(f"saved in {folder}")
    return 0
