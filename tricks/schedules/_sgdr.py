"""Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017)."""

from __future__ import annotations

import math

import jax.numpy as jnp

import registry
from tricks.schedules import _core
from tricks.schedules._core import as_float
from tricks.schedules._cycles import Cyclical


def _cycle_start(i, t0: int, t_mult: float):
    """The first step of cycle i (i = 0, 1, ...): ``t0 * (t_mult**i - 1) / (t_mult - 1)``."""
    if t_mult == 1.0:
        return t0 * i
    return t0 * (t_mult**i - 1.0) / (t_mult - 1.0)


@registry.register("schedule", "sgdr")
def sgdr(
    init_value: float, t0: int, t_mult: float = 1.0, eta_min: float = 0.0, m_mul: float = 1.0
) -> Cyclical:
    """Cosine annealing from the peak down to `eta_min`, restarted at the peak after each cycle.

    torch ``CosineAnnealingWarmRestarts(T_0=t0, T_mult=t_mult, eta_min)``; with `m_mul`
    the peak of cycle i is ``eta_min + (init_value - eta_min) * m_mul**i`` as in Keras
    ``CosineDecayRestarts`` (whose ``alpha`` is ``eta_min / init_value``). Cycle i lasts
    ``T_i = t0 * t_mult**i`` steps; inside it, after ``T_cur`` steps,
    ``value = eta_min + (peak_i - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``.
    A non-integer `t_mult` gives the continuous cycle lengths of Keras.

    The cycle ends (`cycle_ends`) are the snapshot points of a snapshot ensemble (Huang et
    al. 2017): the weights there sit at the bottom of a cosine, just before a restart.

    Args:
        init_value: the peak of the first cycle.
        t0: the length of the first cycle (> 0).
        t_mult: each cycle is `t_mult` times longer than the previous one (>= 1).
        eta_min: the value at the bottom of every cycle.
        m_mul: each peak is `m_mul` times the previous one (above `eta_min`; > 0).

    Examples:
        >>> s = sgdr(1.0, t0=2, t_mult=2)
        >>> [round(v, 4) for v in s(jnp.arange(8)).tolist()]
        [1.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 1.0, 0.9619]
        >>> s.cycle_ends(20)
        [2, 6, 14]
    """
    t0 = _core.positive(t0, "t0")
    if not t_mult >= 1.0:
        raise registry.RegistryError(f"must be >= 1, got {t_mult!r}", argument="t_mult")
    _core.finite(t_mult, "t_mult")
    _core.positive(m_mul, "m_mul")
    t_mult = float(t_mult)

    def schedule(count):
        t = as_float(count)
        if t_mult == 1.0:
            i, into = _core.divmod_steps(t, t0)
            remaining = (t0 - into) / t0
        else:
            i = jnp.floor(jnp.log1p(t / t0 * (t_mult - 1.0)) / math.log(t_mult))
            # The logarithm can land on the wrong side of a restart: move i by one if so.
            i = jnp.where(t < _cycle_start(i, t0, t_mult), i - 1.0, i)
            i = jnp.where(t >= _cycle_start(i + 1.0, t0, t_mult), i + 1.0, i)
            length = t0 * jnp.power(t_mult, i)
            remaining = jnp.clip((_cycle_start(i + 1.0, t0, t_mult) - t) / length, 0.0, 1.0)
        peak = (init_value - eta_min) * jnp.power(m_mul, i)
        return eta_min + peak * _core.half_cosine(remaining)

    def ends(total_steps: int) -> list[int]:
        found, i = [], 1
        while (end := math.ceil(_cycle_start(i, t0, t_mult))) <= total_steps:
            found.append(end)
            i += 1
        return found

    return Cyclical(schedule, ends)
