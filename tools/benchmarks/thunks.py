"""Where the training loop's time goes: its calls and the bare step, operation by operation.

`tricks bench loop` says how much slower the loop's calls are than the bare jitted step
run as many steps per call; this says where. It runs the loop's calls (`Calls`, as
`train_and_evaluate` makes them, without the writers) and that bare step
(`tools.benchmarks.loop.BareStep`) for the same steps, in turns, under
`jax.profiler.trace`, and sums the trace's events by compiled program and HLO operation
(a fusion, a product, a copy, a loop): microseconds a step, and how many times a step it
ran (1: in the step's loop body; 0.01: once a 100-step call; 5: in a five-iteration
loop). XLA:CPU traces its operations only with ``--xla_cpu_enable_xprof_traceme=true``
in ``XLA_FLAGS``, set before JAX starts; on a GPU the device's kernels are traced anyway.

On several cores an operation's time includes waiting for the ones running beside it,
so the times of a program's operations add up to more than its wall time, and an
operation can look slower in one program only because more runs beside it there
(session 26: the Fashion-MNIST CNN's largest YNNPACK fusion, 18-20 ms a step in the
loop's calls against 10-12 in the bare step's, whose wall times per step were within
10%). ``taskset -c 0`` runs everything on one core, one operation at a time.

Session 26 found with it what cost the shipped MLPs most of their gap: the gradient
histograms, due every 100 steps, whose binary search over TensorBoard's edges took 8.1 ms
for digits' 85k gradients (now found in closed form, 1.1 ms:
`tricks.metrics.histogram_counts`).

Examples:
  XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true tricks bench thunks
  XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true taskset -c 0 tricks bench thunks \\
      --config experiments/configs/mnist1d_mlp.py --steps 2000 --top 40
"""

from __future__ import annotations

import argparse
import collections
import os
import pathlib
import tempfile

import jax
import jax.numpy as jnp

FLAG = "--xla_cpu_enable_xprof_traceme=true"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="experiments/configs/digits.py", help="the run measured")
    parser.add_argument("--steps", type=int, default=1000, help="steps traced of each (whole calls)")
    parser.add_argument("--top", type=int, default=25, help="operations listed per program")


def profile(cfg, steps: int) -> tuple[dict[str, dict[str, list[float]]], dict[str, int]]:
    """Traces `steps` steps of the loop's calls and of the bare step run as many per call.

    Returns:
        ``({program: {operation: [runs, microseconds]}}, {program: steps it ran})`` for
        the loop's calls (``loop``) and the bare step (``batched``).
    """
    from tools.benchmarks.loop import BareStep
    from tricks import train
    from tricks.train._calls import Calls

    run = train.setup(cfg)
    batches, every = run.loader.iterate(0), cfg.histogram_every
    calls = Calls(run.train_step.step, run.strategy, batches, cfg.steps_per_call, (run.state, run.loader.batch(0)),
                  run.train_metrics, log_every=cfg.log_every, histograms=every > 0)  # (as `train_and_evaluate`)
    bare = BareStep(run, calls.window)
    state = jax.tree.map(jnp.copy, run.state)

    def loop_call(state):
        step = int(batches.step)
        due = every > 0 and (step + calls.window) // every > step // every  # a histogram due in the call
        state, called = calls.run(state, calls.window, histograms=due)
        for one in called:
            one.results()  # (waits; the host unpacks the results as a run does)
        return state

    state = loop_call(state)  # compiled
    rounds = max(1, steps // calls.window)
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            for _ in range(rounds):
                state = loop_call(state)
                bare.seconds_per_step(calls.window)
        found = summed_events(next(pathlib.Path(folder).rglob("*.xplane.pb")))
    names = {"loop": _named(found, "jit_program"), "batched": _named(found, "jit_calls")}
    return ({key: found.get(name, {}) for key, name in names.items()},
            {key: rounds * calls.window for key in names})


def summed_events(path: pathlib.Path) -> dict[str, dict[str, list[float]]]:
    """The trace's operation events summed: ``{program: {operation: [runs, microseconds]}}``."""
    from jax.profiler import ProfileData

    found: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(
        lambda: [0, 0.0]))
    for plane in ProfileData.from_file(str(path)).planes:
        for line in plane.lines:
            for event in line.events:
                stats = dict(event.stats)
                if "hlo_module" in stats and "hlo_op" in stats:
                    entry = found[stats["hlo_module"]][stats["hlo_op"]]
                    entry[0] += 1
                    entry[1] += event.duration_ns / 1e3
    return found


def _named(found: dict, prefix: str) -> str:
    """The traced program named `prefix`, else the first whose name begins with it (a
    backend may add to the name), else `prefix`."""
    return prefix if prefix in found else next((name for name in found if name.startswith(prefix)), prefix)


def report(programs: dict[str, dict[str, list[float]]], steps: dict[str, int], top: int) -> str:
    """The programs' operations side by side, largest first, per step; and their sums by
    how often they ran (once a step, more often, less often), loops and conditionals left
    out (their time is their bodies')."""
    columns, sums = {}, {}
    for key, ops in programs.items():
        rows = sorted(((us / steps[key], runs / steps[key], op) for op, (runs, us) in ops.items()), reverse=True)
        columns[key] = rows
        groups = collections.Counter()
        for us, runs, op in rows:
            if not op.startswith(("while", "cond", "conditional")):
                groups["once a step" if abs(runs - 1) < 0.05 else "more often" if runs > 1 else "less often"] += us
        sums[key] = groups
    lines = [f"{'us/step':>9} {'runs':>6}  {'loop: the training calls':<38} {'us/step':>9} {'runs':>6}  "
             "batched: the bare step"]
    for i in range(top):
        cells = []
        for key in ("loop", "batched"):
            us, runs, op = columns[key][i] if i < len(columns[key]) else (0.0, 0.0, "")
            cells.append(f"{us:9.1f} {runs:6.2f}  {op[:38]:<38}" if op else f"{'':9} {'':6}  {'':<38}")
        lines.append(" ".join(cells).rstrip())
    lines.append("")
    lines.append(f"{'operations run':<14} {'loop us/step':>13} {'batched us/step':>16}  (loops left out)")
    for group in ("once a step", "more often", "less often"):
        lines.append(f"{group:<14} {sums['loop'][group]:13.1f} {sums['batched'][group]:16.1f}")
    lines.append(f"{'all':<14} {sum(sums['loop'].values()):13.1f} {sum(sums['batched'].values()):16.1f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tricks import config as config_lib
    from tricks import train

    if jax.default_backend() == "cpu" and FLAG not in os.environ.get("XLA_FLAGS", ""):
        print(f"tricks bench thunks: XLA:CPU traces its operations only with {FLAG} in XLA_FLAGS, set before "
              f"JAX starts: run XLA_FLAGS={FLAG} tricks bench thunks ...")
        return 2
    cfg = train.complete(config_lib.load(args.config, getattr(args, "overrides", [])))
    programs, steps = profile(cfg, args.steps)
    if not all(programs.values()):
        print("tricks bench thunks: the trace has no operation events of the loop's calls or the bare step")
        return 2
    print(f"config: {args.config}  ({steps['loop']} steps of each, on {jax.devices()[0].device_kind})")
    print(report(programs, steps, args.top))
    return 0
