"""Runs side by side (`tricks.train.train_population`) against one run and against runs one by one.

For each config, in one process and one run of this command: the wall time of one run
(`train_and_evaluate`, seed 0), of N seeds trained together, and of N seeds trained one
after another in the same process (as `tricks sweep` without ``--vectorize`` does: each
run builds and compiles its own programs). Every figure includes building, compiling,
evaluating and checkpointing, as a user waits for it. A short run of each config first
prepares its dataset (not timed).

Goal (issue #17): on 2 CPU cores, 8 seeds of the digits MLP in at most 2x the time of one run.

Before the N together, the choice of how they share a program (`tricks.train.side_by_side`)
is measured afresh and timed on its own ("choice"); the together run then finds it cached.

Measured on the 2-core CPU machine (seconds, session 10; one by one: 2 runs timed, scaled):

| config | one | choice | 8 together | 8 one by one |
|---|---|---|---|---|
| digits | 4.5 | 3.0 (vmap) | 8.9 (1.97x one; 2.1-2.35x in other runs) | 54.0 |
| mnist1d_mlp | 4.9 | 2.1 (vmap) | 13.0 | 40.3 |
| mnist1d_cnn | 10.2 | 2.6 (vmap) | 48.1 | 82.2 |
| fashion_mnist_cnn (200 steps, 4 seeds, 1 timed one by one) | 19.0 | 18.7 (unrolled) | 70.0 | 77.4 |

(Vmapped, those 4 Fashion-MNIST CNN seeds took 99 s for 40 steps, against 33 s one by one.)
Session 25, on the 2-core AVX2 machine, the members mapped with their convolutions laid
out (`tricks.train.canonical_convolutions`; the ``unrolled`` form is gone): the
Fashion-MNIST CNN row reads 12.4, 13.8 (map), 50.3 and 67.0.

Examples:
  tricks bench population
  tricks bench population --members 4 --configs digits mnist1d_cnn --steps 500
  tricks bench population --configs fashion_mnist_cnn --config.dataset="fashion_mnist(data_dir='/data')"
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import tempfile
import time

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "configs"
DEFAULT = ("digits", "mnist1d_mlp", "mnist1d_cnn", "fashion_mnist_cnn")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", type=int, default=8, help="seeds trained side by side (and one by one)")
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT),
                        help="shipped configs (experiments/configs/NAME.py) or config files")
    parser.add_argument("--steps", type=int, default=0,
                        help="train this many steps instead of each config's own (0: the config's)")
    parser.add_argument("--sequential", type=int, default=0,
                        help="how many of the one-by-one runs to time (0: all; fewer: their mean times N)")
    parser.set_defaults(config=None)  # (takes --config.KEY=VALUE overrides, applied to every config)


def measure(cfg, members: int, sequential: int) -> dict[str, float]:
    """Seconds for one run, the choice of form for `members` (`tricks.train.side_by_side`,
    measured afresh, and cached for the run after it), `members` together, and `members`
    one by one (or `sequential` of them, scaled to `members`)."""
    from tricks import train

    configs = []
    for seed in range(members):
        member = cfg.copy_and_resolve_references()
        member.seed, member.progress = seed, False
        configs.append(member)
    with tempfile.TemporaryDirectory() as root, _restored("TRICKS_CACHE"):
        root = pathlib.Path(root)
        warm = configs[0].copy_and_resolve_references()
        warm.num_steps, warm.eval_every = 2, 2
        train.train_and_evaluate(warm, root / "warm")  # the dataset prepared and cached
        began = time.perf_counter()
        train.train_and_evaluate(configs[0], root / "one")
        one = time.perf_counter() - began
        os.environ["TRICKS_CACHE"] = str(root / "cache")  # the choice measured afresh, timed on its own
        began = time.perf_counter()
        form, _ = train.side_by_side(train.setup(configs[0]), members)
        choice = time.perf_counter() - began
        began = time.perf_counter()
        train.train_population(configs, [root / f"together{i}" for i in range(members)])
        together = time.perf_counter() - began
        timed = sequential or members
        began = time.perf_counter()
        for i, member in enumerate(configs[:timed]):
            train.train_and_evaluate(member, root / f"alone{i}")
        alone = (time.perf_counter() - began) * members / timed
    return {"one": one, "choice": choice, "form": form or "one by one", "together": together, "sequential": alone,
            "timed": timed}


@contextlib.contextmanager
def _restored(name: str):
    """The environment variable `name` as it was, after the block."""
    before = os.environ.get(name)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def run(args: argparse.Namespace) -> int:
    import io

    from tricks import config as config_lib
    from tricks import train

    if args.members < 1:
        print(f"tricks bench population: --members must be at least 1, got {args.members}")
        return 2
    rows = []
    for name in args.configs:
        path = CONFIGS / f"{name}.py" if (CONFIGS / f"{name}.py").is_file() else pathlib.Path(name)
        cfg = train.complete(config_lib.load(str(path), getattr(args, "overrides", [])))
        if args.steps:
            cfg.num_steps = args.steps
            cfg.eval_every = min(cfg.eval_every, args.steps) if cfg.eval_every > 0 else 0
        with contextlib.redirect_stdout(io.StringIO()):  # the runs' own lines
            found = measure(cfg, args.members, args.sequential)
        rows.append((pathlib.Path(path).stem, cfg.num_steps, found))
        print(f"{rows[-1][0]}: one run {found['one']:.1f} s, the choice measured in {found['choice']:.1f} s "
              f"({found['form']}), {args.members} together {found['together']:.1f} s, {args.members} one by one "
              f"{found['sequential']:.1f} s", flush=True)
    print(f"\n{'config':<20} {'steps':>6} {'one s':>7} {'choice s':>9} {'form':>10} {'together s':>11} "
          f"{'one by one s':>13} {'together/one':>13} {'saved':>7}")
    for name, steps, found in rows:
        scaled = "*" if found["timed"] < args.members else " "
        print(f"{name:<20} {steps:>6} {found['one']:7.1f} {found['choice']:9.1f} {found['form']:>10} "
              f"{found['together']:11.1f} {found['sequential']:12.1f}{scaled} "
              f"{found['together'] / found['one']:12.2f}x {found['sequential'] / found['together']:6.1f}x")
    if any(found["timed"] < args.members for _, _, found in rows):
        print(f"(* {args.sequential} of the {args.members} one-by-one runs timed, scaled to {args.members})")
    print("(goal on 2 CPU cores: 8 seeds of the digits MLP in at most 2x one run)")
    return 0
