"""Where the training loop's calls end: the steps the host must act at, and its pace."""

from __future__ import annotations

import bisect
import statistics
import time


class Pace:
    """How far one training call may run, so the host hears from the device about every
    `seconds` (progress, log records) however slow a step is.

    A call runs to the next log step until the pace is measured, and always with several
    processes, whose calls must stop at the same steps. Then it may pass log steps, as many
    steps as the recent calls ran in `seconds`: the host waits for each call's log values
    before it dispatches the next, so the time between consecutive calls, over the steps
    of a call, is the device's time per step (the median of the last few).

    Examples:
        >>> pace = Pace(0.5, log_every=20, adaptive=False)
        >>> pace.until(45)  # the next log step
        60
    """

    def __init__(self, seconds: float, log_every: int, *, adaptive: bool):
        self.seconds, self.log_every, self.adaptive = seconds, log_every, adaptive
        self._last: tuple[float, int] | None = None
        self._per_step: list[float] = []

    def until(self, step: int) -> int:
        """The last step a call that starts after `step` may run to."""
        next_log = (step // self.log_every + 1) * self.log_every
        if not (self.adaptive and self._per_step):
            return next_log
        return max(next_log, step + int(self.seconds / statistics.median(self._per_step)))

    def called(self, count: int) -> None:
        """Notes that a call of `count` steps is being dispatched now."""
        now = time.perf_counter()
        if self._last is not None:
            began, steps = self._last
            self._per_step = (self._per_step + [(now - began) / steps])[-5:]
        self._last = (now, count)


MAX_CALL_SECONDS = 0.5
"""About how long one training call runs at most (`Pace`), so progress and log records
come at least this often; `AUTO_STEPS_PER_CALL` bounds it too."""


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
