"""`train_and_evaluate`: one training run from a config into a workdir."""

from __future__ import annotations

import functools
import json
import logging
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from tricks import schedules as schedules_lib
from tricks.train import _workdir
from tricks.train._calls import MAX_CALL_SECONDS, Pace, Stops
from tricks.train._checkpoint import Checkpoints
from tricks.train._defaults import complete
from tricks.train._distributed import initialize_distributed
from tricks.train._evaluate import evaluate
from tricks.train._logstep import MetricsLog, log_report, plateau_scales, skips_nonfinite
from tricks.train._pretrained import load_pretrained
from tricks.train._setup import setup
from tricks.train._snapshots import snapshot_steps
from tricks.train._step import reset_sums, zero_sums
from tricks.train._writers import ConsoleWriter, JsonlWriter, MultiWriter, Stopwatch, TensorBoardWriter

log = logging.getLogger(__name__)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, *,
                       force: bool = False) -> dict[str, Any]:
    """Trains as `config` says, evaluating, logging and checkpointing into `workdir`.

    A workdir that already holds checkpoints of the same config is resumed from the
    newest one; otherwise, with ``init_from``, the parameters and batch statistics start
    from another run's checkpoint (`load_pretrained`; ``init_fresh`` names paths, such as a
    new head, that keep their fresh initialization). After each evaluation the validation loss (else the first evaluated
    split's) is fed to every `reduce_on_plateau` in the optimizer state
    (`tricks.schedules.feed_plateau`), so a plateau rule reacts to held-out loss. Writes ``metrics.jsonl``, TensorBoard events, ``checkpoints/`` and, at
    the end, ``summary.json``, which is also returned.

    Args:
        config: a training config (missing standard fields take their defaults).
        workdir: the run's folder (created if needed).
        force: continue in a workdir that holds a run of a different config.

    Returns:
        ``{"step", "eval": {"accuracy", "loss"}, "splits": {split: {...}}, "train": {...},
        "wall_time_s", ...}``; ``eval`` is the last of the evaluated splits (test by default).

    Raises:
        NonFiniteLossError: the loss became non-finite (with the step), unless the
            optimizer skips non-finite updates.
        tricks.config.ConfigError, registry.RegistryError: a bad config.

    Examples:
        >>> import tempfile
        >>> from tricks.train import default_config
        >>> cfg = default_config()
        >>> cfg.dataset = f"digits(data_dir={tempfile.mkdtemp()!r})"
        >>> cfg.num_steps, cfg.eval_every, cfg.progress = 20, 20, False
        >>> summary = train_and_evaluate(cfg, tempfile.mkdtemp())  # doctest: +ELLIPSIS
        step 20: eval/test/accuracy ...
        >>> summary["step"], summary["eval"]["accuracy"] > 0.5
        (20, True)
    """
    config = complete(config)
    initialize_distributed(config)
    workdir = pathlib.Path(workdir)
    chief = jax.process_index() == 0  # logs, config and summary are written once
    if chief:
        _workdir.prepare(workdir, config, force)
    run = setup(config)
    state, num_steps = run.state, run.num_steps
    snapshots = snapshot_steps(config, num_steps)
    checkpoints = Checkpoints(workdir, keep=config.keep, keep_steps=snapshots)
    start, elapsed = 0, 0.0
    batches = run.loader.iterate(0)
    restored = checkpoints.restore_latest_valid(state)
    if restored is not None:
        start, state, meta = restored
        elapsed = float(meta.get("wall_time_s", 0.0))
        if meta["data"].get("pipeline") == run.loader.fingerprint:
            batches.set_state(meta["data"])
        else:  # only reachable with force=True: the config changed the data pipeline
            batches = run.loader.iterate(start)
            if chief:
                print(f"the data pipeline changed ({meta['data'].get('pipeline')} -> {run.loader.fingerprint}); "
                      f"the new one starts at step {start}")
        if chief:
            print(f"resuming {workdir} from step {start}")
    pretrained = meta.get("init_from") if restored is not None else None
    if restored is None and config.init_from:
        state, report = load_pretrained(state, run.components.optimizer, config.init_from, config.init_fresh)
        state = jax.device_put(state, run.strategy.replicated)
        pretrained = {"directory": report.directory, "step": report.step, "loaded": len(report.loaded),
                      "fresh": list(report.fresh)}
        if chief:
            print(report)
    strategy = run.strategy
    has_plateau = bool(plateau_scales(state.opt_state))
    state = strategy.to_train(state)

    clock = Stopwatch(elapsed)
    writer = MultiWriter([
        ConsoleWriter(num_steps, start, enabled=config.progress),
        JsonlWriter(workdir, clock.elapsed),
        TensorBoardWriter(workdir),
    ] if chief else [])
    version = _workdir.code_version()
    fresh_sums = jax.jit(zero_sums, out_shardings=strategy.replicated)  # one call, not one per leaf
    sums, results = strategy.to_train(fresh_sums(run.state.params)), {}
    metrics_log = MetricsLog(writer, strategy, histogram_every=config.histogram_every,
                             skips_nonfinite=skips_nonfinite(state.opt_state), histograms=chief)
    advance, window = _stepper(run, batches, config)
    log_every, checkpoint_every = config.log_every, config.checkpoint_every
    stops = Stops((run.eval_every, checkpoint_every), snapshots, num_steps)
    pace = Pace(MAX_CALL_SECONDS, log_every, adaptive=jax.process_count() == 1)
    step = start
    try:
        while step < num_steps:  # a call stops where the host must act, and where a histogram is due
            count = min(step + window, stops.after(step), metrics_log.next_histogram(step, log_every),
                        pace.until(step)) - step
            pace.called(count)
            first = step
            step = done = step + count
            logged = list(range((first // log_every + 1) * log_every, done + 1, log_every))
            last_log = done == num_steps and done % log_every != 0  # the end is always logged
            state, sums, report = advance(state, sums, count, last_log)
            if logged or last_log:
                metrics_log.start(logged + [done] * last_log, sums, state, report)
                if report is None:  # the call did not reset the sums
                    sums = strategy.to_train(fresh_sums(run.state.params))
            else:
                metrics_log.poll()
            evaluating = done % run.eval_every == 0 or done == num_steps
            snapshot = done in stops.snapshots
            saving = snapshot or done == num_steps or (checkpoint_every > 0 and done % checkpoint_every == 0)
            if not (evaluating or saving):
                continue
            metrics_log.finish()  # a non-finite loss stops the run before anything is saved
            common = strategy.from_train(state)
            if evaluating:
                results = {split: evaluate(run.eval_step, common, loader_.eval_batches())
                           for split, loader_ in run.eval_loaders.items()}
                writer.write(done, {f"eval/{split}/{k}": v for split, m in results.items()
                                    for k, v in m.items() if k != "examples"})
                monitored = results.get("validation") or next(iter(results.values()), None)
                if monitored is not None and has_plateau:
                    common = common.replace(opt_state=schedules_lib.feed_plateau(common.opt_state, monitored["loss"]))
                    state = strategy.to_train(common)
            if saving:
                checkpoints.save(done, common, {"config": json.loads(config.to_json()), "code_version": version,
                                                "wall_time_s": clock.elapsed(), "snapshot": snapshot,
                                                "data": batches.get_state(), "init_from": pretrained})
    finally:
        writer.close()
        checkpoints.close()
    if not results:  # resumed at its last step (a finished run): evaluate the final state
        results = {split: evaluate(run.eval_step, strategy.from_train(state), loader_.eval_batches())
                   for split, loader_ in run.eval_loaders.items()}
    summary = {
        "step": int(num_steps),
        "eval": results[list(results)[-1]] if results else {},
        "splits": results,
        "train": metrics_log.latest,
        "wall_time_s": clock.elapsed(),
        "snapshots": snapshots,
        "code_version": version,
    }
    if pretrained is not None:
        summary["init_from"] = pretrained
    if chief:
        (workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _stepper(run, batches, config: ml_collections.ConfigDict) -> tuple[Callable, int]:
    """``(advance, window)``: ``advance(state, sums, count, last_log) -> (state, sums, report)``
    runs `count` <= `window` steps; `last_log` says the last one is a log step that is
    not a multiple of ``log_every`` (the end of the run).

    With an on-device loader, where the strategy allows it (`TrainStep.fed_by`), the
    steps run inside one jitted call, each gathering its batch on the device:
    ``config.steps_per_call`` of them at most (0: up to `AUTO_STEPS_PER_CALL`); the loop
    stops a call earlier where it must act (`Stops`), where a histogram is due, and where
    its pace says (`Pace`). The call records the `log_report` of every log step it passes
    and resets the sums there; its ``report`` is ``(values, first_nonfinite)`` with a row
    per log step, in order.
    Otherwise one call per step, and ``report`` is None (the log values are computed and
    the sums reset by calls of their own).
    """
    if not run.loader.on_device:
        return _one_per_call(run, batches)
    window, log_every = config.steps_per_call or AUTO_STEPS_PER_CALL, config.log_every
    fed = run.train_step.fed_by(run.loader, _finish, step=functools.partial(_logged_step, run.train_step.step,
                                                                            log_every))
    if fed is None:
        return _one_per_call(run, batches)
    rows = window // log_every + 2  # the log steps one call can pass, and the end of the run
    width = jax.eval_shape(log_report, zero_sums(run.state.params), run.state)[0].shape[0]
    book = jax.device_put(_empty_book(rows, width), run.strategy.replicated)
    scalars: dict[Any, jax.Array] = {}  # device scalars, so a call transfers nothing from the host

    def put(value):
        key = (type(value), value)
        if key not in scalars:
            scalars[key] = jax.device_put(np.asarray(value, np.bool_ if isinstance(value, bool) else np.int32),
                                          run.strategy.replicated)
        return scalars[key]

    def advance_fed(state, sums, count, last_log):
        nonlocal book
        state, (sums, book), report = fed(state, (sums, book), put(count), put(last_log),
                                          *batches.next_window(count, window))
        return state, sums, report

    return advance_fed, window


def _one_per_call(run, batches) -> tuple[Callable, int]:
    def advance(state, sums, count, last_log):
        for _ in range(count):
            state, sums = run.train_step(state, next(batches), sums)
        return state, sums, None

    return advance, 1


def _empty_book(rows: int, width: int) -> dict[str, np.ndarray]:
    """Where a call records its log steps: their values, first non-finite steps, and how many."""
    return {"values": np.zeros((rows, width), np.float32), "first_nonfinite": np.full((rows,), -1, np.int32),
            "count": np.zeros((), np.int32)}


def _record(sums, book, state):
    """The log step's `log_report` in the book's next row; the sums reset."""
    values, first_nonfinite = log_report(sums, state)
    row = book["count"]
    book = {"values": book["values"].at[row].set(values),
            "first_nonfinite": book["first_nonfinite"].at[row].set(first_nonfinite), "count": row + 1}
    return reset_sums(sums), book


def _logged_step(step, log_every: int, state, batch, carry):
    """`step`, then the log step recorded if the new step is a multiple of `log_every`."""
    sums, book = carry
    state, sums = step(state, batch, sums)
    sums, book = jax.lax.cond(state.step % log_every == 0, lambda: _record(sums, book, state), lambda: (sums, book))
    return state, (sums, book)


def _finish(state, carry, last_log):
    """The end of a call: the end of the run recorded if `last_log`; the book's rows out and
    the book emptied for the next call."""
    sums, book = carry
    sums, book = jax.lax.cond(last_log, lambda: _record(sums, book, state), lambda: (sums, book))
    report = (book["values"], book["first_nonfinite"])
    emptied = {"values": book["values"], "first_nonfinite": jnp.full_like(book["first_nonfinite"], -1),
               "count": jnp.zeros_like(book["count"])}
    return (sums, emptied), report


AUTO_STEPS_PER_CALL = 100
"""Steps one call runs at most by default (``steps_per_call=0``); evaluations, checkpoints,
snapshots and gradient histograms stop a call earlier, log steps do not (the call records
them). Each call costs a dispatch (about 2 us per state leaf on CPU, several times that on
a busy 2-core machine) and a wait for its results; see `tools/benchmarks/loop.py`."""
