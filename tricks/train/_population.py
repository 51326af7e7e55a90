"""`train_population`: runs that differ in their seed and optimizer/loss numbers, trained side by side.

A study of a trick needs several seeds of each setting, and often several rates; trained
one at a time, each run of the default digits MLP spends most of its time starting and
compiling. Here the members share one compiled training call: `Calls` with ``members``
maps its program over a leading member axis of the state (one step counter for all):
vmapped, or mapped one member after another inside the program where that was measured
faster (`tricks.train.side_by_side`, `tricks.train._members`), each member drawing its
batches from its own epoch orders (`DeviceLoader.reseeded`: one copy of the split on the
device), its dropout from its own key, and its optimizer and loss numbers from arguments
of the step: the optimizer and loss are built inside the traced step from member 0's
specs with the numbers in which the members differ as traced values
(`tricks.train._varying`), and each member's state starts from its own optimizer's
``init``. Everything on the host is per member, as `train_and_evaluate` does it for one
run: its workdir, lock, config, records (`MetricsLog`, writers), evaluations and
checkpoints (a member's state is a single run's), so every tool reads a member's workdir
as any run's. With several devices and a number of members that divides by their count,
the member axis is split over the devices (``spmd_axis_name``): each device trains its
members on whole batches. A member whose loss becomes non-finite stops (its records end
where a single run's would, and it gets no summary) while the others go on.

A 5-seed x 4-rate sweep of the MNIST-1D MLP (6000 steps each) took 31 s side by side on 2
CPU cores (`tricks sweep --vectorize`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

import registry
from tricks import metrics as metrics_lib
from tricks import schedules as schedules_lib
from tricks.config import ConfigError
from tricks.train import _lock, _varying, _workdir
from tricks.train._build import create_checked_state
from tricks.train._calls import MAX_CALL_SECONDS, Calls, Pace, Stops
from tricks.train._checkpoint import Checkpoints
from tricks.train._defaults import complete
from tricks.train._ema import eval_prefixes, eval_records, evaluated, has_ema, with_ema
from tricks.train._logstep import MetricsLog, NonFiniteLossError
from tricks.train._loop import train_and_evaluate
from tricks.train._members import member_axes, over_members
from tricks.train._setup import _spec_text, setup
from tricks.train._side_by_side import side_by_side
from tricks.train._snapshots import snapshot_steps
from tricks.train._step import make_train_step, skips_nonfinite
from tricks.train._writers import ConsoleWriter, JsonlWriter, MultiWriter, Stopwatch, TensorBoardWriter, trim_records

VECTORIZED_FIELDS = ("seed", "optimizer", "loss")
"""The config fields in which the members of one `train_population` may differ: the seed,
and numbers in the optimizer and loss specs (a learning rate, a schedule's values, a weight
decay, momentum, label smoothing) wherever their factories take them traced."""


MEMORY_HEADROOM = 0.8
"""The share of the free device memory a population may plan to use (`fitting_members`)."""


class NotVectorizable(ConfigError):
    """Members that cannot share one program; `fields` names what sets them apart
    (dotted config fields: ``batch_size``, ``optimizer.learning_rate.warmup_steps``).
    Where only numbers their factories need concrete set them apart, `groups` lists the
    members (indices) that agree in those numbers, and could share one program each."""

    def __init__(self, message: str, fields: Sequence[str], groups: Sequence[Sequence[int]] = ()):
        super().__init__(message)
        self.fields, self.groups = list(fields), [list(g) for g in groups]


class TooManyMembers(ConfigError):
    """More members than fit in the device's free memory; `fits` is how many would (>= 1)."""

    def __init__(self, message: str, fits: int):
        super().__init__(message)
        self.fits = fits


def member_bytes(run) -> dict[str, int]:
    """An estimate of one member's device memory, from its state and batch: the state
    four times over (itself, its gradients, the optimizer's updates, the next state), the
    model's activations on one batch twice (kept for the backward pass, and their
    gradients; from Flax's captured intermediates, traced only), and one call's window of
    batches.

    Examples:
        >>> from tricks import train
        >>> parts = member_bytes(train.setup(train.default_config()))
        >>> sorted(parts), parts["state"] > 0
        (['activations', 'state', 'window'], True)
    """
    state = run.state
    nbytes = lambda tree: sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(tree))  # noqa: E731
    batch = run.loader.batch(0)
    image = jnp.asarray(batch["image"])
    _, captured = jax.eval_shape(lambda v, x: run.components.model.apply(
        v, x, train=False, capture_intermediates=True, mutable=["intermediates"]), state.variables(), image)
    window = min(run.config.steps_per_call or 100, 100) * nbytes(batch)
    return {"state": 4 * nbytes((state.params, state.opt_state, state.batch_stats)),
            "activations": 2 * nbytes(captured), "window": window}


def free_memory() -> int:
    """The free memory of the first device in bytes: its allocator's limit less what is in
    use, or on a CPU (no allocator statistics) the host's available memory."""
    stats = jax.local_devices()[0].memory_stats()
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def fitting_members(run, members: int) -> None:
    """Checks that `members` side by side fit in `MEMORY_HEADROOM` of the free memory.

    Raises:
        TooManyMembers: they do not; the message gives the estimate and how many fit.
    """
    parts = member_bytes(run)
    each, free = sum(parts.values()), free_memory() * MEMORY_HEADROOM
    if members * each <= free:
        return
    fits = max(1, int(free // each))
    gib = lambda n: f"{n / 2**30:.2f} GiB"  # noqa: E731
    raise TooManyMembers(
        f"{members} members side by side need about {gib(members * each)} of device memory ({gib(each)} each: "
        f"{', '.join(f'{k} {gib(v)}' for k, v in parts.items())}), and {gib(free)} is free to use "
        f"({MEMORY_HEADROOM:.0%} of it): at most {fits} fit; train them in groups of {fits}", fits)


def train_population(configs: Sequence[ml_collections.ConfigDict], workdirs: Sequence[str | pathlib.Path], *,
                     force: bool = False) -> list[dict[str, Any]]:
    """Trains the runs `configs` side by side, each into its workdir, as
    `train_and_evaluate` would one by one; they may differ in `VECTORIZED_FIELDS` only.

    Each member's numbers are those of its own `train_and_evaluate` up to float rounding
    (the batched matrix products sum in another order; `tests/train/test_population.py`
    measures it). Workdirs that hold checkpoints of their member at a common step resume
    from the newest such step.

    How the members share the program is measured once per backend and model
    (`side_by_side`): vmapped, mapped one after another inside it (`jax.lax.map`), or,
    where that is predicted fastest, not shared at all: each member then trains by
    `train_and_evaluate`. The command says which, and why.

    Args:
        configs: the members' training configs.
        workdirs: one folder per member.
        force: continue in workdirs that hold runs of other configs.

    Returns:
        One summary per member, as `train_and_evaluate` returns (and writes to its
        ``summary.json``); for a member stopped by a non-finite loss, ``{"error":
        message, "step": its last good checkpoint's step}`` (and no ``summary.json``).

    Raises:
        NotVectorizable: members that differ in another field, in a spec's structure, or
            in a number its factory needs concrete (named, before anything is written).
        TooManyMembers: more members than the device's free memory holds, by the
            estimate of `member_bytes` (saying how many fit).
        tricks.config.ConfigError: no members, a parallel strategy other than
            ``sharded``, several processes, training data that is not on the device, or
            ``init_from`` (not supported side by side).
        WorkdirError: a workdir is locked by another run.

    Examples:
        >>> import tempfile
        >>> from tricks.train import default_config
        >>> configs = [default_config() for _ in range(2)]
        >>> data = tempfile.mkdtemp()
        >>> for seed, cfg in enumerate(configs):
        ...     cfg.dataset, cfg.seed = f"digits(data_dir={data!r})", seed
        ...     cfg.num_steps, cfg.eval_every, cfg.progress = 20, 20, False
        >>> configs[1].optimizer.weight_decay = 0.01
        >>> summaries = train_population(configs, [tempfile.mkdtemp(), tempfile.mkdtemp()])  # doctest: +ELLIPSIS
        training 2 members ...
        >>> [s["step"] for s in summaries], summaries[0]["eval"] != summaries[1]["eval"]
        ([20, 20], True)
    """
    configs = [complete(c) for c in configs]
    if not configs or len(configs) != len(workdirs):
        raise ConfigError(f"train_population needs one workdir per config and at least one member, got "
                          f"{len(configs)} configs and {len(workdirs)} workdirs")
    fixed = [f for f in differing_fields(configs) if f.split(".")[0] not in VECTORIZED_FIELDS]
    if fixed:
        raise NotVectorizable(f"members differ in {', '.join(fixed)}, which cannot differ inside one vectorized "
                              f"group (only the seed and numbers in the optimizer and loss specs can)", fixed)
    base = configs[0]
    if base.init_from:
        raise ConfigError(f"init_from={base.init_from!r}: members side by side start from their own "
                          f"initialization; train runs that start from a checkpoint one by one")
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
    fitting_members(run, len(configs))
    varying = _Varying(run, configs)
    spread = jax.device_count() > 1 and len(configs) % jax.device_count() == 0
    if spread:  # each device trains its share vmapped, all at once (the measurement times one device)
        share = len(configs) // jax.device_count()
        form, why = "vmap", f"spread over the {jax.device_count()} devices, {share} per device"
    else:
        form, why = side_by_side(run, len(configs))
    if form is None:
        print(f"training {len(configs)} members one after another: {why}", flush=True)
        return _one_by_one(configs, workdirs, force)
    names = (_spec_text(base.model), _spec_text(base.dataset))
    example = jnp.asarray(run.loader.batch(0)["image"])
    members = []
    for i, (config, workdir) in enumerate(zip(configs, workdirs, strict=True)):
        loader = run.loader if config.seed == base.seed else run.loader.reseeded(config.seed)
        state = run.state if i == 0 else jax.device_put(
            create_checked_state(varying.components(i), example, config.seed, names), run.strategy.replicated)
        if i > 0 and base.ema_decay:  # (members differing in ema_decay are refused above)
            state = with_ema(state)
        if jax.tree.structure(state) != jax.tree.structure(run.state):  # (a decay of 0 leaves a part out)
            raise NotVectorizable(f"members differ in {', '.join(varying.differing())}, and member {i}'s values give "
                                  f"its optimizer state another structure than member 0's (a weight decay of 0 "
                                  f"against one that is not, say): they cannot share one program",
                                  varying.differing())
        members.append(_Member(config, pathlib.Path(workdir), loader, state))
    with contextlib.ExitStack() as stack:
        for member in members:  # one run at a time writes a workdir
            stack.enter_context(_lock.hold(member.workdir))
        return _train(run, members, varying, form, why, spread=spread, force=force)


class _Varying:
    """The members' optimizers and losses: the numbers in which they differ, and one
    training step that takes them as arguments (`step`).

    Raises:
        NotVectorizable: the specs differ in more than numbers, or in a number that
            cannot be traced.
    """

    def __init__(self, run, configs: Sequence[ml_collections.ConfigDict]):
        self.run = run
        self.trees = {"optimizer": [_varying.spec_tree("optimizer", schedules_lib.fit_to_run(
                          "optimizer", c.optimizer, run.num_steps)[0]) for c in configs],
                      "loss": [_varying.spec_tree("loss", c.loss) for c in configs]}
        self.numbers: dict[tuple, list] = {}
        other = []
        for field, trees in self.trees.items():
            numbers, differ = _varying.numbers_that_differ(trees)
            self.numbers.update({(field, *path): values for path, values in numbers.items()})
            other += [_varying.dotted(field, path) for path in differ]
        if other:
            raise NotVectorizable(f"members differ in {', '.join(other)} beyond numbers (a component, a string, "
                                  f"a list's length): they cannot share one program", other)
        batch = run.loader.batch(0)
        refused = _varying.traced_refusals(lambda values: jax.eval_shape(self._step_of(values), run.state, batch),
                                           self.numbers)
        if refused:
            shown = [_varying.dotted(path[0], path[1:]) for path in refused]
            agreeing: dict[tuple, list[int]] = {}
            for i in range(len(configs)):
                agreeing.setdefault(tuple(repr(self.numbers[path][i]) for path in refused), []).append(i)
            raise NotVectorizable(f"members differ in {', '.join(shown)}, which their factories need as concrete "
                                  f"numbers (a length, a Python test): they cannot share one program", shown,
                                  list(agreeing.values()))
        self.arrays = _varying.as_arrays(self.numbers) if self.numbers else None

    def differing(self) -> list[str]:
        """The varying numbers, as dotted config fields."""
        return [_varying.dotted(path[0], path[1:]) for path in self.numbers]

    def components(self, i: int) -> Any:
        """Member `i`'s components (its own optimizer and loss, built as a single run's)."""
        parts = self.run.components
        return dataclasses.replace(parts, optimizer=registry.build("optimizer", self.trees["optimizer"][i]),
                                   loss=registry.build("loss", self.trees["loss"][i]).prepare(
                                       parts.dataset.class_counts("train")))

    def step(self) -> Callable:
        """The members' training step: ``step(state, batch)``, or ``step(state, batch,
        numbers)`` when numbers vary (one member's, from `arrays`)."""
        if not self.numbers:
            return self.run.train_step.step
        return lambda state, batch, arrays: self._step_of(_varying.of_arrays(self.numbers, arrays))(state, batch)

    def _step_of(self, values: dict[tuple, Any]) -> Callable:
        """The training step with the varying numbers at `values` (traced, or not)."""
        parts = self.run.components
        built = {field: registry.build(field, _varying.with_numbers(trees[0], {
            path[1:]: value for path, value in values.items() if path[0] == field}))
            for field, trees in self.trees.items()}
        return make_train_step(parts.model, built["optimizer"], built["loss"].prepare(
            parts.dataset.class_counts("train")), parts.augment, parts.num_classes,
            ema_decay=self.run.config.ema_decay, ema_warmup=self.run.config.ema_warmup)


def vector_key(config: ml_collections.ConfigDict, numbers: bool = True) -> str:
    """What runs must share to train side by side: the config without its seed, progress,
    and (with `numbers`) the numbers of its optimizer and loss specs. Runs with equal keys
    may form one `train_population` (which still refuses numbers that cannot be traced).

    Examples:
        >>> from tricks.train import default_config
        >>> a, b = default_config(), default_config()
        >>> b.seed, b.optimizer.weight_decay = 1, 0.1
        >>> vector_key(a) == vector_key(b), vector_key(a, numbers=False) == vector_key(b, numbers=False)
        (True, False)
    """
    record = _workdir.config_record(complete(config))
    for field in ("seed", *_workdir.IGNORED_FIELDS):
        record.pop(field, None)
    if numbers:
        for field in ("optimizer", "loss"):
            record[field] = str(_varying.skeleton(_varying.spec_tree(field, config[field])))
    return json.dumps(record, sort_keys=True, default=str)


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
    ema_results: dict = dataclasses.field(default_factory=dict)  # the moving average's (ema_decay > 0)
    error: str | None = None
    stopped_at: int = 0


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
                kept = self._last[i] = (column, _stack(column))
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


def _stack(arrays: Sequence[Any]) -> jax.Array:
    """`arrays` stacked on a new leading axis, on the host (`jnp.stack` compiles a program
    for every shape: 0.5 s of a 10 s population of the digits MLP)."""
    return jax.device_put(np.stack([np.asarray(x) for x in arrays]))


def _one(host: Any, step: jax.Array, i: int) -> Any:
    """Member `i`'s state from the members' state copied to the host without its step
    counter (shared: `step`), back on the device (no program compiled to slice it)."""
    return jax.tree.map(lambda x: jax.device_put(x[i]), host).replace(step=step)


def _train(run, members: list[_Member], varying: _Varying, form: str, why: str, *, spread: bool,
           force: bool) -> list[dict[str, Any]]:
    base = run.config
    differing = (["seed"] if len({m.config.seed for m in members}) > 1 else []) + varying.differing()
    print(f"training {len(members)} members side by side (differing in {', '.join(differing) or 'nothing'}; "
          f"{form})", flush=True)
    print(f"  {why}", flush=True)
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
            member.writer.describe(record[member.workdir], [
                f"{prefix}/{split}/{name}" for prefix in eval_prefixes(run.state)
                for split in run.eval_loaders for name in run.eval_metrics.summed_classes])
        member.log = MetricsLog(member.writer, log_every=base.log_every, num_steps=num_steps,
                                histogram_every=base.histogram_every,
                                skips_nonfinite=skips_nonfinite(member.state.opt_state))
    if metas:
        print(f"resuming {len(members)} members from step {start}")
    state = jax.tree.map(lambda *xs: _stack(xs), *[m.state.replace(step=None) for m in members])
    # members spread over the devices: each device trains its own on whole batches
    by_member = NamedSharding(run.strategy.mesh, PartitionSpec("data")) if spread else run.strategy.replicated
    state = jax.device_put(state, jax.tree.map(lambda _: by_member, state.replace(step=None)))
    state = state.replace(step=jax.device_put(members[0].state.step, run.strategy.replicated))
    has_plateau = bool(metrics_lib.plateau_scales(members[0].state.opt_state))
    loader = _MemberLoader([m.loader for m in members])
    calls = Calls(varying.step(), run.strategy, _MemberBatches([m.batches for m in members], loader),
                  base.steps_per_call, (run.state, run.loader.batch(0)), run.train_metrics,
                  log_every=base.log_every, members=len(members),
                  constants=None if varying.arrays is None else jax.device_put(varying.arrays, by_member),
                  member_axis="data" if spread else None, member_form=form, histograms=base.histogram_every > 0)
    opened = [m.log.restore(metas[i].get("log") if metas else None, calls.summed_shapes)
              for i, m in enumerate(members)]
    if all(o is not None for o in opened):
        calls.resume(jax.tree.map(lambda *xs: _stack(xs), *opened))
    stops = Stops((run.eval_every, base.checkpoint_every), snapshots, num_steps)
    pace = Pace(MAX_CALL_SECONDS, base.log_every, adaptive=True, multiple=calls.window if calls.fixed else 1)
    live = list(range(len(members)))
    evaluators = [jax.jit(over_members(lambda s, b, ema=ema: run.eval_step(evaluated(s, ema), b), len(members),
                                       (member_axes(state), None), 0, form, "data" if spread else None))  # each batch
                  for ema in (False, True)[:1 + has_ema(run.state)]]  # the weights', the moving average's

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
            found = [_evaluate(e, state, run.eval_loaders, live) for e in evaluators] if evaluating else []
            # each member's state, for its checkpoint and its plateau schedule (an evaluation alone needs none)
            host = jax.device_get(state.replace(step=None)) if saving or has_plateau else None
            for i in live:
                member, common = members[i], None if host is None else _one(host, state.step, i)
                if evaluating:
                    member.results, member.ema_results = found[0][i], found[1][i] if len(found) > 1 else {}
                    member.writer.write(done, eval_records(member.results, member.ema_results))
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
            member.results, *ema = [_evaluate(e, state, run.eval_loaders, [i])[i] for e in evaluators]
            member.ema_results = ema[0] if ema else {}
        summary = {"step": int(num_steps), "eval": member.results[list(member.results)[-1]],
                   "splits": member.results, "train": member.log.latest, "wall_time_s": member.clock.elapsed(),
                   "snapshots": snapshots, "code_version": version,
                   "population": {"members": len(members), "member": i}}
        if member.ema_results:
            summary["eval_ema"], summary["splits_ema"] = member.ema_results[list(member.ema_results)[-1]], \
                member.ema_results
        (member.workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        summaries.append(summary)
    return summaries


def _one_by_one(configs: Sequence[ml_collections.ConfigDict], workdirs: Sequence[str | pathlib.Path],
                force: bool) -> list[dict[str, Any]]:
    """The members trained one after another, as `train_population` reports them."""
    summaries = []
    for config, workdir in zip(configs, workdirs, strict=True):
        try:
            summaries.append(train_and_evaluate(config, workdir, force=force))
        except NonFiniteLossError as exc:
            good = Checkpoints(workdir, read_only=True).steps()
            print(f"member {workdir}: {exc}", flush=True)
            summaries.append({"error": str(exc), "step": good[-1] if good else 0})
    return summaries


def _evaluate(evaluator, state, loaders: dict, members: Sequence[int]) -> dict[int, dict[str, dict]]:
    """`members`' evaluation metrics on every split, as `evaluate` gives one run's: all the
    members evaluated on each batch in one call, merged on the device, fetched once."""
    found: dict[int, dict[str, dict]] = {i: {} for i in members}
    for split, loader in loaders.items():
        merged = count = None
        for batch in loader.eval_batches():
            metrics, examples = evaluator(state, batch)
            merged = metrics_lib.Metrics.merge(merged, metrics)
            count = examples if count is None else count + examples
        merged, count = jax.device_get((merged, count))
        for i in members:
            found[i][split] = metrics_lib.Metrics.compute(jax.tree.map(lambda x: x[i], merged)) | {  # noqa: B023
                "examples": int(np.rint(count[i]))}
    return found


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
