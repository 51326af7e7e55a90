"""Speedrun's Fashion-MNIST study in parts: its runs one at a time, until a deadline.

`tricks experiments run speedrun --full` trains Fashion-MNIST's 34 runs one after
another: about 3.6 hours on 2 CPU cores, more than one working session. This trains them
in the experiment's own workdir, in the order that matters most (the recipe, the
baseline, then each ablation arm), starts a run only where its expected time (its arm's
last run, else `GUESS_S`) ends before the deadline, and keeps every finished run's
records (``config.json``, ``summary.json``, ``metrics.jsonl``; not its checkpoints) in
``experiments/results/speedrun/runs/``, which is committed. A later session copies them
back first, so its runs add to the earlier ones; once every run is finished, the
experiment itself reuses them all and writes the table. A run is never stopped halfway:
a resumed run's wall time would count its compiling twice.

Command (from the repository's root):
  python -m tools.speedrun_parts --until 13:10      (then, when it reports 34 of 34:)
  tricks experiments run speedrun --full
"""

from __future__ import annotations

import argparse
import datetime
import pathlib
import shutil
import sys
import time

from experiments import Options, speedrun
from experiments._study import run_folder, train_arms

KEPT = pathlib.Path("experiments/results/speedrun/runs")
WORKDIR = pathlib.Path("runs/experiments/speedrun/full")
"""Where `tricks experiments run speedrun --full` trains (``--workdir``'s default)."""
FILES = ("config.json", "summary.json", "metrics.jsonl")
GUESS_S = 520.0
"""A run's expected time before its arm has one: the recipe's measured 497 s, and a margin."""


def plan(task: speedrun.Task, options: Options) -> list[tuple[str, list[str], int]]:
    """``(arm, overrides, seed)`` for every run of `task`, the recipe's and the baseline's first.

    Examples:
        >>> runs = plan(speedrun.TASKS["fashion_mnist"], Options(mode="full"))
        >>> len(runs), runs[0][0], runs[5][0], runs[10][0]
        (34, 'recipe', 'baseline', 'without batch norm')
    """
    arms, seeds = task.arms(), task.seed_lists(options)
    order = ["recipe", "baseline", *(arm for arm in arms if arm not in ("recipe", "baseline"))]
    return [(arm, arms[arm], seed) for arm in order for seed in seeds[arm]]


def restore(kept: pathlib.Path, root: pathlib.Path) -> int:
    """Copies the kept runs that `root` lacks into it; returns how many."""
    copied = 0
    for folder in sorted(kept.glob("*/")) if kept.is_dir() else []:
        if not (root / folder.name / "summary.json").is_file():
            shutil.rmtree(root / folder.name, ignore_errors=True)  # an unfinished run's leftovers
            (root / folder.name).mkdir(parents=True)
            for name in FILES:
                shutil.copy2(folder / name, root / folder.name / name)
            copied += 1
    return copied


def keep(root: pathlib.Path, name: str, kept: pathlib.Path) -> None:
    """Copies a finished run's records from `root` into `kept`."""
    (kept / name).mkdir(parents=True, exist_ok=True)
    for file in FILES:
        shutil.copy2(root / name / file, kept / name / file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--until", required=True, help="the deadline, HH:MM today (local time)")
    args = parser.parse_args(argv)
    try:
        hour, minute = (int(part) for part in args.until.split(":"))
        deadline = datetime.datetime.now().replace(hour=hour, minute=minute, second=0).timestamp()
    except ValueError:
        print(f"--until {args.until!r}: expected HH:MM")
        return 2
    task, options = speedrun.TASKS["fashion_mnist"], Options(mode="full")
    root = WORKDIR / "fashion_mnist"
    print(f"{restore(KEPT / 'fashion_mnist', root)} kept runs copied into {root}", flush=True)
    base = speedrun.base_config(task, smoke=False)
    runs, took, done = plan(task, options), {}, 0
    for arm, overrides, seed in runs:
        name = run_folder([*overrides, f"seed={seed}"])
        if (root / name / "summary.json").is_file():
            done += 1
            continue
        expected = took.get(arm, GUESS_S)
        if time.time() + expected > deadline:
            print(f"{arm}, seed {seed}: not started (about {expected:.0f} s; the deadline is nearer)", flush=True)
            continue
        began = time.time()
        found = train_arms(base, {arm: overrides}, [seed], root, vectorize=False)[arm]
        took[arm] = time.time() - began
        keep(root, name, KEPT / "fashion_mnist")
        done += 1
        print(f"{arm}, seed {seed}: test accuracy {found.final()[0]:.4f}, wall time {found.wall_times()[0]:.1f} s",
              flush=True)
    print(f"{done} of {len(runs)} runs finished", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
