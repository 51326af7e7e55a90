"""Evaluate an ensemble of checkpoints: each member, the best single one, and their combination.

Members (--members): 'cycle_ends' the snapshots of each run (train with
snapshots: "cycle_ends" and an sgdr or cyclic rate), 'cycle_ends:K' the last K of them,
'last' the newest checkpoint of each run (e.g. runs of different seeds), 'best:K' the
K runs with the best validation accuracy (a sweep's root stands for all its runs).
Default: cycle_ends for one run, last for several.

Combination (--combine, kind 'ensemble'): mean_prob, mean_logit, vote, fused (weights
fit on the validation split), swa (weights averaged, batch-norm statistics recomputed).

Prints a table (accuracy, NLL, expected calibration error) and writes ensemble.json
into the first --workdir. The best single member is picked on the validation split
(highest accuracy, then lowest NLL), as one picks a model without the test set; only a
dataset without a validation split makes it the best on --split itself, and the table
says so.

Examples:
  tricks ensemble --workdir runs/snapshot --members cycle_ends
  tricks ensemble --workdir runs/seed0 --workdir runs/seed1 --workdir runs/seed2 --combine fused
  tricks ensemble --workdir runs/sweep --members best:3 --combine mean_logit
  tricks ensemble --workdir runs/seed0 --workdir runs/seed1 --ema
"""

from __future__ import annotations

import argparse
import json
import pathlib


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workdir",
        action="append",
        required=True,
        help="a run written by 'tricks train' or a sweep root; repeat for several",
    )
    parser.add_argument(
        "--members",
        help="cycle_ends, cycle_ends:K, last or best:K (default: cycle_ends for one run, last for several)",
    )
    parser.add_argument(
        "--combine",
        default="mean_prob",
        help="an ensemble rule: mean_prob (default), mean_logit, vote, fused, swa, or a spec "
        "such as 'swa(bn_batches=50)'",
    )
    parser.add_argument("--split", default="test", help="the split reported (default: test)")
    parser.add_argument("--ema", action="store_true", help="each member's moving average of its weights "
                        "instead of its weights (runs trained with ema_decay > 0)")
    parser.add_argument(
        "--strategy",
        default="auto",
        choices=["auto", "vmap", "map", "loop"],
        help="how members are evaluated (default: auto, the fastest measured)",
    )


def run(args: argparse.Namespace) -> int:
    from tricks import ensembles

    try:
        selection = args.members or ("cycle_ends" if len(ensembles.run_dirs(args.workdir)) == 1 else "last")
        members = ensembles.load_members(args.workdir, selection, ema=args.ema)
        result = ensembles.evaluate_ensemble(members, args.combine, args.split, strategy=args.strategy)
    except ensembles.EnsembleError as exc:
        print(f"tricks ensemble: {exc}")
        return 2
    evaluation = result["evaluation"]
    timings = ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in evaluation["seconds_per_batch"].items())
    print(
        f"{len(members)} members ({selection}); evaluated with {evaluation['strategy']}"
        + (f" (measured per batch: {timings})" if timings else "")
    )
    print(ensembles.table(result))
    path = pathlib.Path(args.workdir[0]) / "ensemble.json"
    path.write_text(json.dumps(ensembles.jsonable(result), indent=2) + "\n")
    print(f"wrote {path}")
    return 0
