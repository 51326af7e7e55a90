"""Schedules run one after another."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

import registry
from tricks._types import ScheduleLike
from tricks.schedules import _core
from tricks.schedules._core import Fn, as_float
from tricks.schedules._cycles import Cyclical, shifted


@registry.register("schedule", "join")
def join(schedules: Sequence[ScheduleLike], boundaries: Sequence[int]) -> Fn:
    """Runs ``schedules[0]`` until ``boundaries[0]``, then ``schedules[1]``, and so on.

    Each schedule starts on its own clock: from step ``b = boundaries[i-1]`` on the value
    is ``schedules[i](t - b)`` (as ``optax.join_schedules``). If any part is cyclical, the
    joined schedule has `cycle_ends`: those of each part, shifted to where it starts and
    cut where the next part begins.

    Args:
        schedules: schedules (or numbers), at least one.
        boundaries: ``len(schedules) - 1`` strictly increasing steps (> 0).

    Examples:
        >>> from tricks.schedules import linear
        >>> s = join([linear(0.0, 1.0, transition_steps=2), 0.5], boundaries=[3])
        >>> s(jnp.arange(5))
        Array([0. , 0.5, 1. , 0.5, 0.5], dtype=float32)
    """
    parts = [_core.as_schedule(s, "schedules") for s in schedules]
    if not parts:
        raise registry.RegistryError("needs at least one schedule", argument="schedules")
    bounds = list(boundaries)
    if len(bounds) != len(parts) - 1:
        raise registry.RegistryError(
            f"needs one boundary fewer than schedules ({len(parts)} schedules, {len(bounds)} boundaries)",
            argument="boundaries",
        )
    _core.increasing(bounds, "boundaries", allow_empty=True)

    starts = [float(b) for b in bounds]

    def joined(count):
        t = as_float(count)
        out = parts[0](t)
        for bound, part in zip(starts, parts[1:]):
            out = jnp.where(t < bound, out, part(jnp.maximum(t - bound, 0.0)))
        return out

    cyclical = [(i, p) for i, p in enumerate(parts) if isinstance(p, Cyclical)]
    if not cyclical:
        return joined
    offsets = [0, *bounds]
    lengths = [b - a for a, b in zip(offsets, bounds)] + [None]
    pieces = [shifted(p.ends, offsets[i], lengths[i]) for i, p in cyclical]
    return Cyclical(joined, lambda total: [e for piece in pieces for e in piece(total)])
