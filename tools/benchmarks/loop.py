"""The training loop's steady-state time per step against a bare jitted step, in one run.

The loop's figure includes everything a real run does per step: the batch gathered on
the device, augmentation, metrics summed on the device and fetched at log steps, and
the writers (console off, JSON lines, TensorBoard). It is read from the run's own
``metrics.jsonl`` timestamps between the first log step after a warm-up and the last
one, so setup, compilation and the final evaluation are left out. The bare step is a
jitted loss + gradient + optimizer update of the same model, loss and optimizer on
one fixed batch (passed as an argument), state donated, called once per step from a
Python loop: the issue's reference, overhead = loop / bare - 1 (goal: under 5%). With
on-device data the loop runs several steps per call (``steps_per_call``), so a second
reference runs the bare step as many times per call (a `fori_loop`, a dropout key per
step): against it, the overhead is the loop's own machinery. Each repeat times all
back to back; figures are the median of the repeats' own ratios and best vs best.

Measured on the project's 2-core CPU VM, whose pace moves by tens of percent from
minute to minute, digits (log_every 20, so 20 steps per call), 9 repeats of 1000 steps:
against the bare jitted step median +5.2% (best vs best +9.1%; per repeat -18% to
+42%); an earlier run of 7 repeats of 2000 steps gave +4.4% (best vs best -0.3%).
Against the bare step run 20 per call, +20% (per repeat +11% to +41%): the per-step
gather, the metrics and the log steps' host work (about 1.8 ms per log step: the log
call, the fetch, fresh sums, the writers), which on a CPU backend takes cores from the
training computation. Before several steps per call, the loop measured +12% to +21%
against the bare jitted step, and its compiled step alone +13% (best) to +22% (median).

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


def bare_time(cfg, steps: int, per_call: int = 1) -> float:
    """Wall seconds per step of a minimal jitted step on one batch (the same model and optimizer).

    With `per_call` > 1, each call runs that many steps in a `fori_loop`, as the training
    loop does with on-device data (``steps_per_call``).
    """
    from tricks import train

    run = train.setup(cfg)
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

    jitted = jax.jit(step if per_call == 1 else calls, donate_argnums=(0, 1, 2))
    carry = jax.tree.map(lambda x: x.copy(), (run.state.params, run.state.batch_stats, run.state.opt_state))
    data = (jax.random.PRNGKey(0), batch["image"], targets)  # arguments, as a real step's batch is
    carry = jitted(*carry, *data)
    jax.block_until_ready(carry)
    count = max(1, steps // per_call)
    start = time.perf_counter()
    for _ in range(count):
        carry = jitted(*carry, *data)
    jax.block_until_ready(carry)
    return (time.perf_counter() - start) / (count * per_call)


def run(args: argparse.Namespace) -> int:
    import statistics

    from tricks import config as config_lib
    from tricks import train
    from tricks.train._loop import _stepper

    cfg = train.complete(config_lib.load(args.config, getattr(args, "overrides", [])))
    run_ = train.setup(cfg)
    _, window = _stepper(run_, run_.loader.iterate(0), cfg.steps_per_call)  # as `train_and_evaluate` runs
    per_call = min(window, cfg.log_every)  # calls stop at log steps
    loops, bares, batched = [], [], []
    for _ in range(args.repeats):  # each repeat times all, back to back: the machine's pace moves
        bares.append(bare_time(cfg, args.steps))
        if per_call > 1:
            batched.append(bare_time(cfg, args.steps, per_call))
        loops.append(loop_time(cfg, args.steps))
    print(f"config: {args.config}  (batch {cfg.batch_size}, model {cfg.model}, log_every {cfg.log_every}, "
          f"{per_call} steps per call; {args.repeats} repeats of {args.steps} steps)")
    print(f"{'wall per step':<28} {'median':>8} {'best':>8}")
    rows = {"bare jitted step": bares, f"bare, {per_call} steps per call": batched, "training loop": loops}
    for name, times in rows.items():
        if times:
            print(f"{name:<28} {statistics.median(times) * 1e3:8.3f} {min(times) * 1e3:8.3f}  ms")
    for name, reference in (("bare jitted step", bares), (f"bare, {per_call} per call", batched)):
        if reference:
            paired = [100 * (loop / bare - 1) for loop, bare in zip(loops, reference)]
            print(f"{'overhead vs ' + name:<28} {statistics.median(paired):+8.1f} "
                  f"{100 * (min(loops) / min(reference) - 1):+8.1f}  %   per repeat: "
                  + ", ".join(f"{r:+.0f}" for r in paired))
    print("(goal: under 5% against the bare jitted step; median of the repeats' own ratios, and best vs best)")
    return 0
