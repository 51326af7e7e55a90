"""Cyclical learning rates (Smith 2017) and the momentum cycled against them: torch ``CyclicLR``."""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp

import registry
from tricks.schedules import _core
from tricks.schedules._core import Fn, as_float
from tricks.schedules._cycles import Cyclical

_MODES = ("triangular", "triangular2", "exp_range")


def _check(
    low: float, high: float, names: tuple[str, str], up: int, down: int | None, mode: str, gamma: float
):
    if not high >= low:
        raise registry.RegistryError(f"must be >= {names[0]} ({low!r}), got {high!r}", argument=names[1])
    _core.positive(up, "step_size_up")
    if down is not None:
        _core.positive(down, "step_size_down")
    _core.one_of(mode, _MODES, "mode")
    _core.positive(gamma, "gamma")


def _wave(up: int, down: int | None, mode: str, gamma: float):
    """``t -> height in [0, 1]``: the triangle of torch ``CyclicLR`` times its amplitude factor."""
    down = up if down is None else down
    total = float(up + down)
    ratio = up / total

    def height(count):
        t = as_float(count)
        done, into = _core.divmod_steps(t, total)  # done = torch's cycle - 1
        x = into / total  # position inside the cycle, in [0, 1)
        rise = jnp.where(x <= ratio, x / ratio, (1.0 - x) / (1.0 - ratio))
        if mode == "triangular":
            return rise
        if mode == "triangular2":
            return rise * jnp.power(0.5, done)
        return rise * jnp.power(gamma, t)

    return height, int(total)


@registry.register("schedule", "cyclic")
def cyclic(
    base_lr: float,
    max_lr: float,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
    gamma: float = 1.0,
) -> Cyclical:
    """Smith's cyclical rate: up from `base_lr` to `max_lr` and back, again and again.

    torch ``CyclicLR``. Each cycle rises linearly for `step_size_up` steps and falls for
    `step_size_down` (default: the same). The amplitude ``max_lr - base_lr`` is multiplied
    by 1 (``triangular``), by ``1 / 2**(c - 1)`` in cycle c = 1, 2, ... (``triangular2``), or
    by ``gamma**t`` (``exp_range``). Cycles end (rate back at `base_lr`) every
    ``step_size_up + step_size_down`` steps: see `cycle_ends`.

    Args:
        base_lr: the lowest rate.
        max_lr: the highest rate (>= base_lr).
        step_size_up: steps of the rising half (> 0).
        step_size_down: steps of the falling half (> 0); `step_size_up` if None.
        mode: ``triangular``, ``triangular2`` or ``exp_range``.
        gamma: the per-step amplitude factor of ``exp_range`` (> 0).

    Examples:
        >>> s = cyclic(0.1, 0.5, step_size_up=2)
        >>> s(jnp.arange(6))
        Array([0.1, 0.3, 0.5, 0.3, 0.1, 0.3], dtype=float32)
        >>> s.cycle_ends(10)
        [4, 8]
    """
    _check(base_lr, max_lr, ("base_lr", "max_lr"), step_size_up, step_size_down, mode, gamma)
    height, period = _wave(step_size_up, step_size_down, mode, gamma)

    def schedule(count):
        return base_lr + (max_lr - base_lr) * height(count)

    return Cyclical(schedule, lambda total: list(range(period, total + 1, period)))


@registry.register("schedule", "cyclic_momentum")
def cyclic_momentum(
    base_momentum: float = 0.8,
    max_momentum: float = 0.9,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
    gamma: float = 1.0,
) -> Fn:
    """The momentum torch ``CyclicLR`` sets with ``cycle_momentum=True``: the mirror of `cyclic`.

    ``momentum = max_momentum - (max_momentum - base_momentum) * h(t)`` where ``h(t)`` is
    the same wave as `cyclic`'s: high momentum while the rate is low, and the reverse. Use
    the same `step_size_up`, `step_size_down`, `mode` and `gamma` as the rate's `cyclic`,
    and give it as an optimizer's ``momentum`` (SGD) or ``b1`` (Adam).

    Args:
        base_momentum: the momentum at the rate's peak.
        max_momentum: the momentum at the rate's trough (>= base_momentum).
        step_size_up: steps of the rate's rising half (> 0).
        step_size_down: steps of the rate's falling half (> 0); `step_size_up` if None.
        mode: ``triangular``, ``triangular2`` or ``exp_range``.
        gamma: the per-step amplitude factor of ``exp_range`` (> 0).

    Examples:
        >>> [round(v, 4) for v in cyclic_momentum(0.8, 0.9, step_size_up=2)(jnp.arange(5)).tolist()]
        [0.9, 0.85, 0.8, 0.85, 0.9]
    """
    _check(
        base_momentum,
        max_momentum,
        ("base_momentum", "max_momentum"),
        step_size_up,
        step_size_down,
        mode,
        gamma,
    )
    height, _ = _wave(step_size_up, step_size_down, mode, gamma)

    def schedule(count):
        return max_momentum - (max_momentum - base_momentum) * height(count)

    return schedule
