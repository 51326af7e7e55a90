"""The 1cycle policy (Smith & Topin 2017, super-convergence): torch ``OneCycleLR``, rate and momentum."""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp

import registry
from tricks.schedules import _core
from tricks.schedules._core import Fn, as_float
from tricks.schedules._length import RunSteps, required
from tricks.schedules._cycles import Cyclical


def _phase_ends(total_steps: int, pct_start: float, three_phase: bool) -> list[float]:
    """The last step of each phase, computed exactly as torch does (in Python floats)."""
    _core.positive(required(total_steps, "total_steps"), "total_steps")
    if not 0.0 < pct_start < 1.0:
        raise registry.RegistryError(f"must be in (0, 1), got {pct_start!r}", argument="pct_start")
    ends = [float(pct_start * total_steps) - 1]
    if three_phase:
        ends.append(float(2 * pct_start * total_steps) - 2)
    ends.append(float(total_steps - 1))
    starts = [0.0, *ends[:-1]]
    if any(not e > s for s, e in zip(starts, ends)):
        lengths = ", ".join(f"{e - s:g}" for s, e in zip(starts, ends))
        need = "pct_start * total_steps > 1"
        if three_phase:
            need += " and pct_start < (total_steps + 1) / (2 * total_steps)"
        raise registry.RegistryError(
            f"{pct_start!r} leaves a phase of no length with total_steps={total_steps} "
            f"(phase lengths {lengths}); need {need}",
            argument="pct_start",
        )
    return ends


def _anneal(ends: list[float], points: list[tuple[float, float]], strategy: str, total_steps: int):
    """A function of the step going from ``points[i][0]`` to ``points[i][1]`` over phase i."""
    _core.one_of(strategy, ("cos", "linear"), "anneal_strategy")
    starts = [0.0, *ends[:-1]]

    def schedule(count):
        # Held at the final value after the last step (torch raises past total_steps).
        t = jnp.minimum(as_float(count), float(total_steps - 1))
        out = None
        for start, end, (a, b) in reversed(list(zip(starts, ends, points))):
            # Written from the phase's end value b, so values near b keep their digits.
            remaining = (end - t) / (end - start)
            shape = _core.half_cosine(remaining) if strategy == "cos" else remaining
            value = b + (a - b) * shape
            out = value if out is None else jnp.where(t <= end, value, out)
        return out

    return schedule


@registry.register("schedule", "one_cycle")
def one_cycle(
    max_lr: float,
    total_steps: RunSteps = None,
    pct_start: float = 0.3,
    anneal_strategy: Literal["cos", "linear"] = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 10000.0,
    three_phase: bool = False,
) -> Cyclical:
    """One cycle: up from ``max_lr / div_factor`` to `max_lr`, then down far below the start.

    torch ``OneCycleLR``. Two phases: from ``initial = max_lr / div_factor`` up to `max_lr`
    over the first `pct_start` of `total_steps`, then down to ``initial / final_div_factor``
    at step ``total_steps - 1``. With `three_phase`, back down to ``initial`` first (as
    long as the rise), then on to the minimum. Cosine or linear ramps. After
    ``total_steps - 1`` the value stays at the minimum (torch raises there instead). Its one
    cycle ends at `total_steps` (`cycle_ends`). Pair it with `one_cycle_momentum`.

    Args:
        max_lr: the peak rate.
        total_steps: the length of the cycle (> 0).
        pct_start: the fraction of the steps spent rising, in (0, 1).
        anneal_strategy: ``cos`` or ``linear``.
        div_factor: initial rate = max_lr / div_factor (> 0).
        final_div_factor: minimum rate = initial rate / final_div_factor (> 0).
        three_phase: rise, fall back to the initial rate, then annihilate.

    Examples:
        >>> s = one_cycle(1.0, total_steps=6, pct_start=0.5, anneal_strategy="linear", div_factor=4.0,
        ...               final_div_factor=1.0)
        >>> s(jnp.arange(7))
        Array([0.25 , 0.625, 1.   , 0.75 , 0.5  , 0.25 , 0.25 ], dtype=float32)
        >>> s.cycle_ends(10)
        [6]
    """
    ends = _phase_ends(total_steps, pct_start, three_phase)
    _core.positive(div_factor, "div_factor")
    _core.positive(final_div_factor, "final_div_factor")
    initial = max_lr / div_factor
    low = initial / final_div_factor
    points = (
        [(initial, max_lr), (max_lr, initial), (initial, low)]
        if three_phase
        else [(initial, max_lr), (max_lr, low)]
    )
    schedule = _anneal(ends, points, anneal_strategy, total_steps)
    return Cyclical(schedule, lambda total: [total_steps] if total_steps <= total else [])


@registry.register("schedule", "one_cycle_momentum")
def one_cycle_momentum(
    total_steps: RunSteps = None,
    pct_start: float = 0.3,
    anneal_strategy: Literal["cos", "linear"] = "cos",
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    three_phase: bool = False,
) -> Fn:
    """The momentum torch ``OneCycleLR`` cycles against the rate: 0.95 -> 0.85 -> 0.95.

    Down from `max_momentum` to `base_momentum` while `one_cycle`'s rate rises, back up
    while it falls (with `three_phase`, held at `max_momentum` during the last phase). Use
    the same `total_steps`, `pct_start`, `anneal_strategy` and `three_phase` as the rate's
    `one_cycle`, and give it as an optimizer's ``momentum`` (SGD) or ``b1`` (Adam).

    Args:
        total_steps: the length of the cycle (> 0).
        pct_start: the fraction of the steps spent rising, in (0, 1).
        anneal_strategy: ``cos`` or ``linear``.
        base_momentum: the momentum at the rate's peak.
        max_momentum: the momentum at the start and the end (>= base_momentum).
        three_phase: as in `one_cycle`.

    Examples:
        >>> s = one_cycle_momentum(total_steps=6, pct_start=0.5, anneal_strategy="linear")
        >>> [round(v, 4) for v in s(jnp.arange(6)).tolist()]
        [0.95, 0.9, 0.85, 0.8833, 0.9167, 0.95]
    """
    ends = _phase_ends(total_steps, pct_start, three_phase)
    if not max_momentum >= base_momentum:
        raise registry.RegistryError(
            f"must be >= base_momentum ({base_momentum!r}), got {max_momentum!r}", argument="max_momentum"
        )
    high, low = max_momentum, base_momentum
    points = [(high, low), (low, high), (high, high)] if three_phase else [(high, low), (low, high)]
    return _anneal(ends, points, anneal_strategy, total_steps)
