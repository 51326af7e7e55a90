"""Log records from the rows of training calls: interval means, values at the log step.

Each training call returns one row of metrics per step (`tricks.train._calls.Calls`,
`step_metrics`, `norm_metrics`). `MetricsLog` reduces them on the host: at every log
step (a multiple of ``log_every``, and the run's last step) it writes the mean of the
averaged metrics (`averaged`: loss, accuracy) over the steps since the previous log step,
and the others (hyperparameters, gradient and parameter norms) as they were at the log
step. A
call's rows are fetched when ready (`poll`), or at the latest when the next call's rows
arrive, before an evaluation or a checkpoint, and at the end (`finish`): the host never
waits for the call it has just dispatched, so the device stays busy while it writes. A
non-finite loss is therefore reported a call late, but always before anything is saved,
with the step at which it happened.

With several processes every call's rows are written before the next call (`add` waits):
there, with jax 0.10.2's CPU collectives (gloo), a fetch overlapping the next training
steps deadlocked both processes inside a training step (`tests/train/test_scale.py`).
"""

from __future__ import annotations

import collections
from typing import Any

import jax
import numpy as np

from tricks.train._calls import Rows
from tricks.train._gradients import layer_values
from tricks.train._step import averaged
from tricks.train._writers import Writer


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the step."""


class MetricsLog:
    """Log records from per-step metric rows, written without waiting for the device.

    Args:
        writer: where the metrics go (``train/...`` scalars, ``train/grads/...`` histograms).
        strategy: the data-parallel strategy (`metrics` gives one copy of the gradients).
        names: the rows' column names (`Calls.names`).
        log_every: steps between log records.
        num_steps: the run's last step (always logged).
        histogram_every: gradient histograms at the first log step, then at the first
            log step at or past each multiple of this many steps (0: none). Each costs
            about 2.5 ms of host time for the default MLP's 85k gradients, taken from the
            training computation on a CPU.
        skips_nonfinite: whether the optimizer skips non-finite updates; if not, a
            non-finite loss raises `NonFiniteLossError`.
        histograms: whether this process fetches and writes the histograms (the chief
            does); every process keeps the same schedule (`next_histogram`), so their
            training calls stop at the same steps.

    Attributes:
        latest: the metrics of the newest log step written (``{}`` before the first).

    Examples:
        >>> import jax.numpy as jnp
        >>> from tricks.train._parallel import sharded
        >>> log = MetricsLog(Writer(), sharded(), ["learning_rate", "loss"], log_every=2, num_steps=3,
        ...                  histogram_every=0, skips_nonfinite=False)
        >>> log.add([Rows(0, 3, jnp.array([[0.1, 4.0], [0.2, 2.0], [0.3, 1.0]]))])  # steps 1, 2, 3
        >>> log.finish()
        >>> log.latest  # step 3: its own loss; step 2 logged the mean of 4 and 2
        {'learning_rate': 0.3..., 'loss': 1.0}
    """

    def __init__(self, writer: Writer, strategy: Any, names: list[str], *, log_every: int, num_steps: int,
                 histogram_every: int, skips_nonfinite: bool, histograms: bool = True):
        self._writer, self._strategy, self._histograms = writer, strategy, histograms
        self._names, self._log_every, self._num_steps = list(names), log_every, num_steps
        self._histogram_every, self._skips_nonfinite = histogram_every, skips_nonfinite
        self._mean = np.array([averaged(name) for name in names])
        self._loss = names.index("loss") if "loss" in names else None
        self._sum, self._count = np.zeros(len(names)), 0  # the open interval's steps
        self._last_histogram: int | None = None
        self._pending: collections.deque[Rows] = collections.deque()
        self.latest: dict[str, float] = {}

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

    def add(self, rows: list[Rows]) -> None:
        """Takes a call's rows (dispatched; fetched later). Rows still pending from an
        earlier call are written first; with several processes, these too."""
        if rows and rows[-1].grads is not None:
            self._last_histogram = rows[-1].first + rows[-1].count
        self.finish()
        self._pending.extend(rows)
        if jax.process_count() > 1:  # see the module's docstring
            self.finish()

    def poll(self) -> None:
        """Writes the pending rows whose values are computed; never waits."""
        while self._pending and self._pending[0].values.is_ready():
            self._write(self._pending.popleft())

    def finish(self) -> None:
        """Waits for the pending rows and writes them.

        Raises:
            NonFiniteLossError: the loss was non-finite at a step of them (the first such
                step in the message; the log steps before it are written), unless the
                optimizer skips non-finite updates.
        """
        while self._pending:
            self._write(self._pending.popleft())

    def _write(self, rows: Rows) -> None:
        values = np.asarray(rows.values, np.float64)[:rows.count]  # np.asarray: 14 us, jax.device_get 106 us
        if self._loss is not None and not self._skips_nonfinite:
            bad = np.flatnonzero(~np.isfinite(values[:, self._loss]))
            if bad.size:
                self._log(rows.first, values[:bad[0]])
                self._pending.clear()
                raise NonFiniteLossError(
                    f"the training loss became non-finite at step {rows.first + bad[0]}; lower the learning rate, "
                    f"add gradient clipping, or wrap the optimizer to skip non-finite updates"
                )
        self._log(rows.first, values)
        if rows.grads is not None and self._histograms:
            grads = layer_values(self._strategy.metrics(rows.grads))
            self._writer.histograms(rows.first + rows.count, {f"train/grads/{k}": v for k, v in grads.items()})

    def _log(self, first: int, values: np.ndarray) -> None:
        """Adds the rows of steps ``first + 1, ...`` to the interval, writing each log step."""
        done = 0
        while done < len(values):
            step = first + done + 1
            end = min(len(values), done + self._log_every - (step - 1) % self._log_every,
                      self._num_steps - first)  # rows up to the next log step (or the run's end)
            self._sum += values[done:end].sum(axis=0)
            self._count += end - done
            done = end
            step = first + done
            if step % self._log_every == 0 or step == self._num_steps:
                row = np.where(self._mean, self._sum / max(self._count, 1), values[done - 1])
                self.latest = dict(zip(self._names, row.tolist()))
                self._writer.write(step, {f"train/{k}": v for k, v in self.latest.items()})
                self._sum, self._count = np.zeros(len(self._names)), 0
