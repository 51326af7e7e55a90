"""The training loop's steady-state time per step against a bare jitted step, in one run.

The loop's figure includes everything a real run does per step: the batch gathered on
the device, augmentation, metrics summed on the device and fetched at log steps, and
the writers (console off, JSON lines, TensorBoard). It is read from the run's own
``metrics.jsonl`` timestamps between the first log step after a warm-up and the last
one, so setup, compilation and the final evaluation are left out. The bare step is a
jitted loss + gradient + optimizer update of the same model, loss and optimizer on
one fixed batch, state donated, in a Python loop. Each repeat times both back to back;
overhead = loop / bare - 1 (goal: under 5%), shown as the median of the repeats' own
ratios and as best vs best.

Measured on the project's 2-core CPU VM, whose pace moves by tens of percent from
minute to minute (the same bare step took 1.44-2.09 ms within one run), digits
(log_every 20), 5 repeats of 2000 steps: median +21%, per repeat +3% to +55%.
With ``--config.log_every=1000`` the overhead stays (median +33%, per repeat -7% to
+49%): it is the step, not the log steps. Timing the loop's compiled step alone
against the bare step in 200-step slices, interleaved 40 times: +22% (median), +13%
(best), the same without the per-layer gradient metrics. Log steps no longer wait for
the device (`tricks.train._logstep`); before that, the earlier form of this benchmark
(difference of two runs' totals) gave +15% to +50% for the same config.

Examples:
  tricks bench loop
  tricks bench loop --config experiments/configs/fashion_mnist_cnn.py --steps 200
  tricks bench loop --config.log_every=100     (overrides as for `tricks train`)
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

import jax
import optax


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="experiments/configs/digits.py", help="the run measured")
    parser.add_argument("--steps", type=int, default=1000, help="steps timed, after a warm-up of about 200 (whole log intervals)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements; the median is shown")


def loop_time(cfg, steps: int) -> float:
    """Wall seconds per step of `train_and_evaluate` in its steady state.

    One run of warm-up + `steps` steps; the time is read from its own ``metrics.jsonl``
    (each log record carries the run's wall time when written), between the first log
    step after the warm-up and the last one, so setup, compilation and the final
    evaluation are left out.
    """
    from tricks import train

    warm = -(-200 // cfg.log_every) * cfg.log_every  # a log step; the first ones are not the steady state
    run_cfg = cfg.copy_and_resolve_references()
    run_cfg.num_steps, run_cfg.eval_every, run_cfg.progress = warm + steps, 10**9, False
    run_cfg.eval_splits = ["validation"]
    with tempfile.TemporaryDirectory() as workdir:
        train.train_and_evaluate(run_cfg, pathlib.Path(workdir))
        lines = (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines()
    logged = [(r["step"], r["wall_time_s"]) for r in map(json.loads, lines) if "train/loss" in r and r["step"] >= warm]
    (first, began), (last, ended) = logged[0], logged[-1]  # steps warm and warm + steps (the last is logged)
    return (ended - began) / (last - first)


def bare_time(cfg, steps: int) -> float:
    """Wall seconds per step of a minimal jitted step on one batch (the same model and optimizer)."""
    from tricks import train

    run = train.setup(cfg)
    model, optimizer, loss_fn = run.components.model, run.components.optimizer, run.components.loss
    batch = run.loader.batch(0)
    targets = jax.nn.one_hot(batch["label"], run.components.num_classes)
    has_stats = bool(run.state.batch_stats)

    @jax.jit
    def step(params, stats, opt_state, key):
        def objective(p):
            variables = {"params": p, "batch_stats": stats} if has_stats else {"params": p}
            logits, updates = model.apply(variables, batch["image"], train=True, rngs={"dropout": key},
                                          mutable=["batch_stats"])
            return loss_fn(logits, targets), updates

        (_, updates), grads = jax.value_and_grad(objective, has_aux=True)(params)
        changes, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, changes), updates.get("batch_stats", stats), opt_state

    step = jax.jit(step.__wrapped__, donate_argnums=(0, 1, 2))
    params, stats, opt_state = jax.tree.map(lambda x: x.copy(), (run.state.params, run.state.batch_stats,
                                                                 run.state.opt_state))
    key = jax.random.PRNGKey(0)
    params, stats, opt_state = step(params, stats, opt_state, key)
    jax.block_until_ready(params)
    start = time.perf_counter()
    for _ in range(steps):
        params, stats, opt_state = step(params, stats, opt_state, key)
    jax.block_until_ready(params)
    return (time.perf_counter() - start) / steps


def run(args: argparse.Namespace) -> int:
    import statistics

    from tricks import config as config_lib
    from tricks import train

    cfg = train.complete(config_lib.load(args.config, getattr(args, "overrides", [])))
    loops, bares = [], []
    for _ in range(args.repeats):  # each repeat times both, back to back: the machine's pace moves
        bares.append(bare_time(cfg, args.steps))
        loops.append(loop_time(cfg, args.steps))
    paired = [100 * (loop / bare - 1) for loop, bare in zip(loops, bares)]
    print(f"config: {args.config}  (batch {cfg.batch_size}, model {cfg.model}, log_every {cfg.log_every}; "
          f"{args.repeats} repeats of {args.steps} steps)")
    print(f"{'wall per step':<18} {'median':>8} {'best':>8}")
    for name, times in {"bare jitted step": bares, "training loop": loops}.items():
        print(f"{name:<18} {statistics.median(times) * 1e3:8.3f} {min(times) * 1e3:8.3f}  ms")
    print(f"{'overhead':<18} {statistics.median(paired):+8.1f} {100 * (min(loops) / min(bares) - 1):+8.1f}  %"
          f"   (goal: under 5%; median of the repeats' own ratios, and best vs best)")
    print("per repeat: " + ", ".join(f"{r:+.1f}%" for r in paired))
    return 0
