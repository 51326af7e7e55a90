"""`train_and_evaluate`: one training run from a config into a workdir."""

from __future__ import annotations

import contextlib
import json
import sys
import logging
import time
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import ml_collections

from tricks import metrics as metrics_lib
from tricks import schedules as schedules_lib
from tricks.config import ConfigError
from tricks.train import _lock, _workdir
from tricks.train._calls import MAX_CALL_SECONDS, Calls, Pace, Stops
from tricks.train._checkpoint import Checkpoints
from tricks.train._defaults import complete
from tricks.train._distributed import initialize_distributed
from tricks.train._ema import eval_prefixes, eval_records, evaluated, has_ema, with_ema
from tricks.train._evaluate import evaluate
from tricks.train._logstep import MetricsLog, NonFiniteLossError
from tricks.train._pretrained import load_pretrained
from tricks.train._runtime import use_runtime
from tricks.train._setup import Setup, setup
from tricks.train._snapshots import snapshot_steps
from tricks.train._step import skips_nonfinite
from tricks.train._writers import ConsoleWriter, JsonlWriter, MultiWriter, Stopwatch, TensorBoardWriter, trim_records

log = logging.getLogger(__name__)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, *,
                       force: bool = False, on_call: Callable[[int, Any], None] | None = None) -> dict[str, Any]:
    """Trains as `config` says, evaluating, logging and checkpointing into `workdir`.

    A workdir that already holds checkpoints of the same config is resumed from the
    newest one, with the log's open interval and newest record as it kept them, and what
    the run had logged past it is removed (`trim_records`) and logged again: the records
    of a resumed run equal an uninterrupted run's. Otherwise, with ``init_from``, the parameters and batch statistics start
    from another run's checkpoint (`load_pretrained`; ``init_fresh`` names paths, such as a
    new head, that keep their fresh initialization). After each evaluation the validation loss (else the first evaluated
    split's) is fed to every `reduce_on_plateau` in the optimizer state
    (`tricks.schedules.feed_plateau`), so a plateau rule reacts to held-out loss. Writes ``metrics.jsonl``, TensorBoard events, ``checkpoints/`` and, at
    the end, ``summary.json``, which is also returned.

    Args:
        config: a training config (missing standard fields take their defaults).
        workdir: the run's folder (created if needed).
        force: continue in a workdir that holds a run of a different config.
        on_call: called as ``on_call(step, state)`` after each training call is dispatched
            (`step`: where the call ends; `state`: its output, perhaps still computing), for
            measurements such as `tools/benchmarks/loop.py`; the time it takes is left out
            of the loop's pace.

    Returns:
        ``{"step", "eval": {"accuracy", "loss"}, "splits": {split: {...}}, "train": {...},
        "wall_time_s", ...}``; ``eval`` is the last of the evaluated splits (test by default).
        Evaluation is at the evaluated parameters (`tricks.train.evaluation_params`: a
        schedule-free optimizer's x); with ``ema_decay`` > 0 the moving average is
        evaluated too, logged as ``eval_ema/<split>/...`` and summarized as ``eval_ema``
        and ``splits_ema`` (`tricks.train._ema`).

    Raises:
        NonFiniteLossError: the loss became non-finite (with the step and the last good
            checkpoint), unless the optimizer skips non-finite updates; with
            `skip_nonfinite`, when every update of a log interval was skipped.
        tricks.config.ConfigError, registry.RegistryError: a bad config, or `workdir` holds
            checkpoints of a state this config cannot continue (checked before anything
            is written).
        WorkdirError: another process is training in `workdir` (whose lock the chief
            holds for the whole run); or a write failed (a full disk), with the last good
            checkpoint named.

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
    use_runtime(config.compilation_cache, config.deterministic)  # before anything starts the backend
    initialize_distributed(config)
    workdir = pathlib.Path(workdir)
    chief = jax.process_index() == 0  # logs, config and summary are written once
    run = setup(config)  # a config that cannot be built leaves the workdir untouched
    if not run.eval_loaders:
        raise ConfigError(f"eval_splits {list(config.eval_splits)}: the dataset has none of them (its splits: "
                          f"{', '.join(run.components.dataset.splits)}), so nothing would be evaluated")
    try:
        with _lock.hold(workdir) if chief else contextlib.nullcontext():  # one run at a time writes a workdir
            return _train(config, workdir, run, chief, force=force, on_call=on_call)
    except OSError as exc:
        if exc.errno not in _workdir.DISK_FULL:
            raise
        good = Checkpoints(workdir, read_only=True).steps()
        raise _workdir.write_error(exc.filename or f"to {workdir}", exc,
                                   workdir.absolute() / "checkpoints" / str(good[-1]) if good else None) from exc


def _train(config: ml_collections.ConfigDict, workdir: pathlib.Path, run: Setup, chief: bool, *, force: bool,
           on_call: Callable[[int, Any], None] | None) -> dict[str, Any]:
    """`train_and_evaluate` once `run` is set up and `workdir` locked."""
    if chief:
        _workdir.prepare(workdir, config, force, run.state)
        for note in run.components.notes:  # a schedule whose given length is not the run's
            print(f"warning: {note}", file=sys.stderr)
    state, num_steps = run.state, run.num_steps
    snapshots = snapshot_steps(config, num_steps)
    checkpoints = Checkpoints(workdir, keep=config.keep, keep_steps=snapshots)
    start, elapsed, log_state = 0, 0.0, None
    batches = run.loader.iterate(0)
    restored = checkpoints.restore_latest_valid(state)
    if restored is not None:
        start, state, meta = restored
        log_state = meta.get("log")
        elapsed = float(meta.get("wall_time_s", 0.0))
        position = meta.get("data") if isinstance(meta.get("data"), dict) else {}
        if position.get("pipeline") == run.loader.fingerprint:
            batches.set_state(position)
        else:  # only reachable with force=True: the config changed the data pipeline
            batches = run.loader.iterate(start)
            if chief:
                print(f"the data pipeline changed ({position.get('pipeline')} -> {run.loader.fingerprint}); "
                      f"the new one starts at step {start}")
        if chief:
            print(f"resuming {workdir} from step {start}")
    pretrained = meta.get("init_from") if restored is not None else None
    if restored is None and config.init_from:
        state, report = load_pretrained(state, run.components.optimizer, config.init_from, config.init_fresh,
                                        ema=config.init_from_ema)
        if has_ema(state):  # the average starts from the loaded weights
            state = with_ema(state)
        state = jax.device_put(state, run.strategy.replicated)
        pretrained = {"directory": report.directory, "step": report.step, "loaded": len(report.loaded),
                      "fresh": list(report.fresh)}
        if chief:
            print(report)
    strategy = run.strategy
    has_plateau = bool(metrics_lib.plateau_scales(state.opt_state))
    state = strategy.to_train(state)

    clock = Stopwatch(elapsed)
    if chief:  # what the run logged past its checkpoint is logged again
        trim_records(workdir, start)
    writer = MultiWriter([
        ConsoleWriter(num_steps, start, enabled=config.progress),
        JsonlWriter(workdir, clock.elapsed),
        TensorBoardWriter(workdir),
    ] if chief else [])
    record = _workdir.config_record(config)
    if restored is None or force:  # (a resumed run's are kept from its start)
        writer.describe(record, [f"{prefix}/{split}/{name}" for prefix in eval_prefixes(state) for split in run.eval_loaders
                                 for name in run.eval_metrics.summed_classes])
    version = _workdir.code_version()
    calls = Calls(run.train_step.step, strategy, batches, config.steps_per_call, (run.state, run.loader.batch(0)),
                  run.train_metrics, log_every=config.log_every, histograms=config.histogram_every > 0)
    metrics_log = MetricsLog(writer, log_every=config.log_every, num_steps=num_steps,
                             histogram_every=config.histogram_every, skips_nonfinite=skips_nonfinite(state.opt_state),
                             histograms=chief)
    opened = metrics_log.restore(log_state, calls.summed_shapes)
    if opened is not None:
        calls.resume(opened)
    checkpoint_every = config.checkpoint_every
    stops = Stops((run.eval_every, checkpoint_every), snapshots, num_steps)
    pace = Pace(MAX_CALL_SECONDS, config.log_every, adaptive=jax.process_count() == 1,
                multiple=calls.window if calls.fixed else 1)
    done, results, ema_results = start, {}, {}
    try:
        while done < num_steps:  # a call ends where the host must act, a histogram is due, or the pace says
            step, histogram = done, metrics_log.next_histogram(done)
            done = min(step + calls.longest, stops.after(step), histogram, pace.until(step))
            pace.called(done - step)
            state, called = calls.run(state, done - step, histograms=done == histogram, logged=metrics_log.logs_at(done))
            metrics_log.add(called)
            checkpoints.check()  # a save that failed (a full disk) stops the run at once
            if on_call is not None:
                began = time.perf_counter()
                on_call(done, state)
                pace.exclude(time.perf_counter() - began)
            evaluating = done % run.eval_every == 0 or done == num_steps
            snapshot = done in stops.snapshots
            saving = snapshot or done == num_steps or (checkpoint_every > 0 and done % checkpoint_every == 0)
            if not (evaluating or saving):
                metrics_log.poll()
                continue
            metrics_log.finish()  # a non-finite loss stops the run before anything is saved
            common = strategy.from_train(state)
            if evaluating:
                results, ema_results = _evaluate_both(run, common)
                writer.write(done, eval_records(results, ema_results))
                monitored = results.get("validation") or next(iter(results.values()), None)
                if monitored is not None and has_plateau:
                    common = common.replace(opt_state=schedules_lib.feed_plateau(common.opt_state, monitored["loss"]))
                    state = strategy.to_train(common)
            if saving:
                checkpoints.save(done, common, {"config": record, "code_version": version,
                                                "wall_time_s": clock.elapsed(), "snapshot": snapshot,
                                                "data": batches.get_state(), "init_from": pretrained,
                                                "log": metrics_log.state()})
    except NonFiniteLossError as exc:  # nothing after it was saved: say what is left
        checkpoints.wait()
        good = checkpoints.steps()
        kept = f"the last good checkpoint is step {good[-1]} ({checkpoints.directory / str(good[-1])})" if good \
            else "no checkpoint was saved"
        raise NonFiniteLossError(f"{exc}; {kept}") from None
    finally:
        writer.close()
        checkpoints.close()
    if not results:  # resumed at its last step (a finished run): evaluate the final state
        results, ema_results = _evaluate_both(run, strategy.from_train(state))
    summary = {
        "step": int(num_steps),
        "eval": results[list(results)[-1]] if results else {},
        "splits": results,
        "train": metrics_log.latest,
        "wall_time_s": clock.elapsed(),
        "snapshots": snapshots,
        "code_version": version,
    }
    if ema_results:  # the moving average's, as `eval` and `splits` are the weights'
        summary["eval_ema"] = ema_results[list(ema_results)[-1]]
        summary["splits_ema"] = ema_results
    if pretrained is not None:
        summary["init_from"] = pretrained
    if chief:
        (workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _evaluate_both(run: Setup, state: Any) -> tuple[dict, dict]:
    """Each evaluation split's metrics at the evaluated parameters (`evaluated`: the
    schedule-free x, else the parameters), and at the moving average's ({} without one)."""
    evaluate_at = lambda ema: {split: evaluate(run.eval_step, evaluated(state, ema), loader_.eval_batches())  # noqa: E731
                               for split, loader_ in run.eval_loaders.items()}
    return evaluate_at(False), evaluate_at(True) if has_ema(state) else {}
