"""`train_and_evaluate`: one training run from a config into a workdir."""

from __future__ import annotations

import bisect
import json
import logging
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np

from tricks import schedules as schedules_lib
from tricks.train import _workdir
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
    metrics_log = MetricsLog(writer, strategy, histogram_every=config.histogram_every if chief else 0,
                             skips_nonfinite=skips_nonfinite(state.opt_state))
    advance, window = _stepper(run, batches, config)
    log_every, checkpoint_every = config.log_every, config.checkpoint_every
    stops = _Stops((log_every, run.eval_every, checkpoint_every), snapshots, num_steps)
    step = start
    try:
        while step < num_steps:
            count = min(window, stops.after(step) - step)
            step = done = step + count
            log_now = done % log_every == 0 or done == num_steps
            state, sums, report = advance(state, sums, count, log_now)
            if log_now:
                metrics_log.start(done, sums, state, report)
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
    """``(advance, window)``: ``advance(state, sums, count, log) -> (state, sums, report)``
    runs `count` <= `window` steps; `log` says the last one is a log step.

    With an on-device loader, where the strategy allows it (`TrainStep.fed_by`), the
    steps run inside one jitted call, each gathering its batch on the device:
    ``config.steps_per_call`` of them at most (0: up to `AUTO_STEPS_PER_CALL`), and never
    past a log step, evaluation or checkpoint (the loop stops there), so never more than
    ``config.log_every``. The call also computes the log step's `log_report` and resets
    the sums. Otherwise one call per step, and ``report`` is None (the log values are
    computed and the sums reset by calls of their own).
    """
    fed = run.train_step.fed_by(run.loader, _finish) if run.loader.on_device else None
    if fed is None:
        def advance(state, sums, count, log):
            for _ in range(count):
                state, sums = run.train_step(state, next(batches), sums)
            return state, sums, None

        return advance, 1
    window = min(config.steps_per_call or AUTO_STEPS_PER_CALL, config.log_every)
    scalars: dict[Any, jax.Array] = {}  # device scalars, so a call transfers nothing from the host

    def put(value):
        key = (type(value), value)
        if key not in scalars:
            scalars[key] = jax.device_put(np.asarray(value, np.bool_ if isinstance(value, bool) else np.int32),
                                          run.strategy.replicated)
        return scalars[key]

    def advance_fed(state, sums, count, log):
        return fed(state, sums, put(count), put(log), *batches.next_window(count, window))

    return advance_fed, window


def _finish(state, sums, log):
    """The end of a call of several steps: the sums reset if it ends at a log step, and the
    log report of the interval so far (used only at log steps)."""
    return reset_sums(sums, log), log_report(sums, state)


AUTO_STEPS_PER_CALL = 100
"""Steps one call runs at most by default (``steps_per_call=0``); log steps, evaluations and
checkpoints stop a call earlier. Each call costs a dispatch (about 2 us per state leaf on
CPU, several times that on a busy 2-core machine) and the log step's host work; on digits
(20 steps per call, up to the log step) the loop went from +12-21% to within a few
percent of a bare jitted step called once per step (`tools/benchmarks/loop.py`)."""


class _Stops:
    """The steps where the loop must regain control: log, evaluation, checkpoint, snapshot, end."""

    def __init__(self, intervals: tuple[int, ...], snapshots: list[int], num_steps: int):
        self.intervals = [k for k in intervals if k > 0]
        self.snapshots = set(snapshots)
        self._sorted = sorted(snapshots)
        self.num_steps = num_steps

    def after(self, step: int) -> int:
        """The first stop after `step`."""
        later = [(step // k + 1) * k for k in self.intervals] + [self.num_steps]
        i = bisect.bisect_right(self._sorted, step)
        if i < len(self._sorted):
            later.append(self._sorted[i])
        return min(later)
