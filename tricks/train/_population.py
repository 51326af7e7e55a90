"""`train_population`: runs that differ only in their seed, trained side by side in one program.

A study of a trick needs several seeds of each setting; trained one process at a time,
each run of the default digits MLP spends most of its time starting and compiling. Here
the members share one compiled training call: `Calls` with ``members`` maps its program
over a leading member axis of the state (`jax.vmap`; one step counter for all), each
member drawing its batches from its own epoch orders (`DeviceLoader.reseeded`: one copy
of the split on the device) and its dropout from its own key. Everything on the host is
per member, as `train_and_evaluate` does it for one run: its workdir, lock, config,
records (`MetricsLog`, writers), evaluations and checkpoints, so every tool reads a
member's workdir as any run's. A member whose loss becomes non-finite stops (its records
end where a single run's would, and it gets no summary) while the others go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from tricks import metrics as metrics_lib
from tricks import schedules as schedules_lib
from tricks.config import ConfigError
from tricks.train import _lock, _workdir
from tricks.train._build import create_checked_state
from tricks.train._calls import MAX_CALL_SECONDS, Calls, Pace, Stops
from tricks.train._checkpoint import Checkpoints
from tricks.train._defaults import complete
from tricks.train._evaluate import evaluate
from tricks.train._logstep import MetricsLog, NonFiniteLossError
from tricks.train._setup import _spec_text, setup
from tricks.train._snapshots import snapshot_steps
from tricks.train._step import skips_nonfinite
from tricks.train._writers import ConsoleWriter, JsonlWriter, MultiWriter, Stopwatch, TensorBoardWriter, trim_records

VECTORIZED_FIELDS = ("seed",)
"""The config fields in which the members of one `train_population` may differ."""


def train_population(configs: Sequence[ml_collections.ConfigDict], workdirs: Sequence[str | pathlib.Path], *,
                     force: bool = False) -> list[dict[str, Any]]:
    """Trains the runs `configs` (which differ in `VECTORIZED_FIELDS` only) side by side,
    each into its workdir, as `train_and_evaluate` would one by one.

    Each member's numbers are those of its own `train_and_evaluate` up to float rounding
    (the batched matrix products sum in another order; `tests/train/test_population.py`
    measures it). Workdirs that hold checkpoints of their member at a common step resume
    from the newest such step.

    Args:
        configs: the members' training configs.
        workdirs: one folder per member.
        force: continue in workdirs that hold runs of other configs.

    Returns:
        One summary per member, as `train_and_evaluate` returns (and writes to its
        ``summary.json``); for a member stopped by a non-finite loss, ``{"error":
        message, "step": the last step trained}`` (and no ``summary.json``).

    Raises:
        tricks.config.ConfigError: no members, members that differ in another field
            (named), a parallel strategy other than ``sharded``, several processes, or
            training data that is not on the device.
        WorkdirError: a workdir is locked by another run.

    Examples:
        >>> import tempfile
        >>> from tricks.train import default_config
        >>> configs = [default_config() for _ in range(2)]
        >>> data = tempfile.mkdtemp()
        >>> for seed, cfg in enumerate(configs):
        ...     cfg.dataset, cfg.seed = f"digits(data_dir={data!r})", seed
        ...     cfg.num_steps, cfg.eval_every, cfg.progress = 20, 20, False
        >>> summaries = train_population(configs, [tempfile.mkdtemp(), tempfile.mkdtemp()])  # doctest: +ELLIPSIS
        training 2 members side by side (seed=0, seed=1)
        ...
        >>> [s["step"] for s in summaries], summaries[0]["eval"] != summaries[1]["eval"]
        ([20, 20], True)
    """
    configs = [complete(c) for c in configs]
    if not configs or len(configs) != len(workdirs):
        raise ConfigError(f"train_population needs one workdir per config and at least one member, got "
                          f"{len(configs)} configs and {len(workdirs)} workdirs")
    differing = differing_fields(configs)
    if set(differing) - set(VECTORIZED_FIELDS):
        raise ConfigError(f"members differ in {', '.join(sorted(set(differing) - set(VECTORIZED_FIELDS)))}: only "
                          f"{', '.join(VECTORIZED_FIELDS)} can differ inside one vectorized group")
    base = configs[0]
    if jax.process_count() > 1:
        raise ConfigError("vectorized members train in one process; run them one by one with several processes")
    run = setup(base)
    if run.strategy.axis_name is not None:
        raise ConfigError(f"parallel={_spec_text(base.parallel)}: vectorized members train with parallel='sharded'")
    if not getattr(run.loader, "on_device", False):
        raise ConfigError(f"dataset {_spec_text(base.dataset)}: vectorized members need the training split on the "
                          f"device, and it streams from disk; train them one by one")
    if not run.eval_loaders:
        raise ConfigError(f"eval_splits {list(base.eval_splits)}: the dataset has none of them")
    names = (_spec_text(base.model), _spec_text(base.dataset))
    example = jnp.asarray(run.loader.batch(0)["image"])
    members = []
    for i, (config, workdir) in enumerate(zip(configs, workdirs, strict=True)):
        loader = run.loader if config.seed == base.seed else run.loader.reseeded(config.seed)
        state = run.state if i == 0 else jax.device_put(
            create_checked_state(run.components, example, config.seed, names), run.strategy.replicated)
        members.append(_Member(config, pathlib.Path(workdir), loader, state))
    with contextlib.ExitStack() as stack:
        for member in members:  # one run at a time writes a workdir
            stack.enter_context(_lock.hold(member.workdir))
        return _train(run, members, force=force)


def differing_fields(configs: Sequence[ml_collections.ConfigDict]) -> list[str]:
    """The config fields (nested ones dotted) whose values are not the same in all of
    `configs`; fields that change no result (``progress``) are left out.

    Examples:
        >>> from tricks.train import default_config
        >>> a, b = default_config(), default_config()
        >>> b.seed, b.batch_size, b.progress = 3, 64, False
        >>> b.optimizer.learning_rate = 0.1
        >>> differing_fields([a, b])
        ['batch_size', 'optimizer.learning_rate', 'seed']
    """
    records = [_workdir.config_record(complete(c)) for c in configs]
    return sorted({line.split(": ", 1)[0] for r in records[1:] for line in _workdir.differences(records[0], r)})


@dataclasses.dataclass
class _Member:
    """One member's host side: its config, workdir, loader and (initial) state."""

    config: ml_collections.ConfigDict
    workdir: pathlib.Path
    loader: Any
    state: Any
    batches: Any = None
    checkpoints: Checkpoints | None = None
    log: MetricsLog | None = None
    writer: MultiWriter | None = None
    clock: Stopwatch | None = None
    results: dict = dataclasses.field(default_factory=dict)
    error: str | None = None
    stopped_at: int = 0
    pretrained: Any = None


class _MemberLoader:
    """The members' training loaders as one, for `Calls`: a window's arguments stacked on
    a leading member axis where the members' differ (epoch orders, class draws' seeds),
    passed once where they hold the same array (the split).

    Attributes:
        axes: per argument, 0 (stacked) or None (shared), as `jax.vmap` takes them.
    """

    on_device = True

    def __init__(self, loaders: Sequence[Any]):
        self.loaders = list(loaders)
        self.dataset, self.gather = loaders[0].dataset, loaders[0].gather
        probe = [loader.window_args(0, 1) for loader in self.loaders]
        self.axes = tuple(None if all(args[i] is probe[0][i] for args in probe) else 0
                          for i in range(len(probe[0])))
        self._last: dict[int, tuple[tuple, jax.Array]] = {}  # per argument: the members' arrays, stacked

    def stack(self, per_member: Sequence[tuple]) -> tuple:
        """The members' window arguments as one (a stack reused while they pass the same arrays)."""
        out = []
        for i, axis in enumerate(self.axes):
            column = tuple(args[i] for args in per_member)
            if axis is None:
                out.append(column[0])
                continue
            kept = self._last.get(i)
            if kept is None or any(a is not b for a, b in zip(kept[0], column, strict=True)):
                kept = self._last[i] = (column, jnp.stack(column))
            out.append(kept[1])
        return tuple(out)

    def window_args(self, first: int, count: int) -> tuple:
        return self.stack([loader.window_args(first, count) for loader in self.loaders])


class _MemberBatches:
    """The members' training iterators as one (`Calls` takes its windows)."""

    def __init__(self, iterators: Sequence[Any], loader: _MemberLoader):
        self.iterators, self.loader = list(iterators), loader

    @property
    def step(self) -> int:
        return self.iterators[0].step

    def next_window(self, steps: int, window: int) -> tuple:
        return self.loader.stack([it.next_window(steps, window) for it in self.iterators])


def _one(state: Any, i: int) -> Any:
    """Member `i`'s state (the step counter is shared)."""
    return jax.tree.map(lambda x: x[i], state.replace(step=None)).replace(step=state.step)


def _train(run, members: list[_Member], *, force: bool) -> list[dict[str, Any]]:
    base = run.config
    overrides = [f"seed={m.config.seed}" for m in members]
    print(f"training {len(members)} members side by side ({', '.join(overrides)})", flush=True)
    for member in members:
        _workdir.prepare(member.workdir, member.config, force, member.state)
    for note in run.components.notes:
        print(f"warning: {note}", file=sys.stderr)
    num_steps = run.num_steps
    snapshots = snapshot_steps(base, num_steps)
    start, metas = _restore(members, base, snapshots)
    record = {m.workdir: _workdir.config_record(m.config) for m in members}
    version = _workdir.code_version()
    for i, member in enumerate(members):
        meta = metas[i] if metas else {}
        member.clock = Stopwatch(float(meta.get("wall_time_s", 0.0)))
        member.batches = member.loader.iterate(0)
        if metas:
            position = meta.get("data") if isinstance(meta.get("data"), dict) else {}
            if position.get("pipeline") == member.loader.fingerprint:
                member.batches.set_state(position)
            else:
                member.batches = member.loader.iterate(start)
        trim_records(member.workdir, start)
        console = [ConsoleWriter(num_steps, start, enabled=base.progress)] if i == 0 else []  # (member 0 speaks)
        member.writer = MultiWriter([*console, JsonlWriter(member.workdir, member.clock.elapsed),
                                     TensorBoardWriter(member.workdir)])
        if not metas or force:
            member.writer.describe(record[member.workdir], [f"eval/{split}/{name}" for split in run.eval_loaders
                                                            for name in run.eval_metrics.summed_classes])
        member.log = MetricsLog(member.writer, log_every=base.log_every, num_steps=num_steps,
                                histogram_every=base.histogram_every,
                                skips_nonfinite=skips_nonfinite(member.state.opt_state))
    if metas:
        print(f"resuming {len(members)} members from step {start}")
    state = jax.tree.map(lambda *xs: jnp.stack(xs), *[m.state.replace(step=None) for m in members])
    state = jax.device_put(state.replace(step=members[0].state.step), run.strategy.replicated)
    has_plateau = bool(metrics_lib.plateau_scales(members[0].state.opt_state))
    loader = _MemberLoader([m.loader for m in members])
    calls = Calls(run.train_step.step, run.strategy, _MemberBatches([m.batches for m in members], loader),
                  base.steps_per_call, (run.state, run.loader.batch(0)), run.train_metrics,
                  log_every=base.log_every, members=len(members))
    opened = [m.log.restore(metas[i].get("log") if metas else None, calls.summed_shapes)
              for i, m in enumerate(members)]
    if all(o is not None for o in opened):
        calls.resume(jax.tree.map(lambda *xs: jnp.stack(xs), *opened))
    stops = Stops((run.eval_every, base.checkpoint_every), snapshots, num_steps)
    pace = Pace(MAX_CALL_SECONDS, base.log_every, adaptive=True, multiple=calls.window if calls.fixed else 1)
    live = list(range(len(members)))

    def guarded(i: int, action) -> None:  # a member's non-finite loss stops that member only
        if i not in live:
            return
        try:
            action(members[i].log)
        except NonFiniteLossError as exc:
            _stop(members[i], exc)
            live.remove(i)

    done = start
    try:
        while done < num_steps and live:
            step, histogram = done, members[0].log.next_histogram(done)
            done = min(step + calls.longest, stops.after(step), histogram, pace.until(step))
            pace.called(done - step)
            state, called = calls.run(state, done - step, histograms=done == histogram,
                                      logged=members[0].log.logs_at(done))
            for i in list(live):
                guarded(i, lambda log: log.add([dataclasses.replace(c, member=i) for c in called]))  # noqa: B023
            evaluating = done % run.eval_every == 0 or done == num_steps
            snapshot = done in stops.snapshots
            saving = snapshot or done == num_steps or (base.checkpoint_every > 0 and done % base.checkpoint_every == 0)
            if not (evaluating or saving):
                for i in list(live):
                    guarded(i, MetricsLog.poll)
                continue
            for i in list(live):
                guarded(i, MetricsLog.finish)
            for i in live:
                member, common = members[i], _one(state, i)
                if evaluating:
                    member.results = {split: evaluate(run.eval_step, common, loader_.eval_batches())
                                      for split, loader_ in run.eval_loaders.items()}
                    member.writer.write(done, {f"eval/{split}/{k}": v for split, m in member.results.items()
                                               for k, v in m.items() if k != "examples"})
                    monitored = member.results.get("validation") or next(iter(member.results.values()), None)
                    if monitored is not None and has_plateau:
                        fed = schedules_lib.feed_plateau(common.opt_state, monitored["loss"])
                        state = state.replace(opt_state=jax.tree.map(lambda s, x: s.at[i].set(x),  # noqa: B023
                                                                     state.opt_state, fed))
                        common = common.replace(opt_state=fed)
                if saving:
                    member.checkpoints.save(done, common, {
                        "config": record[member.workdir], "code_version": version,
                        "wall_time_s": member.clock.elapsed(), "snapshot": snapshot,
                        "data": member.batches.get_state(), "init_from": None, "log": member.log.state()})
            for i in live:
                members[i].checkpoints.check()
    finally:
        for member in members:
            member.writer.close()
            member.checkpoints.close()
    summaries = []
    for i, member in enumerate(members):
        if member.error is not None:
            summaries.append({"error": member.error, "step": member.stopped_at})
            continue
        if not member.results:  # resumed at its last step
            member.results = {split: evaluate(run.eval_step, _one(state, i), loader_.eval_batches())
                              for split, loader_ in run.eval_loaders.items()}
        summary = {"step": int(num_steps), "eval": member.results[list(member.results)[-1]],
                   "splits": member.results, "train": member.log.latest, "wall_time_s": member.clock.elapsed(),
                   "snapshots": snapshots, "code_version": version,
                   "population": {"members": len(members), "member": i}}
        (member.workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        summaries.append(summary)
    return summaries


def _restore(members: list[_Member], base, snapshots: list[int]) -> tuple[int, list[dict]]:
    """Opens each member's checkpoints; restores every member from the newest step all of
    them saved, if any. Returns ``(start step, metas)`` (no metas: a fresh start)."""
    for member in members:
        member.checkpoints = Checkpoints(member.workdir, keep=base.keep, keep_steps=snapshots)
    saved = [set(m.checkpoints.steps()) for m in members]
    if not any(saved):
        return 0, []
    common = set.intersection(*saved)
    if not common:
        listed = "; ".join(f"{m.workdir}: {sorted(s) or 'none'}" for m, s in zip(members, saved, strict=True))
        raise ConfigError(f"the members' checkpoints have no step in common ({listed}): continue them one by one "
                          f"with `tricks train`, or start the group in new workdirs")
    start, metas = max(common), []
    for member in members:
        member.state, meta = member.checkpoints.restore(start, member.state)
        metas.append(meta)
    return start, metas


def _stop(member: _Member, exc: NonFiniteLossError) -> None:
    """Stops `member` after a non-finite loss, saying where, as a single run does."""
    member.checkpoints.wait()
    good = member.checkpoints.steps()
    kept = f"the last good checkpoint is step {good[-1]} ({member.checkpoints.directory / str(good[-1])})" if good \
        else "no checkpoint was saved"
    member.error = f"{exc}; {kept}"
    member.stopped_at = good[-1] if good else 0
    print(f"member {member.workdir}: {member.error}", flush=True)
