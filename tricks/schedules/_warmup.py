"""Wrappers of any schedule: warmup before it, and the linear scaling rule for batch size."""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp

import registry
from tricks._types import ScheduleLike
from tricks.schedules import _core
from tricks.schedules._core import Fn, as_float
from tricks.schedules._cycles import Cyclical, shifted


@registry.register("schedule", "warmup")
def warmup(
    schedule: ScheduleLike,
    warmup_steps: int,
    init_value: float = 0.0,
    mode: Literal["linear", "exponential", "constant"] = "linear",
) -> Fn:
    """Ramps from `init_value` to the first value of `schedule`, which then runs from its step 0.

    For t < w = `warmup_steps`, with target = ``schedule(0)``:
      * ``linear``: ``init_value + (target - init_value) * t / w`` (Goyal et al. 2017
        gradual warmup with ``init_value = 0``: ``t / w * target``);
      * ``exponential``: ``init_value * (target / init_value) ** (t / w)`` (needs both > 0);
      * ``constant``: ``init_value`` (He et al. 2016's low constant rate before the real one).

    From t = w on the value is ``schedule(t - w)``: the wrapped schedule keeps its own
    clock, as torch ``SequentialLR`` and Keras ``CosineDecay(warmup_target=...)`` do. A
    cyclical schedule keeps `cycle_ends`, shifted by w.

    Args:
        schedule: any schedule, or a number (a constant).
        warmup_steps: w (>= 0; 0 leaves `schedule` unchanged).
        init_value: the value at step 0.
        mode: ``linear``, ``exponential`` or ``constant``.

    Examples:
        >>> from tricks.schedules import cosine
        >>> [round(v, 4) for v in warmup(cosine(1.0, decay_steps=4), warmup_steps=2)(jnp.arange(8)).tolist()]
        [0.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]
        >>> s = warmup(1.0, warmup_steps=3, init_value=0.01, mode="exponential")
        >>> [round(v, 4) for v in s(jnp.arange(4)).tolist()]
        [0.01, 0.0464, 0.2154, 1.0]
    """
    inner = _core.as_schedule(schedule, "schedule")
    steps = _core.non_negative(warmup_steps, "warmup_steps")
    _core.one_of(mode, ("linear", "exponential", "constant"), "mode")
    if mode == "exponential":
        _core.positive(init_value, "init_value")
        first = float(inner(0))
        if not first > 0:
            raise registry.RegistryError(
                f"an exponential warmup needs a schedule starting above 0; it starts at {first!r}",
                argument="schedule",
            )

    def warmed(count):
        t = as_float(count)
        after = inner(jnp.maximum(t - steps, 0.0))
        if steps == 0:
            return after
        target = inner(jnp.zeros_like(t))
        frac = t / steps
        if mode == "linear":
            ramp = init_value + (target - init_value) * frac
        elif mode == "exponential":
            ramp = init_value * jnp.power(target / init_value, frac)
        else:
            ramp = jnp.full_like(t, init_value)
        return jnp.where(t < steps, ramp, after)

    if isinstance(inner, Cyclical):
        return Cyclical(warmed, shifted(inner.ends, warmup_steps))
    return warmed


@registry.register("schedule", "scaled")
def scaled(schedule: ScheduleLike, batch_size: int, base_batch_size: int = 256) -> Fn:
    """The linear scaling rule: `schedule` times ``batch_size / base_batch_size``.

    A rate tuned for a batch of `base_batch_size` examples, used with a batch k times
    larger, is made k times larger (Goyal et al. 2017; valid while the batch is moderate,
    and usually combined with `warmup`). A cyclical schedule keeps `cycle_ends`.

    Args:
        schedule: any schedule, or a number (the base rate).
        batch_size: the batch size in use (> 0).
        base_batch_size: the batch size the rate was tuned for (> 0).

    Examples:
        >>> scaled(0.1, batch_size=1024)(jnp.arange(2))
        Array([0.4, 0.4], dtype=float32)
    """
    inner = _core.as_schedule(schedule, "schedule")
    _core.positive(batch_size, "batch_size")
    _core.positive(base_batch_size, "base_batch_size")
    factor = batch_size / base_batch_size

    def rescaled(count):
        return inner(count) * factor

    if isinstance(inner, Cyclical):
        return Cyclical(rescaled, inner.ends)
    return rescaled
