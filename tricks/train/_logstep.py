"""Log steps that do not stall training: metrics computed on the device, written later.

A log step's values (`log_report`: the interval's metric sums reduced to means, the
hyperparameters and the parameter norm) are computed on the device: by the training call
that passes the log step when it runs several steps (on-device data; one call may pass
several log steps and return a row for each), else by a jitted call of their own.
Fetching them at once would wait for every queued training step and leave the device
idle while the host writes; instead the loop goes on dispatching steps and the values
are fetched and written when ready (`MetricsLog.poll`), or at the latest before the next
log step, an evaluation or a checkpoint (`MetricsLog.finish`). A non-finite loss is
therefore reported a few steps late, but always before anything is saved, with the step
at which it happened.

With several processes the log step still waits for its values: there, with jax 0.10.2's
CPU collectives (gloo), the log call overlapping the next training steps deadlocked
both processes inside a training step (`tests/train/test_scale.py`).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tricks import optimizers as optimizers_lib
from tricks import schedules as schedules_lib
from tricks.diagnostics import GRAD_NORM_PREFIX, layer_values
from tricks.train._step import param_norm
from tricks.train._writers import Writer


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the step."""


class MetricsLog:
    """The training metrics of log steps, fetched without waiting for the device.

    Args:
        writer: where the metrics go (``train/...`` scalars, ``train/grads/...`` histograms).
        strategy: the data-parallel strategy (`metrics`, `from_train`).
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
        >>> from tricks.train._state import TrainState
        >>> from tricks.train._step import zero_sums
        >>> params = {"Dense_0": {"kernel": jnp.ones((2, 2))}}
        >>> state = TrainState(step=jnp.int32(2), params=params, batch_stats={},
        ...                    opt_state=optax.sgd(0.1).init(params), rng=jax.random.PRNGKey(0))
        >>> sums = zero_sums(params) | {"loss": jnp.float32(3.0), "count": jnp.int32(2)}
        >>> log = MetricsLog(Writer(), sharded(), histogram_every=0, skips_nonfinite=False)
        >>> log.start([2], sums, state)  # dispatched; fetched later
        >>> log.finish()
        >>> log.latest["loss"], log.latest["param_norm"]
        (1.5, 2.0)
    """

    def __init__(self, writer: Writer, strategy: Any, *, histogram_every: int, skips_nonfinite: bool,
                 histograms: bool = True):
        self._writer, self._strategy, self._histograms = writer, strategy, histograms
        self._histogram_every, self._skips_nonfinite = histogram_every, skips_nonfinite
        self._last_histogram: int | None = None
        self._names: dict[Any, list[str]] = {}
        self._pending: tuple[list[int], list[str], tuple] | None = None
        self.latest: dict[str, float] = {}

    def next_histogram(self, step: int, log_every: int) -> int | float:
        """The first log step after `step` (a multiple of `log_every`) at which a histogram is
        due (`inf`: none). A training call that passes several log steps stops there, as
        only its last step's gradients are kept."""
        every = self._histogram_every
        if not every:
            return float("inf")
        first = (step // log_every + 1) * log_every
        if self._last_histogram is None:
            return first
        due = (self._last_histogram // every + 1) * every
        return max(first, -(-due // log_every) * log_every)

    def start(self, steps: list[int], sums: Any, state: Any,
              report: tuple[jax.Array, jax.Array] | None = None) -> None:
        """Dispatches the logs of `steps` from the interval's `sums` and the train-layout `state`.

        Without a `report`, `steps` is one step, whose values a call dispatched now
        computes from `sums` and `state` (so later steps may donate them). A `report`
        holds the values of each of `steps`, a row each (`log_report`'s, stacked),
        computed on the device by the training call that passed them; then `sums` only
        give the latest gradients, for a histogram at the last of `steps`. A log still
        pending is finished first; with several processes, this one too (it is written
        before `start` returns).
        """
        self.finish()
        step, every = steps[-1], self._histogram_every
        histogram = bool(every) and (self._last_histogram is None or step // every > self._last_histogram // every)
        if histogram:
            self._last_histogram = step
        histogram = histogram and self._histograms
        sums, state = self._strategy.metrics(sums), self._strategy.from_train(state)
        key = jax.tree.structure((sums, state))
        if key not in self._names:  # the names of the packed values, traced once
            self._names[key] = sorted(jax.eval_shape(_log_scalars, sums, state))
        if report is None:
            values = _log_values(sums, state, histogram)
        else:
            values = (*report, _copy(sums["grads"]) if histogram else None)
        self._pending = (list(steps), self._names[key], values)
        if jax.process_count() > 1:  # see the module's docstring
            self.finish()

    def poll(self) -> None:
        """Finishes the pending log step if its values are computed; never waits."""
        if self._pending is not None and self._pending[2][0].is_ready():
            self.finish()

    def finish(self) -> None:
        """Waits for the pending log step's values and writes them.

        Raises:
            NonFiniteLossError: the loss was non-finite in the logged interval (with the
                first such step), unless the optimizer skips non-finite updates.
        """
        if self._pending is None:
            return
        steps, names, (packed, first_nonfinite, grads) = self._pending
        self._pending = None
        # np.asarray, not jax.device_get: 14 us against 106 us an array
        bad = np.atleast_1d(np.asarray(first_nonfinite)).tolist()
        for step, row, first_bad in zip(steps, np.atleast_2d(np.asarray(packed)).tolist(), bad):
            if first_bad >= 0 and not self._skips_nonfinite:  # the log steps before it are written
                raise NonFiniteLossError(
                    f"the training loss became non-finite at step {first_bad}; lower the learning rate, add "
                    f"gradient clipping, or wrap the optimizer to skip non-finite updates"
                )
            self.latest = dict(zip(names, row))
            self._writer.write(step, {f"train/{k}": v for k, v in self.latest.items()})
        if grads is not None:
            self._writer.histograms(steps[-1], {f"train/grads/{k}": v for k, v in layer_values(grads).items()})


def _log_scalars(sums, state) -> dict[str, jax.Array]:
    """Interval means, current hyperparameters and the parameter norm, by name."""
    count = jnp.maximum(sums["count"], 1).astype(jnp.float32)
    means = {k: sums[k] / count for k in ("loss", "accuracy", "grad_norm")}
    prefix = GRAD_NORM_PREFIX.removeprefix("train/")  # the writer adds "train/"
    means.update({f"{prefix}{layer}": v / count for layer, v in sums["layer_grad_norm"].items()})
    hyper = {k: v for k, v in optimizers_lib.hyperparams(state.opt_state).items() if jnp.ndim(v) == 0}
    return means | hyper | plateau_scales(state.opt_state) | {"param_norm": param_norm(state.params)}


def log_report(sums, state) -> tuple[jax.Array, jax.Array]:
    """The values of a log step on the device: `_log_scalars` packed in name order into one
    float32 vector (one transfer), and the first non-finite step (-1: none).

    A jitted training call records it at every log step it passes and returns the rows
    (`MetricsLog.start`'s ``report``), so a log step costs no call of its own.
    """
    scalars = _log_scalars(sums, state)
    return jnp.stack([jnp.asarray(scalars[k], jnp.float32) for k in sorted(scalars)]), sums["first_nonfinite"]


@functools.partial(jax.jit, static_argnums=2)
def _log_values(sums, state, with_grads: bool) -> tuple[jax.Array, jax.Array, Any]:
    """`log_report` and a copy of the latest gradients if `with_grads` (else None)."""
    return (*log_report(sums, state), _copy(sums["grads"]) if with_grads else None)


@jax.jit
def _copy(tree: Any) -> Any:
    """A copy: the original may be donated by the next training call."""
    return jax.tree.map(jnp.copy, tree)


def plateau_scales(opt_state) -> dict[str, jax.Array]:
    """``plateau_scale`` (the factor reduce_on_plateau put on the rate), if the optimizer has one."""
    is_state = lambda node: isinstance(node, schedules_lib.ScaleByPlateauState)  # noqa: E731
    found = [n for n in jax.tree.leaves(opt_state, is_leaf=is_state) if is_state(n)]
    return {"plateau_scale": found[0].plateau_state.scale} if found else {}


def skips_nonfinite(opt_state) -> bool:
    """Whether the optimizer skips non-finite updates (`skip_nonfinite` / `optax.apply_if_finite`)."""
    is_state = lambda node: isinstance(node, optax.ApplyIfFiniteState)  # noqa: E731
    return any(is_state(n) for n in jax.tree.leaves(opt_state, is_leaf=is_state))
