"""The training loop's steady-state time per step against a bare jitted step, in one run.

The loop's figure includes everything a real run does per step: the batch gathered on
the device, augmentation, metrics summed on the device and fetched at log steps, and
the writers (console off, JSON lines, TensorBoard). It is the difference of two runs of
different lengths, divided by the difference in steps, so compilation, setup and the
final evaluation cancel. The bare step is a jitted loss + gradient + optimizer update
of the same model, loss and optimizer on one fixed batch, state donated, in a Python
loop. Overhead = loop / bare - 1 (goal: under 5%, not met yet).

Measured on the shared 2-core CPU machine (load average about 4 from other work, so
figures move by tens of percent between runs): digits, bare 3.03 ms, loop 3.47 ms,
+15% (it was +50 to +65% before the batch gather moved into the step and the log steps
got cheaper); mnist1d_cnn (``--steps 300``), bare 1.35 ms, loop 2.49 ms, +84%. What
remains: the step's dispatch (45 input and 39 output arrays against the bare step's 24
and 23, about 2 us of host time each), the step's extra device work (metrics, per-layer
gradient norms, the gradients kept for histograms, the random-key split: 98 fused
kernels against 52), and the log steps (metrics fetched, histograms of every gradient,
TensorBoard) every `log_every` steps.

Examples:
  tricks bench loop
  tricks bench loop --config experiments/configs/fashion_mnist_cnn.py --steps 200
  tricks bench loop --config.log_every=100     (overrides as for `tricks train`)
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import jax
import optax


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="experiments/configs/digits.py", help="the run measured")
    parser.add_argument("--steps", type=int, default=1000, help="extra steps of the longer run")
    parser.add_argument("--repeats", type=int, default=3, help="measurements; the median is shown")


def loop_time(cfg, steps: int) -> tuple[float, float]:
    """(wall, CPU) seconds per step of `train_and_evaluate`, from two runs `steps` apart."""
    from tricks import train

    def timed(n: int) -> tuple[float, float]:
        run_cfg = cfg.copy_and_resolve_references()
        run_cfg.num_steps, run_cfg.eval_every, run_cfg.progress = n, 10**9, False
        run_cfg.eval_splits = ["validation"]
        with tempfile.TemporaryDirectory() as workdir:
            began = time.process_time()
            wall = train.train_and_evaluate(run_cfg, pathlib.Path(workdir))["wall_time_s"]
            return wall, time.process_time() - began

    short = max(cfg.log_every, steps)  # past the first steps' warm-up, which is not the steady state
    (long_wall, long_cpu), (short_wall, short_cpu) = timed(short + steps), timed(short)
    return (long_wall - short_wall) / steps, (long_cpu - short_cpu) / steps


def bare_time(cfg, steps: int) -> tuple[float, float]:
    """(wall, CPU) seconds per step of a minimal jitted step on one batch (the same model and optimizer)."""
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
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        params, stats, opt_state = step(params, stats, opt_state, key)
    jax.block_until_ready(params)
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def run(args: argparse.Namespace) -> int:
    import statistics

    from tricks import config as config_lib
    from tricks import train

    cfg = train.complete(config_lib.load(args.config, getattr(args, "overrides", [])))
    loops, bares = [], []
    for _ in range(args.repeats):
        bares.append(bare_time(cfg, args.steps))
        loops.append(loop_time(cfg, args.steps))
    print(f"config: {args.config}  (batch {cfg.batch_size}, model {cfg.model})")
    print(f"{'':<22} {'wall':>10} {'CPU (all threads)':>19}")
    rows = {"bare jitted step": bares, "training loop": loops}
    medians = {name: [statistics.median(t[i] for t in times) for i in (0, 1)] for name, times in rows.items()}
    for name, (wall, cpu) in medians.items():
        print(f"{name:<22} {wall * 1e3:7.3f} ms {cpu * 1e3:16.3f} ms   per step")
    (loop_wall, loop_cpu), (bare_wall, bare_cpu) = medians["training loop"], medians["bare jitted step"]
    print(f"{'overhead':<22} {100 * (loop_wall / bare_wall - 1):+8.1f} % {100 * (loop_cpu / bare_cpu - 1):+17.1f} %"
          "   (goal: under 5%; CPU time is the steadier figure on a shared machine)")
    return 0
