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

``--calibrate`` first trains the baseline's seed 0 again (about 3 minutes) and compares
it with the kept run: the same accuracy, and this session's speed against that session's.

Command (from the repository's root):
  python -m tools.speedrun_parts --until 13:10 [--calibrate]    (then, at 34 of 34:)
  tricks experiments run speedrun --full
"""

from __future__ import annotations

import argparse
import datetime
import json
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


def finished(base, overrides: list[str], workdir: pathlib.Path) -> bool:
    """Whether `workdir` holds a finished run of `base` with `overrides`: the test
    `tricks experiments run speedrun --full` reuses runs by (a run of another config, as
    after a change to the recipe, is trained again)."""
    from tricks import config as config_lib
    from tricks import ensembles, train

    return ensembles.finished_summary(config_lib.apply_overrides(train.complete(base), overrides), workdir) is not None


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


def calibrate(task: speedrun.Task, base, root: pathlib.Path) -> str:
    """Trains the baseline's seed 0 again in a scratch folder and compares it with its run
    in `root`: the same test accuracy (the run is deterministic) and this session's wall
    time against the kept one's. Runs trained in different sessions compare only as far as
    the machine's speed held; each calibration is appended to ``calibration.jsonl`` in the
    kept records, so the table's times can be read against it."""
    overrides = [*task.arms()["baseline"], "seed=0"]
    scratch = WORKDIR / "calibration"
    shutil.rmtree(scratch, ignore_errors=True)
    now = train_arms(base, {"baseline": task.arms()["baseline"]}, [0], scratch, vectorize=False)["baseline"]
    summary = root / run_folder(overrides) / "summary.json"
    if not summary.is_file():
        return f"calibration: the baseline's seed 0 took {now.wall_times()[0]:.1f} s; no kept run to compare with"
    kept = json.loads(summary.read_text())
    entry = {"date": datetime.datetime.now().isoformat(timespec="minutes"), "wall_time_s": now.wall_times()[0],
             "kept_wall_time_s": kept["wall_time_s"], "test_accuracy": now.final()[0],
             "kept_test_accuracy": kept["splits"]["test"]["accuracy"]}
    with open(KEPT / "calibration.jsonl", "a") as log:
        log.write(json.dumps(entry) + "\n")
    same = "the same" if entry["test_accuracy"] == entry["kept_test_accuracy"] else "ANOTHER"
    return (f"calibration: the baseline's seed 0 took {entry['wall_time_s']:.1f} s against "
            f"{entry['kept_wall_time_s']:.1f} s kept ({entry['wall_time_s'] / entry['kept_wall_time_s']:.3f}x); "
            f"{same} test accuracy ({entry['test_accuracy']:.4f}, kept {entry['kept_test_accuracy']:.4f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--until", required=True, help="the deadline, HH:MM today (local time)")
    parser.add_argument("--calibrate", action="store_true",
                        help="first train the baseline's seed 0 again, in a scratch folder, against its kept run")
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
    if args.calibrate:
        print(calibrate(task, base, root), flush=True)
    runs, took, done = plan(task, options), {}, 0
    for arm, overrides, seed in runs:
        name = run_folder([*overrides, f"seed={seed}"])
        if finished(base, [*overrides, f"seed={seed}"], root / name):
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
