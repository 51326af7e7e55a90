"""The training loop's calls: how many steps one jitted call runs, and in which form.

A call runs several steps in one jitted program and returns what the host logs
(`Called`): the call's summed metrics, merged on the device over its steps
(`tricks.metrics`: loss, accuracy, ...), the log-step metrics (norms, rates) of its last
step, and the first step whose loss or state became non-finite. Besides the state, the
calls carry the open log interval's sums from one to the next, on the device: each
step's metrics are added to them one by one, in step order, however the steps are
grouped into calls (where calls end follows the measured pace), so the records come out
bit for bit the same in every run of a config, resumed or not (sums merged call by call
on the host differed in the last bits). Calls end at log steps, so a call's sums never
straddle two log records, and the log-step metrics are computed once per call, after its last step,
outside any loop body: inside one, a `lax.cond` choosing log steps cost the MNIST-1D MLP
38 us of its 0.13 ms step on XLA:CPU; computed at every call's end, they need no second
compiled program for calls that end elsewhere (each program of the default MLP compiles
in about 1.5 s).

A call is a `fori_loop` whose trip count is traced (up to `AUTO_STEPS_PER_CALL` steps, so
any call length compiles once) over each segment's steps but the last, which runs after
the loop: the log-step metrics read its outputs (the gradients, for ``grad_norm`` and the
histograms), so no step's outputs are carried through the loop. Carried through it (until
session 30), the gradients cost the digits MLP 5-6% of its step on 2 CPU cores (against
the batched bare step, `tricks bench loop` and the programs alone: +1.7% to +2.3%
carried, -2.8% to -4.6% apart), the Fashion-MNIST MLP about 2%, the MNIST-1D MLP and
``deep_tanh`` nothing measurable. Why is not in the program: both loop bodies have the
same operations, and on one core, profiled, their steps differ by 2%. The price is the
step compiled twice: the default digits run's programs compile in 3.3-3.4 s instead of
2.7-3.0 (empty cache; a filled one skips it), which a run of it recovers after about
15,000 steps, and 8 of its seeds side by side take 6.9-8.2 s instead of 5.8-7.0 (`tricks
bench population`, empty caches).

On a CPU the step's convolutions are laid out first for XLA:CPU's fast kernels
(`tricks.train.canonical_convolutions`): XLA:CPU lays out only the convolutions outside
loops, and a weight gradient left as JAX derives it ran as a naive loop nest inside one.
Until session 25 the calls of convolutional models therefore ran 4 steps written out one
after the other on a CPU (a second form of call); laid out, the loop beats that (2-core
AMD EPYC with AVX2, `tricks bench loop` and `canonical_convolutions`'s figures, ms per
step, medians):

| model (batch) | bare, one step per call | bare, loop of 100, as derived | calls of 4, unrolled | loop, laid out |
|---|---|---|---|---|
| Fashion-MNIST `cnn` (128) | 75-81 | about 1260 | 61.7 | 51.1 |
| MNIST-1D `cnn1d` (100) | 0.86-0.91 | 3.6-3.8 | 0.73-0.76 | 0.72-0.77 |

A call starts from a window of stacked batches, one per step: gathered from the split
on the device (`DeviceLoader.gather`, in one gather for the whole window), or stacked
from per-step batches (`Sharded.stack_window`) where the call cannot gather them itself:
from Grain, and under `pmap` (whose devices each see only their own rows). Stacked calls
run exactly `window` steps (a shorter remainder runs as single-step calls) and end at log
steps; their default window is one log interval (at most `AUTO_STEPS_PER_CALL`), so each
interval is one call. Under `pmap` the call runs on every device, its summed metrics
added over them. A call that ends where a gradient histogram is due also counts its last
step's gradients into TensorBoard's buckets (`tricks.metrics.layer_histograms`), on the
device: no gradients leave it. Calls with and without histograms are one compiled program, choosing by a
`lax.cond` after the last step: a second program for them cost the default digits run
2.3 of its 4.9 s on 2 CPU cores (uncached), the one program 0.8 s (3.5 s in all). So
with ``histogram_every`` > 0 every call carries its last step's gradients, as the
default ``grad_norm`` metric's calls do anyway.

A gathering call takes each example's stored features as one flat row (the split seen as
``(examples, features)``) and gives a step's batch its shape after the conversion to
float: XLA:CPU copies flat rows whole, but Fashion-MNIST's ``(28, 28, 1)`` examples
element by element (41 steps' rows of batch 128: 3.2 ms against 0.4; in the
Fashion-MNIST MLP's calls 111 against 33 us a step, of 4.9 ms; one core). On a CPU a
window also holds at most `CPU_WINDOW_BYTES` of stored rows by default, so calls of large
batches run fewer steps (the MLP at batch 1024: 5 steps; Fashion-MNIST at 128: 41):
XLA:CPU gathered rows at 11-13 GB/s into windows of up to 6.4 MB, at 3-4 GB/s into 13-50
MB, and at 0.75 GB/s into the 80 MB of 100 steps at batch 1024, a buffer that
page-faulted on every one of its 19,600 pages at every call (about 5 us each on this
virtual machine). The MLP's loop at batch 1024 took 16.0 ms a step against the bare
step's 13.0 with 100-step windows, and 14.1 against 14.1 with 5-step ones (`tricks bench
step`, 2-core AMD EPYC with AVX2). Accelerators keep 100-step windows (their memory comes
from a pool; not measured).
"""

from __future__ import annotations

import bisect
import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tricks import metrics as metrics_lib
from tricks import optimizers
from tricks.train._convolutions import canonical_convolutions
from tricks.train._members import member_axes, over_members

AUTO_STEPS_PER_CALL = 100
"""Steps one loop-form call runs at most by default (``steps_per_call=0``)."""

CPU_WINDOW_BYTES = 4 * 2**20
"""On a CPU, the most bytes of stored training rows one gathering call's window holds by
default: it runs at most that many bytes' worth of steps (see the module)."""

MAX_CALL_SECONDS = 0.5
"""About how long one training call runs at most (`Pace`), so progress and log records
come at least this often."""


@dataclasses.dataclass
class Called:
    """What one jitted call of `count` steps after step `first` returned.

    Its results come packed in one vector (`Packing`: one transfer to the host, fetched by
    `results`): for each *segment* of the call (its steps up to and between log steps)
    the summed metrics merged over the segment's steps and the log-step metrics of its
    last step; the first step whose state gave a non-finite loss, or is itself
    non-finite after the call (-1 if none); and, if asked for, the histograms of its last
    step's gradients per layer.

    Attributes:
        first: the step before the call's first.
        count: how many steps it ran.
        values: the packed results, on the device.
        packing: how they unpack.
        log_every: the run's log interval (where segments end).
        histograms: whether the results hold gradient histograms.
        member: in a call of several members (`Calls` with ``members``), whose results
            these are: `values` holds all of theirs, one row each (fetched once).
    """

    first: int
    count: int
    values: jax.Array
    packing: Packing
    log_every: int
    histograms: bool = False
    member: int | None = None

    def results(self) -> Outcome:
        """What the call found, on the host (waits for the call)."""
        values = np.asarray(self.values)  # (a jax.Array keeps its host copy: fetched once for all members)
        found = self.packing.unpack(values if self.member is None else values[self.member])
        ends = segment_ends(self.first, self.count, self.log_every)
        segments = [(end, *jax.tree.map(lambda x: x[i], (found["summed"], found["logged"])))  # noqa: B023
                    for i, end in enumerate(ends)]
        return Outcome(segments, int(found["bad"]), found.get("histograms") if self.histograms else None,
                       int(found["state_bad"]), int(found["skipped"]))


class Outcome(NamedTuple):
    """A call's results on the host (`Called.results`).

    Attributes:
        segments: ``[(segment end, summed, logged), ...]``: the log interval's summed
            metrics up to each segment's end and the log-step metrics there.
        bad: the first step whose loss was non-finite, or the call's last step if the
            state is non-finite after it (-1: neither).
        histograms: layer -> `tricks.metrics.histogram_counts` of the last step's
            gradients, or None.
        state_bad: the call's last step if the parameters are non-finite after it, else -1.
        skipped: the updates skipped in a row up to the call's end by `skip_nonfinite`
            (-1 without it).
    """

    segments: list[tuple[int, dict, dict]]
    bad: int
    histograms: dict | None
    state_bad: int
    skipped: int


def segment_ends(first: int, count: int, log_every: int) -> list[int]:
    """The last steps of the segments of a call of `count` steps after `first`: its log
    steps and its own last step.

    Examples:
        >>> segment_ends(15, 30, 10)  # steps 16 to 45
        [20, 30, 40, 45]
        >>> segment_ends(10, 10, 10)
        [20]
    """
    return [*range((first // log_every + 1) * log_every, first + count, log_every), first + count]


def window_bytes(dataset: Any, batch: dict, members: int = 1) -> int:
    """Bytes one step's rows take in a gathered window: `batch`'s rows as `dataset` stores
    them (uint8 pixels: one byte each) and their labels, for each of `members`.

    Examples:
        >>> from types import SimpleNamespace
        >>> images = SimpleNamespace(input_shape=(28, 28, 1), dtype=np.uint8)
        >>> window_bytes(images, {"label": np.zeros(1024, np.int32)})  # 784 + 4 bytes a row
        806912
    """
    label = np.dtype(batch["label"].dtype).itemsize
    row = int(np.prod(dataset.input_shape)) * np.dtype(dataset.dtype).itemsize
    return members * len(batch["label"]) * (row + label)


class Packing:
    """A pytree of float32 and int32 arrays packed into one int32 vector and back, bit for bit.

    Floats travel as their bits in int32 lanes rather than ints in float32 lanes: XLA:CPU
    runs with denormals flushed to zero, and an int32 count bitcast to float32 is a
    denormal, which a copy inside a `pmap` program turned into 0 (every training loss and
    accuracy under pmap were logged as null until session 15).

    Examples:
        >>> tree = {"a": jnp.array([0.0, 1.5, -2.0]), "n": jnp.int32(2**30 + 1), "tiny": jnp.float32(1e-40)}
        >>> packing = Packing(jax.eval_shape(lambda: tree))
        >>> back = packing.unpack(np.asarray(packing.pack(tree)))
        >>> back["a"].tolist(), int(back["n"]) == 2**30 + 1, float(back["tiny"]) == float(np.float32(1e-40))
        ([0.0, 1.5, -2.0], True, True)
    """

    def __init__(self, shapes: Any = None):
        if shapes is not None:
            self.describe(shapes)

    def describe(self, tree: Any) -> None:
        """Takes the layout of `tree` (arrays, tracers or shapes) as the one to unpack."""
        self._leaves, self._treedef = jax.tree.flatten(
            jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), tree))
        self._ends = np.cumsum([int(np.prod(leaf.shape)) for leaf in self._leaves])[:-1]

    @staticmethod
    def pack(tree: Any) -> jax.Array:
        parts = [x if x.dtype == jnp.int32 else jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.int32)
                 for x in jax.tree.leaves(tree)]
        return jnp.concatenate([jnp.ravel(x) for x in parts])

    def unpack(self, vector: np.ndarray) -> Any:
        parts = []
        for leaf, part in zip(self._leaves, np.split(vector, self._ends), strict=True):
            part = part if leaf.dtype == np.int32 else part.view(np.float32).astype(leaf.dtype)
            parts.append(part.reshape(leaf.shape))
        return jax.tree.unflatten(self._treedef, parts)


class Calls:
    """A run's compiled training calls: ``run(state, count, histograms, logged) -> (state, [Called])``.

    Args:
        step: the pure ``train_step(state, batch) -> (state, outputs)``.
        strategy: the data-parallel strategy (`Sharded` or `Pmap`: it compiles the calls).
        batches: the training iterator (`StepIterator`), at the run's first step.
        steps_per_call: the config's field (0: the form's default).
        example: ``(state, batch)``, to trace the step once (metric shapes, convolutions).
        metrics: the training metrics (`tricks.metrics.Metrics`).
        log_every: steps between log records (segments end at log steps).
        members: 0, or how many runs train side by side (`tricks.train.train_population`):
            then `step` is one member's, and the state, the sums and the results have a
            leading member axis (but one step counter); `batches` gives windows of the
            members' data stacked on it, and its loader says which arguments are
            stacked (``axes``).
        constants: if given, a pytree passed to every step as ``step(state, batch,
            constants)`` (with `members`, stacked on the member axis: each member's
            numbers, such as its learning rate).
        member_axis: with `members`, the mesh axis the member axis is split over (each
            device training its own members on whole batches), or None (every member's
            batch split over the devices, as one run's).
        member_form: with `members`, how the call is mapped over them
            (`tricks.train._members.FORMS`: ``vmap`` or ``map``).
        histograms: whether calls may be asked for gradient histograms (the run's
            ``histogram_every`` > 0): then every call carries its last step's gradients,
            and counts them into histograms where asked, in the same compiled program.

    Attributes:
        fixed: whether calls run exactly `window` steps (fed stacked batches; a remainder
            then runs as single-step calls), else up to `window`.
        window: the steps one jitted call runs at most.
        longest: the most steps one `run` should be asked for: `window`, or a multiple of
            it near `AUTO_STEPS_PER_CALL` (several jitted calls).

    Examples:
        >>> from tricks import train
        >>> from tricks.metrics import TRAIN_OUTPUTS, Metrics
        >>> cfg = train.default_config()
        >>> run = train.setup(cfg)  # doctest: +ELLIPSIS
        >>> calls = Calls(run.train_step.step, run.strategy, run.loader.iterate(0), 0,
        ...               (run.state, run.loader.batch(0)), Metrics(cfg.train_metrics, TRAIN_OUTPUTS), log_every=20)
        >>> calls.fixed, calls.window
        (False, 100)
        >>> state, called = calls.run(jax.tree.map(jnp.copy, run.state), 30)
        >>> found = called[0].results()
        >>> int(state.step), len(called), found.bad, [end for end, _, _ in found.segments]
        (30, 1, -1, [20, 30])
        >>> sorted(Metrics.compute(found.segments[0][1])), "grad_norm" in Metrics.compute(found.segments[0][2])
        (['accuracy', 'loss'], True)
    """

    def __init__(self, step: Callable, strategy: Any, batches: Any, steps_per_call: int, example: tuple,
                 metrics: metrics_lib.Metrics, log_every: int = 1, members: int = 0, constants: Any = None,
                 member_axis: str | None = None, member_form: str = "vmap", histograms: bool = True):
        self._step = canonical_convolutions(step)  # (on a CPU: see the module)
        self._strategy, self._batches, self._metrics = strategy, batches, metrics
        self.histograms = histograms
        self.members, self._constants, self._member_axis = members, constants, member_axis
        self.member_form = member_form
        one = constants if constants is None or not members else jax.tree.map(lambda x: x[0], constants)
        self._axis, self._log_every = strategy.axis_name, log_every
        # windows gathered on the device by the call itself, or stacked from per-step batches (Grain; pmap)
        self._gathers = getattr(batches.loader, "on_device", False) and self._axis is None
        self.fixed = not self._gathers  # calls of exactly `window` steps, or of one
        # (stacked calls end at log steps: one call per interval)
        default = AUTO_STEPS_PER_CALL if self._gathers else min(AUTO_STEPS_PER_CALL, log_every)
        if self._gathers and jax.default_backend() == "cpu":  # (large windows page-fault: see the module)
            default = min(default, max(1, CPU_WINDOW_BYTES // window_bytes(batches.loader.dataset, example[1],
                                                                            max(members, 1))))
        self.window = steps_per_call or default
        self.longest = self.window if not self.fixed else max(self.window, AUTO_STEPS_PER_CALL // self.window
                                                               * self.window)
        summed = lambda s, b: self._one(s, b, one)[2]  # noqa: E731
        # traced on the example itself, as the calls trace it, so that the step's jaxpr is
        # reused (`canonical_convolutions`); under pmap, vmapped for the axis name
        if self._axis is None:
            self.summed_shapes = jax.eval_shape(summed, *example)
        else:
            mapped = jax.tree.map(lambda x: jax.ShapeDtypeStruct((1, *np.shape(x)), x.dtype), example)
            sums = jax.eval_shape(jax.vmap(summed, axis_name=self._axis), *mapped)
            self.summed_shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), sums)
        self._open = None  # the open log interval's sums, on the device (None: it starts afresh)
        self._zeros = None  # an interval's first sums (made once)
        self._programs: dict[tuple[int, bool], tuple[Callable, Packing]] = {}
        self.dispatched = 0  # jitted calls made (one `run` may make several)

    def run(self, state: Any, count: int, histograms: bool = False, logged: bool = True
            ) -> tuple[Any, list[Called]]:
        """Runs `count` steps from `state`; with `histograms`, the last call also returns
        its last step's gradient histograms.

        A call that gathers its window runs them all, in segments; fixed calls (stacked
        windows) split them at log steps, then into calls of `window` steps and
        single-step remainders. Without `logged` (`count` does not end at a log step), a
        single-step call there skips the log-step metrics (under pmap every step is one);
        longer calls always compute them.
        """
        if histograms and not self.histograms:
            raise ValueError("these calls were made without histograms (Calls(histograms=False))")
        first = int(self._batches.step)
        if self.fixed:
            sizes = []
            for end in segment_ends(first, count, self._log_every):
                size = end - first - sum(sizes)
                sizes += [self.window] * (size // self.window) + [1] * (size % self.window)
        else:
            sizes = [count]
        called = []
        for i, size in enumerate(sizes):
            first_i = first + sum(sizes[:i])
            last = i == len(sizes) - 1
            at_log = (first_i + size) % self._log_every == 0 or (last and logged)
            state, values, packing, sums = self._call(state, size, histograms and last, at_log)
            self._open = None if at_log else sums  # a log step closes the interval
            called.append(Called(first_i, size, values, packing, self._log_every, histograms and last))
        return state, called

    def resume(self, sums: Any) -> None:
        """Starts the open log interval from `sums` (host arrays in the structure of the
        summed metrics, as `MetricsLog.state` saved them), as if the steps before had run."""
        self._open = self._strategy.to_train(jax.device_put(sums, self._strategy.replicated))

    def _opened(self) -> Any:
        """The open interval's sums on the device (zeros when it starts at this call)."""
        if self._open is not None:
            return self._open
        if self._zeros is None:
            lead = (self.members,) if self.members else ()
            zeros = jax.tree.map(lambda x: np.zeros((*lead, *x.shape), x.dtype), self.summed_shapes)
            self._zeros = self._strategy.to_train(jax.device_put(zeros, self._strategy.replicated))
        return self._zeros

    def _call(self, state, size: int, histograms: bool, logged: bool):
        self.dispatched += 1
        length = 1 if size == 1 and self.fixed else self.window  # the compiled window (`size` <= it)
        key = (length, logged or length > 1)
        if key not in self._programs:
            self._programs[key] = self._compile(*key, state)
        program, packing = self._programs[key]
        constants = () if self._constants is None else self._constants
        state, values, sums = program(state, self._opened(), np.int32(size), np.bool_(histograms), constants,
                                      *self._window(size, length))
        return state, self._strategy.metrics(values), packing, sums

    def _one(self, state, batch, constants):
        """A step and its summed metrics (added over the devices under pmap)."""
        state, outputs = self._step(state, batch) if self._constants is None else self._step(state, batch, constants)
        summed = self._metrics.summed(outputs)
        if self._axis is not None:
            summed = jax.lax.psum(summed, self._axis)
        return state, outputs, summed

    def _logged(self, state, outputs, logged: bool) -> dict:
        """The log-step metrics after a step (``{}`` without `logged`)."""
        return self._metrics.at_log_step(outputs | {"params": state.params, "opt_state": state.opt_state}) \
            if logged else {}

    def _finish(self, state, outputs, summed, logged, losses, count, histograms):
        """The call's results after its last step; `summed` and `logged` have a leading
        segment axis.

        `losses` holds the call's per-step losses (the first `count` count): the first
        non-finite one names its step, checked once here rather than at every step (on
        XLA:CPU each scalar operation in a loop body costs microseconds, up to tens on
        digits' MLP: see `tools/benchmarks/loop.py`). Where
        `histograms` (traced) holds, the last step's gradients are counted into histograms
        (zeros otherwise: a `lax.cond`, so calls with and without them share one program).
        """
        failed = ~jnp.isfinite(losses) & (jnp.arange(losses.shape[0]) < count)
        bad = jnp.where(jnp.any(failed), state.step - count + jnp.argmax(failed).astype(jnp.int32), -1)
        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(state.params)]))
        bad = jnp.where((bad < 0) & ~finite, state.step, bad).astype(jnp.int32)
        results = {"summed": summed, "logged": logged, "bad": bad,
                   "state_bad": jnp.where(finite, -1, state.step).astype(jnp.int32),
                   "skipped": optimizers.consecutive_skips(state.opt_state)}
        if self.histograms:
            shapes = jax.eval_shape(metrics_lib.layer_histograms, outputs["grads"])
            results["histograms"] = jax.lax.cond(
                histograms, metrics_lib.layer_histograms,
                lambda _: jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes), outputs["grads"])
        return results

    def _window(self, size: int, length: int) -> tuple:
        """The data arguments of a call of `size` steps compiled for `length` (stacked
        windows: `size` == `length`)."""
        if self._gathers:
            return self._batches.next_window(size, length)
        return (self._strategy.stack_window([next(self._batches) for _ in range(size)]),)

    def _compile(self, length: int, logged: bool, example: Any) -> tuple[Callable, Packing]:
        """``(state, opened, count, histograms, constants, *window) -> (state, packed results, sums)``:
        `count` <= `length` steps from the open interval's sums `opened` to those after the last step
        (with gradient histograms where `histograms`),
        compiled by the strategy (`Sharded.compile_calls`: under pmap each device runs it on
        its rows), and the results' `Packing`; `example` is a state in the strategy's
        training layout.

        The window's batches are stacked before the first step: gathered on the device in
        one go (XLA:CPU gathers 100 rows of MNIST-1D in 17 us one step at a time, in 1.6 us
        as part of one gather of 100 steps' rows), or stacked from per-step batches
        (`Sharded.stack_window`).
        """
        stack = lambda tree: jax.tree.map(lambda x: x[None], tree)  # noqa: E731  (one segment)
        mapped = self._axis is not None  # (pmap: each device's program sees its own rows)
        sharding = self._strategy.batch_sharding
        stacked_sharding = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec(None, "data"))
        # (under pmap each device sees its own rows; members spread over the devices keep their batches whole)
        constrain = (lambda tree, _: tree) if mapped or self._member_axis else jax.lax.with_sharding_constraint
        loader, every = self._batches.loader, self._log_every
        segments = length // every + 2  # at most, in a call of `length` steps
        # the outputs the call reads after a step: the loss, what the log-step metrics read,
        # the gradients for histograms; the others (an update, logits) are not carried
        kept = {"loss"} | self._metrics.log_step_needs | ({"grads"} if self.histograms else set())

        def call(state, opened, count, histograms, constants, *args):
            if self._gathers:  # the rows as stored (uint8 pixels: a quarter of float32's memory traffic),
                # each example one flat row of the split (the first argument): see the module
                steps = state.step + jnp.arange(length, dtype=jnp.int32)
                flat = (args[0].reshape(args[0].shape[0], -1), *args[1:])
                window = jax.vmap(lambda step: loader.gather(step, *flat, scale=None))(steps)
            else:
                window = args[0]
            window = constrain(window, stacked_sharding)

            def one(i, state):
                batch = jax.tree.map(lambda x: x[i], window)
                if self._gathers:
                    image = loader.dataset.to_float(batch["image"])
                    batch["image"] = image.reshape(image.shape[0], *args[0].shape[1:])
                state, outputs, summed = self._one(state, constrain(batch, sharding), constants)
                return state, {key: value for key, value in outputs.items() if key in kept}, summed

            if length == 1:  # a single step (a fixed call's remainder), no loop: one segment
                state, outputs, step_summed = one(0, state)
                summed = metrics_lib.Metrics.merge(opened, step_summed)
                logged_ = stack(self._logged(state, outputs, logged))
                return state, self._finish(state, outputs, stack(summed), logged_, outputs["loss"][None], 1,
                                           histograms), summed

            # the loop form: segments up to each log step, each a fori_loop over its steps but
            # the last, then the last, whose outputs the log-step metrics read (so that no
            # step's outputs are carried through the loop: see the module); the first segment
            # goes on from the open interval's sums
            first, end = state.step, state.step + count
            shapes = jax.eval_shape(lambda s: one(0, s), state)
            zeros = lambda tree: jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), tree)  # noqa: E731
            empty, outputs = zeros(shapes[2]), zeros(shapes[1])
            per_segment = lambda tree: jax.tree.map(  # noqa: E731
                lambda x: jnp.zeros((segments, *x.shape), x.dtype), tree)
            logged_shape = jax.eval_shape(lambda s, o: self._logged(s, o, True), shapes[0], shapes[1])

            def body(i, carry):
                state, summed, losses = carry
                state, outputs, step_summed = one(i, state)
                return state, metrics_lib.Metrics.merge(summed, step_summed), losses.at[i].set(outputs["loss"]), outputs

            def segment(carry):
                state, j, summed_all, logged_all, losses, _ = carry
                last = jnp.minimum((state.step // every + 1) * every, end) - first - 1
                start = jax.tree.map(lambda o, e: jnp.where(j == 0, o, e), opened, empty)
                carry = jax.lax.fori_loop(state.step - first, last, lambda i, c: body(i, c)[:3], (state, start, losses))
                state, summed, losses, outputs = body(last, carry)
                put = lambda all_, one_: jax.tree.map(lambda a, b: a.at[j].set(b), all_, one_)  # noqa: E731
                return (state, j + 1, put(summed_all, summed), put(logged_all, self._logged(state, outputs, True)),
                        losses, outputs)

            carry = (state, jnp.int32(0), per_segment(shapes[2]), per_segment(logged_shape),
                     jnp.zeros(length, shapes[1]["loss"].dtype), outputs)
            state, segments_run, summed_all, logged_all, losses, outputs = jax.lax.while_loop(
                lambda c: c[0].step < end, segment, carry)
            return (state, self._finish(state, outputs, summed_all, logged_all, losses, count, histograms),
                    jax.tree.map(lambda x: x[segments_run - 1], summed_all))

        # laid out as the program is traced (at its first call), from one device's and one
        # member's results (a trace of its own for their shapes took 0.2 s of the default
        # run's 1.3 s warm start)
        packing = Packing()

        def program(*args):
            state, results, sums = call(*args)
            packing.describe(results)
            return state, Packing.pack(results), sums

        if self.members:  # each member's call, side by side: one step counter, the rest per member
            state_axes = member_axes(example)
            in_axes = (state_axes, 0, None, None, 0, *self._batches.loader.axes)
            program = over_members(program, self.members, in_axes, (state_axes, 0, 0), self.member_form,
                                   self._member_axis)
        return self._strategy.compile_calls(program), packing


class Pace:
    """How far one training call may run, so the host hears from the device about every
    `seconds` (progress, log records) however slow a step is.

    Until the pace is measured, and always with several processes (whose calls must stop
    at the same steps), a call runs to the next log step. Then it runs as many steps as
    the recent calls ran in `seconds`, rounded down to a multiple of `multiple` (fixed
    calls' length), at least one such multiple: the host waits for each call's
    rows before it dispatches the one after next, so the time between consecutive calls,
    over the steps of a call, is the device's time per step (the median of the last few).
    Time the loop spends elsewhere (an `on_call` hook) is left out (`exclude`).

    Examples:
        >>> pace = Pace(0.5, log_every=20, adaptive=False)
        >>> pace.until(45)  # the next log step
        60
    """

    def __init__(self, seconds: float, log_every: int, *, adaptive: bool, multiple: int = 1):
        self.seconds, self.log_every, self.adaptive, self.multiple = seconds, log_every, adaptive, multiple
        self._last: tuple[float, int] | None = None
        self._per_step: list[float] = []
        self._excluded = 0.0

    def until(self, step: int) -> int:
        """The last step a call that starts after `step` may run to."""
        if not (self.adaptive and self._per_step):
            return (step // self.log_every + 1) * self.log_every
        steps = int(self.seconds / statistics.median(self._per_step))
        return step + max(self.multiple, steps - steps % self.multiple)

    def called(self, count: int) -> None:
        """Notes that a call of `count` steps is being dispatched now."""
        now = time.perf_counter()
        if self._last is not None:
            began, steps = self._last
            self._per_step = (self._per_step + [max(now - began - self._excluded, 0.0) / steps])[-5:]
        self._last, self._excluded = (now, count), 0.0

    def exclude(self, seconds: float) -> None:
        """Leaves `seconds` spent since the last call out of its time."""
        self._excluded += seconds


class Stops:
    """The steps where the loop must regain control: evaluation, checkpoint, snapshot, end.

    Examples:
        >>> Stops((10, 0), snapshots=[12], num_steps=50).after(10)
        12
    """

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
