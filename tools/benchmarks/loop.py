"""The training loop's steady-state time per step against a bare jitted step, in one run.

The loop's figure includes everything a real run does per step: the batch gathered on
the device (epoch shuffles included), augmentation, metrics summed on the device and
fetched at log steps, and the writers (console off, JSON lines, TensorBoard). The bare
step is a jitted loss + gradient + optimizer update of the same model, loss and
optimizer on one fixed batch (passed as an argument), state donated, called once per
step from a Python loop: the issue's reference, overhead = loop / bare - 1 (goal: under
5%). With on-device data the loop runs several steps per call (``steps_per_call``), so a
second reference runs the bare step as many times per call (a `fori_loop`, a dropout
key per step): against it, the overhead is the loop's own machinery.

The references run *inside* one training run, interleaved with it: every ``--segment``
calls of the loop, it waits for the device, and the time since the last pause is one
sample of the loop; then both bare steps run as many steps, each one sample. This
machine's pace moves by tens of percent from one minute to the next, so whole runs timed
one after the other gave per-repeat ratios from -26% to +42%; samples a fraction of a
second apart are paired instead, and the figures are the median of the paired ratios and
the ratio of the totals. The first call after a pause starts on an idle device (about
0.4 ms more than a queued one), which counts against the loop. Segments before the
warm-up (compilation) are left out. The loop's pace (`MAX_CALL_SECONDS`) is lifted while
it is measured, as the pauses would read as slow steps; on digits the 100-step window
binds first anyway (100 steps take about 0.15 s).

Measured on the project's 2-core CPU VM, digits (log_every 20; calls of 100 steps, passing
log steps), 4000 steps in 19 samples of 200, six runs: loop vs bare jitted step, median of
the paired ratios -0.4, +1.2, -2.2, -2.9, +0.0, -3.1% (ratio of the totals -1.1, -1.0,
-3.3, +1.2, -0.2, +1.9%); vs the bare step run 100 per call +14.8, +3.5, +4.7% (first
three runs). Calls that stopped at every log step (20 steps) measured +12.6, +2.9, +5.1,
-1.2%, and before the log report moved into the training call, the stacked epoch orders
were reused and the shuffles made faster, the loop measured +14.9% (the earlier whole-run
method, median of 7 repeats). The main thread's CPU time per step went from 149 us to 71
us, of which gradient histograms (every 100 steps, about 3 ms each) are 30 us; on a CPU
backend that time is taken from the training computation.

Examples:
  tricks bench loop
  tricks bench loop --config experiments/configs/fashion_mnist_cnn.py --steps 400
  tricks bench loop --config.histogram_every=0     (overrides as for `tricks train`)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from unittest import mock

import jax
import numpy as np
import optax


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="experiments/configs/digits.py", help="the run measured")
    parser.add_argument("--steps", type=int, default=4000, help="steps timed, after a warm-up of 200")
    parser.add_argument("--segment", type=int, default=2, help="loop calls per sample (between pauses)")


class BareStep:
    """A minimal jitted step of `run`'s model, loss and optimizer on one fixed batch.

    With `per_call` > 1, each call runs that many steps in a `fori_loop` with a dropout
    key per step, as the training loop does with on-device data (``steps_per_call``).
    """

    def __init__(self, run, per_call: int = 1):
        model, optimizer, loss_fn = run.components.model, run.components.optimizer, run.components.loss
        batch = run.loader.batch(0)
        targets = jax.nn.one_hot(batch["label"], run.components.num_classes)
        has_stats = bool(run.state.batch_stats)

        def step(params, stats, opt_state, key, image, targets):
            def objective(p):
                variables = {"params": p, "batch_stats": stats} if has_stats else {"params": p}
                logits, updates = model.apply(variables, image, train=True, rngs={"dropout": key},
                                              mutable=["batch_stats"])
                return loss_fn(logits, targets), updates

            (_, updates), grads = jax.value_and_grad(objective, has_aux=True)(params)
            changes, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, changes), updates.get("batch_stats", stats), opt_state

        def calls(params, stats, opt_state, key, image, targets):  # a key per step: dropout is not loop-invariant
            return jax.lax.fori_loop(0, per_call, lambda i, c: step(*c, jax.random.fold_in(key, i), image, targets),
                                     (params, stats, opt_state))

        self.per_call = per_call
        self._jitted = jax.jit(step if per_call == 1 else calls, donate_argnums=(0, 1, 2))
        self._data = (jax.random.PRNGKey(0), batch["image"], targets)  # arguments, as a real step's batch is
        self._carry = jax.tree.map(lambda x: x.copy(), (run.state.params, run.state.batch_stats, run.state.opt_state))
        self.seconds_per_step(per_call)  # compiled

    def seconds_per_step(self, steps: int) -> float:
        """Runs about `steps` steps (whole calls) and returns the wall seconds per step."""
        count = max(1, round(steps / self.per_call))
        start = time.perf_counter()
        for _ in range(count):
            self._carry = self._jitted(*self._carry, *self._data)
        jax.block_until_ready(self._carry)
        return (time.perf_counter() - start) / (count * self.per_call)


def measure(cfg, steps: int, segment: int, warm: int = 200) -> tuple[dict[str, list[float]], int]:
    """Seconds per step of `train_and_evaluate` and of the bare steps, sampled in turn.

    Returns:
        ``({"loop": [...], "bare": [...], "batched": [...]}, per_call)``: one value per
        segment, the three of a segment measured back to back ("batched": the bare step
        run `per_call` steps per call, as many as the loop's calls run; absent when that
        is one).
    """
    from tricks import train
    from tricks.train import _loop

    run = train.setup(cfg)
    _, per_call = _loop._stepper(run, run.loader.iterate(0), cfg)  # as `train_and_evaluate` runs
    references = {"bare": BareStep(run, 1)} | ({"batched": BareStep(run, per_call)} if per_call > 1 else {})
    samples: dict[str, list[float]] = {"loop": []} | {name: [] for name in references}
    original = _loop._stepper

    def interleaved(run_, batches, config):
        advance, window = original(run_, batches, config)
        calls, step, began, first = 0, 0, 0.0, 0

        def paused(state, sums, count, log):
            nonlocal calls, step, began, first
            if calls % segment == 0:
                jax.block_until_ready(state)  # the segment's last call has finished
                if calls and first >= warm:
                    samples["loop"].append((time.perf_counter() - began) / (step - first))
                    order = list(references) if len(samples["loop"]) % 2 else list(references)[::-1]
                    for name in order:
                        samples[name].append(references[name].seconds_per_step(step - first))
                began, first = time.perf_counter(), step
            calls, step = calls + 1, step + count
            return advance(state, sums, count, log)

        return paused, window

    run_cfg = cfg.copy_and_resolve_references()
    run_cfg.num_steps, run_cfg.eval_every, run_cfg.progress = warm + steps, 10**9, False
    run_cfg.eval_splits = ["validation"]
    # the pauses would read as slow steps to the loop's pace (`Pace`), which would then cut its
    # calls short; lifted, calls run `per_call` steps, as a real run's do wherever that many
    # steps take less than MAX_CALL_SECONDS (digits: 100 steps in 0.15 s)
    with (tempfile.TemporaryDirectory() as workdir, mock.patch.object(_loop, "_stepper", interleaved),
          mock.patch.object(_loop, "MAX_CALL_SECONDS", 1e9)):
        train.train_and_evaluate(run_cfg, workdir)
    return samples, per_call


def run(args: argparse.Namespace) -> int:
    from tricks import config as config_lib
    from tricks import train

    cfg = train.complete(config_lib.load(args.config, getattr(args, "overrides", [])))
    samples, per_call = measure(cfg, args.steps, args.segment)
    loops = samples["loop"]
    if not loops:
        print(f"no segment after the warm-up: use more --steps (segments of {args.segment} calls)")
        return 2
    print(f"config: {args.config}  (batch {cfg.batch_size}, model {cfg.model}, log_every {cfg.log_every}, "
          f"up to {per_call} steps per call; {len(loops)} samples of {args.segment} calls, interleaved)")
    names = {"bare": "bare jitted step", "batched": f"bare, {per_call} steps per call", "loop": "training loop"}
    print(f"{'wall per step':<32} {'median':>8} {'mean':>8}")
    for key in ("bare", "batched", "loop"):
        if key in samples:
            times = samples[key]
            print(f"{names[key]:<32} {statistics.median(times) * 1e3:8.3f} {np.mean(times) * 1e3:8.3f}  ms")
    print(f"{'overhead':<32} {'median':>8} {'totals':>8}      paired quartiles")
    for key in ("bare", "batched"):
        if key in samples:
            paired = [100 * (loop / ref - 1) for loop, ref in zip(loops, samples[key])]
            q1, _, q3 = statistics.quantiles(paired, n=4) if len(paired) > 1 else (paired[0],) * 3
            print(f"{'vs ' + names[key]:<32} {statistics.median(paired):+8.1f} "
                  f"{100 * (sum(loops) / sum(samples[key]) - 1):+8.1f}  %   {q1:+.1f} .. {q3:+.1f}")
    print("(goal: under 5% against the bare jitted step; a sample's loop and bare steps run back to back)")
    return 0

