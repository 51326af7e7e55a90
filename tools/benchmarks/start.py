"""Time to the first training step, with an empty compilation cache (cold) and a filled one (warm).

Each run is a fresh Python process training a config (by default the embedded default
run, the digits MLP) in a new workdir, with ``compilation_cache`` set to one folder
that starts empty: the first run fills it (cold), the later ones read it (warm). Timed
in the process: the imports, then from calling `tricks.train.train_and_evaluate` to the
end of the first training call (its state ready), and the whole run. Cold and warm runs
alternate after the first, so a slow minute of a shared machine falls on both. The
goal (issue #20): warm at most a third of cold, from the call to the first step.

Measured on the project's 2-core CPU VM (``tricks bench start``, 3 runs of each, medians;
session 15), as a fresh install has it (torch not installed) and with torch installed:

| | imports | call to first step | whole run |
|---|---|---|---|
| cold | 1.49 s | 4.24 s | 6.48 s |
| warm | 1.41 s | 1.24 s | 2.08 s |
| cold, torch installed | 1.49 s | 5.49 s | 7.81 s |
| warm, torch installed | 1.55 s | 2.39 s | 3.23 s |
| cold, torch installed, session 16 | 1.47 s | 4.27 s | 6.61 s |
| warm, torch installed, session 16 | 1.48 s | 1.31 s | 2.17 s |

Warm / cold to the first step: 0.29, and with torch installed 0.43 in session 15, when
tensorboardX's package ``__init__`` imported torch (1.1 s) before the first step, cache
or not; 0.31 since the TensorBoard writer loads only the parts it needs
(`tricks.train._writers.tensorboardx_parts`). What a warm
start still spends: building the components and loaders, tracing the programs (the cache
keys a program by its traced form, so tracing is never skipped) and loading them.

Session 29, on a machine of the same kind about twice as slow (torch installed; six runs
of ``tricks bench start``, each 3 runs of each kind): cold 6.75-7.87 s to the first step,
warm 2.16-2.51 s, ratios 0.33, 0.34, 0.31, 0.31, 0.33 and 0.30 (before its changes, in
turns with the first two: 8.65-8.88 s and 2.81-3.10 s, 0.33 and 0.35): both starts lost
about the same share. Imports 2.0-2.7 s, about 1.2 s less than with ml-dtypes 0.7.0.
What went: two of the three traces of the training step (see
`tricks.train.canonical_convolutions`), the model's forward pass and the optimizer's
op-by-op programs in initialization (`tricks.train.create_state`).

Session 30, on a machine of the same kind with AVX-512, after the training call came to
compile its step twice (each segment's last step after its loop: `tricks.train._calls`):
cold 3.98-5.29 s, warm 1.21-1.86 s, ratios 0.36, 0.28, 0.30, 0.31, 0.24 and 0.27, the
lower ones partly because the cold start compiles more (the run's programs in 3.3-3.4 s
instead of 2.7-3.0); before that change, in turns with the first two runs: cold 4.19 and
3.65 s, warm 1.34 and 1.11 s, 0.32 and 0.30.

Session 31, the same code on a machine of that kind, four runs: cold 3.86-4.23 s, warm
1.16-1.26 s, ratios 0.30, 0.29, 0.31 and 0.31. What a warm start of the default run spends
(cProfile, JAX's compile log): tracing the training call 0.43 s, lowering it 0.24 s and
loading it from the cache 0.25 s; lowering and loading the 28 other programs (the
initializers' op-by-op programs, the loader's) 0.3 s. Writing the gradient histograms'
shapes out, so that `tricks.metrics.layer_histograms` is traced once instead of twice,
gave warm starts of 1.28 and 1.23 s against 1.26 and 1.16 in turns: not adopted.

Examples:
  tricks bench start
  tricks bench start --runs 5 --config experiments/configs/mnist1d_cnn.py
  tricks bench start --config.model=cnn       (config overrides apply to every run)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import json, sys, time
began = time.perf_counter()
import jax
from tricks import config as config_lib, train
imported = time.perf_counter()
cfg = config_lib.apply_overrides(config_lib.load_file(sys.argv[1]) if sys.argv[1] else train.default_config(),
                                 sys.argv[4:])
cfg.progress, cfg.compilation_cache = False, sys.argv[3]
first = []

def on_call(step, state):
    if not first:
        jax.block_until_ready(state)
        first.append(time.perf_counter())

called = time.perf_counter()
train.train_and_evaluate(cfg, sys.argv[2], on_call=on_call)
print(json.dumps({"imports": imported - began, "first_step": first[0] - called, "run": time.perf_counter() - called}))
"""


class RunFailed(Exception):
    """A timed run ended in an error (its last line says which)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="", help="a config file (default: the embedded default run)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind, cold and warm (default 3)")


def one_run(config: str, cache: str, overrides: list[str]) -> dict[str, float]:
    """Times one training run in a fresh process (see `CHILD`)."""
    with tempfile.TemporaryDirectory() as workdir:
        done = subprocess.run([sys.executable, "-c", CHILD, config, workdir, cache, *overrides],
                              capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise RunFailed(f"the timed run failed: {lines[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(config: str, runs: int, overrides: list[str]) -> dict[str, list[dict[str, float]]]:
    """``{"cold": [...], "warm": [...]}``: `runs` timings of each, alternating after the first."""
    timings: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(runs):
            cold_cache = f"{scratch}/cold{i}"  # a new empty folder: everything compiles
            timings["cold"].append(one_run(config, cold_cache, overrides))
            timings["warm"].append(one_run(config, cold_cache, overrides))  # the folder it just filled
    return timings


def table(timings: dict[str, list[dict[str, float]]]) -> str:
    """The medians as a Markdown table, and the warm/cold ratio to the first step.

    Examples:
        >>> t = {"cold": [{"imports": 1.0, "first_step": 6.0, "run": 9.0}],
        ...      "warm": [{"imports": 1.0, "first_step": 2.0, "run": 4.0}]}
        >>> print(table(t))
        | | imports | call to first step | whole run |
        |---|---|---|---|
        | cold | 1.00 s | 6.00 s | 9.00 s |
        | warm | 1.00 s | 2.00 s | 4.00 s |
        <BLANKLINE>
        warm / cold to the first step: 0.33 (goal: at most 0.33)
    """
    median = {kind: {key: statistics.median(t[key] for t in runs) for key in ("imports", "first_step", "run")}
              for kind, runs in timings.items()}
    lines = ["| | imports | call to first step | whole run |", "|---|---|---|---|"]
    lines += [f"| {kind} | {m['imports']:.2f} s | {m['first_step']:.2f} s | {m['run']:.2f} s |"
              for kind, m in median.items()]
    ratio = median["warm"]["first_step"] / median["cold"]["first_step"]
    return "\n".join(lines) + f"\n\nwarm / cold to the first step: {ratio:.2f} (goal: at most 0.33)"


def run(args: argparse.Namespace) -> int:
    try:
        timings = measure(args.config, args.runs, list(args.overrides or []))
    except RunFailed as exc:
        print(f"tricks bench start: {exc}")
        return 2
    print(table(timings))
    return 0
