"""Log records from the training calls: summed metrics over each log interval, the others at the log step.

Each training call returns, for each of its segments (its steps up to and between log
steps), the log interval's summed metrics up to the segment's last step (the calls carry
an open interval's sums from one to the next) and the log-step metrics of that step
(`tricks.train._calls.Called`), packed in one vector. At every log step (a multiple of
``log_every``, and the run's last step) `MetricsLog` writes the computed records
(`tricks.metrics`).
A call's results are fetched when ready (`poll`), or at the latest when the next call's
arrive, before an evaluation or a checkpoint, and at the end (`finish`): the host never
waits for the call it has just dispatched, so the device stays busy while it writes. A
non-finite loss or state is therefore reported a call late, but always before anything
is saved, with the step at which it happened.

With several processes every call's results are written before the next call (`add`
waits): there, with jax 0.10.2's CPU collectives (gloo), a fetch overlapping the next
training steps deadlocked both processes inside a training step (`tests/train/test_scale.py`).
"""

from __future__ import annotations

import collections
from typing import Any

import jax
import numpy as np

from tricks import metrics as metrics_lib
from tricks.train._calls import Called
from tricks.train._writers import Writer


MIN_SKIPPED_TO_STOP = 10
"""A run whose optimizer skips non-finite updates (`tricks.optimizers.skip_nonfinite`) stops
when every update of a log interval, and at least this many in a row, were skipped."""


class NonFiniteLossError(FloatingPointError):
    """The training loss (or the state) became NaN or infinite; the message names the step."""


class MetricsLog:
    """Log records from per-step metric rows, written without waiting for the device.

    Args:
        writer: where the metrics go (``train/...`` scalars, ``train/grads/...`` histograms).
        log_every: steps between log records.
        num_steps: the run's last step (always logged).
        histogram_every: gradient histograms at the first log step, then at the first
            log step at or past each multiple of this many steps (0: none), counted on
            the device by the call that ends there (`tricks.metrics.histogram_counts`).
        skips_nonfinite: whether the optimizer skips non-finite updates; if not, a
            non-finite loss raises `NonFiniteLossError`; if so, a run of skipped updates
            as long as a log interval (and `MIN_SKIPPED_TO_STOP`) does.
        histograms: whether this process fetches and writes the histograms (the chief
            does); every process keeps the same schedule (`next_histogram`), so their
            training calls stop at the same steps.

    Attributes:
        latest: the metrics of the newest log step written (``{}`` before the first).

    Examples:
        >>> import jax.numpy as jnp, registry
        >>> from tricks.train._calls import Packing
        >>> log = MetricsLog(Writer(), log_every=2, num_steps=3, histogram_every=0,
        ...                  skips_nonfinite=False)
        >>> loss = registry.build("metric", "loss")
        >>> def called(first, count, losses):  # a one-segment call: its interval's loss so far
        ...     summed = jax.tree.map(lambda x: x[None], {"loss": loss.from_model_output(loss=jnp.array(losses))})
        ...     results = {"summed": summed, "logged": {}, "bad": jnp.int32(-1), "state_bad": jnp.int32(-1),
        ...                "skipped": jnp.int32(-1)}
        ...     packing = Packing(jax.eval_shape(lambda: results))
        ...     return Called(first, count, packing.pack(results), packing, log_every=2)
        >>> log.add([called(0, 1, [4.0]), called(1, 1, [4.0, 2.0])])  # steps 1 and 2: one interval
        >>> log.add([called(2, 1, [1.0])])  # step 3, the run's last
        >>> log.finish()
        >>> log.latest  # step 3's own loss; step 2 logged the mean of 4 and 2
        {'loss': 1.0}
    """

    def __init__(self, writer: Writer, *, log_every: int, num_steps: int,
                 histogram_every: int, skips_nonfinite: bool, histograms: bool = True):
        self._writer, self._histograms = writer, histograms
        self._log_every, self._num_steps = log_every, num_steps
        self._histogram_every, self._skips_nonfinite = histogram_every, skips_nonfinite
        self._summed: dict[str, Any] | None = None  # the open interval's sums, as last written
        self._last_histogram: int | None = None
        self._pending: collections.deque[Called] = collections.deque()
        self.latest: dict[str, Any] = {}

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the log, as JSON, so a run resumed from it logs what
        an uninterrupted one does: the sums of the log interval still open (each leaf's
        dtype, shape and values: float32 values are exact as JSON numbers), the newest
        record (``latest``, the summary's ``train`` even when nothing is left to run) and
        the step of the last histogram. Call it after `finish`.

        Examples:
            >>> log = MetricsLog(Writer(), log_every=10, num_steps=100, histogram_every=0, skips_nonfinite=False)
            >>> log.state()
            {'window': None, 'latest': {}, 'last_histogram': None}
        """
        window = None
        if self._summed is not None:
            window = [{"dtype": str(leaf.dtype), "shape": list(leaf.shape), "values": leaf.ravel().tolist()}
                      for leaf in (np.asarray(x) for x in jax.tree.leaves(self._summed))]
        return {"window": window, "latest": self.latest, "last_histogram": self._last_histogram}

    def restore(self, state: dict[str, Any] | None, sums_like: Any) -> Any:
        """Takes back a `state` saved with a checkpoint (None: that checkpoint kept none).

        Returns:
            The open interval's sums as host arrays in the structure of `sums_like` (for
            `Calls.resume`), or None: none open, or saved by a run with other training
            metrics (its interval then starts afresh).
        """
        if state is None:
            return None
        self.latest = dict(state["latest"])
        self._last_histogram = state["last_histogram"]
        self._summed = _sums(state["window"], sums_like) if state["window"] else None
        return self._summed

    def logs_at(self, step: int) -> bool:
        """Whether `step` is a log step."""
        return step % self._log_every == 0 or step == self._num_steps

    def next_histogram(self, step: int) -> int | float:
        """The first log step after `step` at which a histogram is due (`inf`: none). The
        call that runs it returns that step's gradients (`Calls.run`)."""
        every, log_every = self._histogram_every, self._log_every
        if not every:
            return float("inf")
        first = (step // log_every + 1) * log_every
        if self._last_histogram is None:
            return first
        due = (self._last_histogram // every + 1) * every
        return max(first, -(-due // log_every) * log_every)

    def add(self, called: list[Called]) -> None:
        """Takes a call's results (dispatched; fetched later). Results still pending from an
        earlier call are written first; with several processes, these too."""
        if called and called[-1].histograms:
            self._last_histogram = called[-1].first + called[-1].count
        self.finish()
        self._pending.extend(called)
        if jax.process_count() > 1:  # see the module's docstring
            self.finish()

    def poll(self) -> None:
        """Writes the pending results that are computed; never waits."""
        while self._pending and self._pending[0].values.is_ready():
            self._write(self._pending.popleft())

    def finish(self) -> None:
        """Waits for the pending results and writes them.

        Raises:
            NonFiniteLossError: the loss, or the state after a call, was non-finite at a
                step of them (the first such step in the message; the log steps before it
                are written), unless the optimizer skips non-finite updates.
        """
        while self._pending:
            self._write(self._pending.popleft())

    def _write(self, called: Called) -> None:
        found = called.results()
        if found.bad >= 0 and not self._skips_nonfinite:
            self._pending.clear()
            raise NonFiniteLossError(
                f"the training loss became non-finite at step {found.bad}; lower the learning rate, "
                f"add gradient clipping, or wrap the optimizer to skip non-finite updates"
            )
        if found.state_bad >= 0:  # (skipping keeps the parameters finite: this is a bug)
            self._pending.clear()
            raise NonFiniteLossError(f"the parameters became non-finite at step {found.state_bad}")
        for end, summed, logged in found.segments:
            self._summed = summed  # the interval's sums up to the segment's end (see `Calls`)
            if self.logs_at(end):
                self.latest = metrics_lib.Metrics.compute(self._summed, logged)
                self._writer.write(end, {f"train/{k}": v for k, v in self.latest.items()})
                self._summed = None
        if found.histograms is not None and self._histograms:
            self._writer.histograms(called.first + called.count,
                                    {f"train/grads/{k}": v for k, v in found.histograms.items()})
        if found.skipped >= max(self._log_every, MIN_SKIPPED_TO_STOP):
            self._pending.clear()
            end = called.first + called.count
            raise NonFiniteLossError(
                f"the last {found.skipped} updates (to step {end}) were all skipped as non-finite: the run has "
                f"diverged; lower the learning rate or add gradient clipping")


def _sums(window: list[dict], like: Any) -> Any:
    """Saved sums (`MetricsLog.state`) in the structure of `like`; None where they do not
    fit it (a run continued with other training metrics: its interval starts afresh)."""
    leaves, treedef = jax.tree.flatten(like)
    if len(window) != len(leaves) or any(list(np.shape(x)) != w["shape"] for x, w in zip(leaves, window)):
        return None
    return jax.tree.unflatten(treedef, [np.asarray(w["values"], w["dtype"]).reshape(w["shape"]) for w in window])
