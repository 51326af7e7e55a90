"""Schedules that know where their cycles end: the snapshot points of a snapshot ensemble.

`sgdr`, `cyclic` and `one_cycle` return a `Cyclical`: a step function that also carries
``cycle_ends(total_steps)``. `warmup`, `scaled` and `join` keep that method when they wrap
such a schedule, shifting the steps by the warmup or by the segment's start. The module
function `cycle_ends` takes a built schedule or a spec.

A cycle end is a step count: the number of updates done when the cycle is over, which is
also the first step of the next cycle. A checkpoint saved once ``step == end`` updates
have run holds the weights at the end of that cycle, where the rate is lowest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax

import registry
from registry import RegistryError


@dataclasses.dataclass(frozen=True, eq=False)
class Cyclical:
    """A step -> value schedule that also knows the steps at which its cycles end.

    Attributes:
        fn: the schedule itself, a pure jittable function of the step.
        ends: ``total_steps -> list of cycle ends <= total_steps``.

    Examples:
        >>> import jax.numpy as jnp
        >>> s = Cyclical(lambda t: jnp.cos(t), lambda total: list(range(10, total + 1, 10)))
        >>> s.cycle_ends(35), float(s(0.0))
        ([10, 20, 30], 1.0)
    """

    fn: Callable[[Any], jax.Array]
    ends: Callable[[int], list[int]]

    def __call__(self, count: Any) -> jax.Array:
        return self.fn(count)

    def cycle_ends(self, total_steps: int) -> list[int]:
        """The step counts, at most `total_steps`, at which a cycle ends, in increasing order."""
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 0:
            raise RegistryError(f"must be an int >= 0, got {total_steps!r}", argument="total_steps")
        return [int(e) for e in self.ends(total_steps)]


def cycle_ends(schedule: Any, total_steps: int) -> list[int]:
    """The steps at which the cycles of `schedule` end, up to `total_steps`.

    Args:
        schedule: a built schedule or a spec (string or mapping) of one; it must be
            `sgdr`, `cyclic` or `one_cycle`, possibly inside `warmup`, `scaled` or `join`.
        total_steps: the length of training; ends after it are left out.

    Returns:
        Increasing step counts: after that many updates a cycle is over (a snapshot point).

    Raises:
        RegistryError: the schedule has no cycles.

    Examples:
        >>> cycle_ends("sgdr(init_value=0.1, t0=10, t_mult=2)", 100)
        [10, 30, 70]
        >>> cycle_ends("warmup(sgdr(init_value=0.1, t0=10), warmup_steps=5)", 40)
        [15, 25, 35]
        >>> cycle_ends("cosine(init_value=0.1, decay_steps=10)", 40)
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: argument 'schedule': has no cycles; ...
    """
    if isinstance(schedule, (str, Mapping, registry.Spec)) or hasattr(schedule, "to_dict"):
        schedule = registry.build("schedule", schedule)
    if not isinstance(schedule, Cyclical):
        raise RegistryError(
            "has no cycles; only sgdr, cyclic and one_cycle (also inside warmup, scaled or join) do",
            argument="schedule",
        )
    return schedule.cycle_ends(total_steps)


def shifted(
    ends: Callable[[int], list[int]], offset: int, length: int | None = None
) -> Callable[[int], list[int]]:
    """The cycle ends of a schedule that starts `offset` steps late and runs at most `length` steps.

    Examples:
        >>> shifted(lambda total: list(range(10, total + 1, 10)), 5, length=25)(100)
        [15, 25]
    """

    def moved(total_steps: int) -> list[int]:
        budget = total_steps - offset if length is None else min(total_steps - offset, length)
        if budget <= 0:
            return []
        return [offset + e for e in ends(budget)]

    return moved
