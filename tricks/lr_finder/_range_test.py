"""The LR range test loop (Smith 2017, "Cyclical Learning Rates", §3.3; fastai's ``lr_find``)."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import pathlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tricks.lr_finder._suggest import DEFAULT_SUGGESTION, LABELS, SUGGESTERS, lowest, rates, suggest, window
from tricks.optimizers import hyperparams, set_hyperparams

STOPS = ("end", "diverged", "non-finite")
"""Why a range test stopped: it ran every step, the smoothed loss passed `stop_factor`
times its best, or the loss was NaN or infinite."""


@dataclasses.dataclass(frozen=True)
class RangeTest:
    """The result of a range test.

    Attributes:
        lrs: the rate of each recorded step.
        losses: the training loss of each recorded step (before its update).
        smoothed: the bias-corrected moving average of `losses`.
        suggestions: ``{"steepest", "valley", "minimum_over_10"}`` -> rate (see
            `tricks.lr_finder.suggest`); NaN each when fewer than 2 steps were recorded.
        minimum_lr: the rate at the lowest smoothed loss, in the points the suggestions
            see (``suggestions["minimum_over_10"]`` is a tenth of it); NaN likewise.
        stop: one of `STOPS`.
        stop_lr: the rate reached when the test stopped (for ``"non-finite"``, the rate
            whose step gave the non-finite loss; that step is not recorded).
        planned: ``{"start", "end", "steps", "mode", "beta", "stop_factor"}``.
        seconds: wall time of the test, compilation included.
        step_seconds: wall time per step after the first (which compiles); NaN with
            fewer than 2 steps.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestions: dict[str, float]
    minimum_lr: float
    stop: str
    stop_lr: float
    planned: dict[str, Any]
    seconds: float
    step_seconds: float

    @property
    def suggestion(self) -> float:
        """The default suggestion: the rule `DEFAULT_SUGGESTION` names (see `tricks.lr_finder` for why)."""
        return self.suggestions[DEFAULT_SUGGESTION]

    def summary(self) -> str:
        """A few lines: why it stopped and the suggested rates."""
        reason = {
            "end": f"ran all {self.planned['steps']} steps",
            "diverged": f"smoothed loss passed {self.planned['stop_factor']:g}x its best",
            "non-finite": "the loss became non-finite",
        }[self.stop]
        lines = [
            (
                f"stopped at rate {self.stop_lr:.3g} after {len(self.lrs)} recorded steps: {reason}; "
                f"{self.seconds:.1f} s ({1e3 * self.step_seconds:.2f} ms per step after the first)"
            )
        ]
        for name, value in self.suggestions.items():
            lines.append(f"  {LABELS[name]:<10} {value:.3g}")
            if name == "minimum_over_10":
                lines[-1] += f" (the lowest smoothed loss is at {self.minimum_lr:.3g})"
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of everything (NaN written as None)."""

        def number(x):
            return float(x) if math.isfinite(float(x)) else None

        return {
            "suggestions": {k: number(v) for k, v in self.suggestions.items()},
            "minimum_lr": number(self.minimum_lr),
            "stop": self.stop,
            "stop_lr": number(self.stop_lr),
            "planned": self.planned,
            "seconds": self.seconds,
            "step_seconds": number(self.step_seconds),
            "curve": [
                {"step": i, "lr": number(lr), "loss": number(loss), "smoothed": number(s)}
                for i, (lr, loss, s) in enumerate(zip(self.lrs, self.losses, self.smoothed))
            ],
        }

    def save(self, stem: str | pathlib.Path) -> list[pathlib.Path]:
        """Writes ``STEM.json`` (everything) and ``STEM.csv`` (step, lr, loss, smoothed); returns both."""
        stem = pathlib.Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        json_path, csv_path = stem.with_suffix(".json"), stem.with_suffix(".csv")
        json_path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        with open(csv_path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["step", "lr", "loss", "smoothed"])
            for i, row in enumerate(zip(self.lrs, self.losses, self.smoothed)):
                writer.writerow([i, *(f"{v:.8g}" for v in row)])
        return [json_path, csv_path]


def run_range_test(
    step: Callable[[Any, Any, jax.Array], tuple[Any, jax.Array]],
    carry: Any,
    batches: Iterator[Any],
    *,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    mode: str = "exp",
    beta: float = 0.98,
    stop_factor: float = 4.0,
) -> RangeTest:
    """Drives ``step(carry, batch, lr) -> (carry, loss)`` with a rising rate and records the loss.

    The loop reads each step's loss one step late, so the device always has the next step
    queued (the test runs at training speed). It stops when the smoothed loss exceeds
    `stop_factor` times its best (that step is recorded), when a loss is non-finite (that
    step is not), or after `steps` steps. The divergence rule assumes a positive loss (a
    cross-entropy, an MSE); ``stop_factor=float("inf")`` turns it off.

    Args:
        step: one training step at rate ``lr`` (a float32 scalar array), returning the
            loss computed before its update; typically jitted.
        carry: what `step` updates (parameters and optimizer state).
        batches: one batch per step.
        start, end, steps, mode: the planned rates (`tricks.lr_finder.rates`).
        beta: the smoothing of the loss (`tricks.lr_finder.smooth`).
        stop_factor: the divergence threshold on the smoothed loss.

    Examples:
        >>> def step(w, batch, lr):   # gradient descent on (w - 3)²
        ...     return w - lr * 2 * (w - 3), (w - 3) ** 2
        >>> test = run_range_test(step, 0.0, itertools.repeat(None), start=1e-3, end=10.0, steps=50)
        >>> test.stop, len(test.lrs), round(test.suggestion, 3)
        ('diverged', 50, 0.391)
    """
    planned = check_settings(start, end, steps, mode, beta, stop_factor)
    began = time.perf_counter()
    lrs, losses, smoothed = [], [], []
    avg, best, stop, stop_lr = 0.0, math.inf, "end", float(planned[-1])

    def record(lr: float, loss: jax.Array) -> bool:
        """Adds one step; True when the test must stop."""
        nonlocal avg, best, stop, stop_lr
        value = float(loss)
        if not math.isfinite(value):
            stop, stop_lr = "non-finite", lr
            return True
        avg = beta * avg + (1 - beta) * value
        current = avg / (1 - beta ** (len(losses) + 1))
        lrs.append(lr)
        losses.append(value)
        smoothed.append(current)
        best = min(best, current)
        if len(losses) > 1 and current > stop_factor * best:
            stop, stop_lr = "diverged", lr
            return True
        return False

    pending, dispatched, first_done = None, 0, None
    for lr in planned:
        carry, loss = step(carry, next(batches), np.float32(lr))
        dispatched += 1
        if pending is not None:
            stop_now = record(*pending)
            first_done = time.perf_counter() if first_done is None else first_done
            if stop_now:
                pending = None
                break
        pending = (float(lr), loss)
    if pending is not None:
        record(*pending)
    jax.block_until_ready(carry)
    finished = time.perf_counter()
    step_seconds = (finished - first_done) / (dispatched - 1) if first_done is not None else float("nan")
    lrs_array, smoothed_array = np.array(lrs), np.array(smoothed)
    if len(lrs) >= 2:
        suggestions = suggest(lrs_array, smoothed_array, steps)
        kept = window(len(lrs), steps)
        minimum_lr = lowest(lrs_array[kept], smoothed_array[kept])
    else:
        suggestions, minimum_lr = {name: float("nan") for name in SUGGESTERS}, float("nan")
    settings = {
        "start": start,
        "end": end,
        "steps": steps,
        "mode": mode,
        "beta": beta,
        "stop_factor": stop_factor,
    }
    return RangeTest(
        lrs_array,
        np.array(losses),
        smoothed_array,
        suggestions,
        minimum_lr,
        stop,
        stop_lr,
        settings,
        finished - began,
        step_seconds,
    )


def check_settings(
    start: float, end: float, steps: int, mode: str, beta: float, stop_factor: float
) -> np.ndarray:
    """The planned rates, after checking every setting of a range test.

    Raises:
        ValueError: a bad setting (named in the message).

    Examples:
        >>> check_settings(1e-3, 1e-1, 3, "exp", 0.98, 4.0).tolist()
        [0.001, 0.01, 0.1]
    """
    planned = rates(start, end, steps, mode)
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    if not stop_factor > 1:
        raise ValueError(f"stop_factor must be > 1, got {stop_factor}")
    return planned


def rate_setter(opt_state: optax.OptState) -> Callable[[optax.OptState, jax.Array], optax.OptState]:
    """``set(opt_state, lr)``: the state with every injected ``learning_rate`` set to ``lr``.

    Raises:
        ValueError: the optimizer holds no injected learning rate (it was not built by
            `tricks.optimizers`).
    """
    if not any(name.split("/")[-1] == "learning_rate" for name in hyperparams(opt_state)):
        raise ValueError(
            "the optimizer state holds no injected 'learning_rate'; build the optimizer with "
            "tricks.optimizers "
            "(every registered optimizer injects its rate) so the range test can set it"
        )
    return lambda state, lr: set_hyperparams(state, learning_rate=lr)


def check_rate_used(opt_state: optax.OptState, lr: float) -> None:
    """Raises if the state's learning rate after an update at rate `lr` is not `lr`.

    That happens when the optimizer's rate is a schedule: the schedule overrides the
    rate the test sets (`set_hyperparams` has no lasting effect on a scheduled value).
    """
    used = {k: float(v) for k, v in hyperparams(opt_state).items() if k.split("/")[-1] == "learning_rate"}
    if any(not math.isclose(v, lr, rel_tol=1e-5) for v in used.values()):
        raise ValueError(
            f"the optimizer used learning rate(s) {used} where the range test set {lr:g}: its rate is a "
            "schedule; give the optimizer a constant learning_rate for the test "
            "(lr_find does this for a config)"
        )


def lr_range_test(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    optimizer: optax.GradientTransformation,
    batches: Iterable[Any] | Callable[[int], Any],
    *,
    opt_state: optax.OptState | None = None,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    mode: str = "exp",
    beta: float = 0.98,
    stop_factor: float = 4.0,
) -> RangeTest:
    """The LR range test on a loss function, for any optimizer of `tricks.optimizers`.

    The test runs on copies: `params` and `opt_state` are left exactly as they were. The
    rate is set through the optimizer state (`tricks.optimizers.set_hyperparams`) at
    every step, so any registered optimizer (and any wrapper around it) works, provided
    its learning rate is a number, not a schedule.

    Args:
        loss_fn: ``loss_fn(params, batch) -> scalar``.
        params: the starting parameters.
        optimizer: an optimizer built by `tricks.optimizers` (its rate is injected).
        batches: an iterable of batches, or a function step -> batch.
        opt_state: the starting optimizer state (default: ``optimizer.init(params)``).
        start, end, steps, mode, beta, stop_factor: see `run_range_test`.

    Raises:
        ValueError: bad settings; an optimizer whose learning rate cannot be set, or
            is a schedule.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> xs = jnp.linspace(-1, 1, 64)
        >>> loss = lambda p, batch: jnp.mean((p["w"] * xs - 2 * xs) ** 2)
        >>> params = {"w": jnp.zeros(())}
        >>> opt = registry.build("optimizer", "sgd(learning_rate=0.1, momentum=0.9)")
        >>> test = lr_range_test(loss, params, opt, lambda step: None, start=1e-4, end=100.0, steps=60)
        >>> test.stop, 1e-3 < test.suggestion < 10, float(params["w"])
        ('diverged', True, 0.0)
    """
    opt_state = optimizer.init(params) if opt_state is None else opt_state
    set_rate = rate_setter(opt_state)
    carry = jax.tree.map(jnp.copy, (params, opt_state))

    def step(carry, batch, lr):
        params, opt_state = carry
        opt_state = set_rate(opt_state, lr)
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = optax.with_extra_args_support(optimizer).update(  # the objective too, as a train step
            grads, opt_state, params, value=loss, grad=grads, value_fn=lambda p: loss_fn(p, batch)  # does (sam)
        )
        return (optax.apply_updates(params, updates), opt_state), loss

    stream = (batches(i) for i in itertools.count()) if callable(batches) else iter(batches)
    jitted = jax.jit(step, donate_argnums=0)
    return run_range_test(
        _checked(jitted, lambda c: c[1]),
        carry,
        stream,
        start=start,
        end=end,
        steps=steps,
        mode=mode,
        beta=beta,
        stop_factor=stop_factor,
    )


def _checked(step, opt_state_of):
    """`step`, checking after its first call that the optimizer used the rate it was given."""
    first = [True]

    def wrapped(carry, batch, lr):
        carry, loss = step(carry, batch, lr)
        if first[0]:
            first[0] = False
            check_rate_used(opt_state_of(carry), float(lr))
        return carry, loss

    return wrapped
