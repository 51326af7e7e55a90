"""Noise on any schedule, as timm's schedulers add it: deterministic for each step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp

import registry
from tricks._types import ScheduleLike
from tricks.schedules import _core
from tricks.schedules._core import Fn, as_float
from tricks.schedules._cycles import Cyclical

_WORD = 2.0**32


def _step_keys(key: jax.Array, t: jax.Array) -> jax.Array:
    """One key per whole step: the seed's key folded with the step's low and high 32 bits."""
    whole = jnp.maximum(jnp.floor(t), 0.0)
    high = jnp.floor(whole / _WORD)
    low = whole - high * _WORD

    def fold(lo, hi):
        return jax.random.fold_in(jax.random.fold_in(key, lo.astype(jnp.uint32)), hi.astype(jnp.uint32))

    return jax.vmap(fold)(low.reshape(-1), high.reshape(-1))


@registry.register("schedule", "noisy")
def noisy(
    schedule: ScheduleLike,
    noise_range_t: int | Sequence[int] = 0,
    noise_pct: float = 0.67,
    noise_std: float = 1.0,
    noise_seed: int = 42,
    noise_type: Literal["normal", "uniform"] = "normal",
) -> Fn:
    """`schedule` times ``1 + noise``, a random noise drawn afresh at each step in a range.

    timm's scheduler noise (``timm/scheduler/scheduler.py``, ``Scheduler._add_noise``):
    ``value = v + v * noise`` with
      * ``normal``: ``noise_std * z``, z a standard normal truncated so that
        ``|noise| < noise_pct`` (timm redraws until it is; timm keeps ``noise_std`` but
        draws with std 1, which the default 1 matches);
      * ``uniform``: uniform in ``[-noise_pct, noise_pct)``.
    The noise applies where ``t >= noise_range_t`` (a number) or
    ``noise_range_t[0] <= t < noise_range_t[1]`` (a pair); elsewhere the value is
    `schedule`'s. Unlike timm, whose ``None`` turns the noise off, the default range is
    the whole run.

    The draw at step t depends only on `noise_seed` and t (a key folded with the step's
    whole number, so jittable, the same in float32 and float64, and past 2**32): a resumed
    run sees the same noise. timm seeds a torch generator with ``noise_seed + t``; the
    values differ from timm's draws, the distribution is the same. A cyclical schedule
    keeps `cycle_ends`.

    Args:
        schedule: any schedule, or a number (a constant).
        noise_range_t: the first noisy step, or ``[first, end)`` (>= 0, increasing).
        noise_pct: the bound on ``|noise|``, in (0, 1), so the value keeps its sign.
        noise_std: the normal noise's standard deviation before truncation (> 0).
        noise_seed: the seed (0 <= seed < 2**32).
        noise_type: ``normal`` or ``uniform``.

    Examples:
        >>> from tricks.schedules import constant
        >>> s = noisy(constant(0.1), noise_range_t=[2, 4], noise_pct=0.5)
        >>> v = s(jnp.arange(6))
        >>> [round(x, 4) for x in v[jnp.array([0, 1, 4, 5])].tolist()], bool(jnp.all(jnp.abs(v[2:4] / 0.1 - 1) < 0.5))
        ([0.1, 0.1, 0.1, 0.1], True)
        >>> bool(jnp.all(s(jnp.arange(6)) == jax.jit(s)(jnp.arange(6))))
        True
    """
    inner = _core.as_schedule(schedule, "schedule")
    bounds = _noise_range(noise_range_t)
    if not 0.0 < noise_pct < 1.0:
        raise registry.RegistryError(f"must be in (0, 1), got {noise_pct!r}", argument="noise_pct")
    _core.positive(noise_std, "noise_std")
    _core.finite(noise_std, "noise_std")
    if not 0 <= noise_seed < 2**32:
        raise registry.RegistryError(f"must be in [0, 2**32), got {noise_seed!r}", argument="noise_seed")
    _core.one_of(noise_type, ("normal", "uniform"), "noise_type")
    first, end = bounds
    key = jax.random.key(noise_seed)
    limit = noise_pct / noise_std

    def draw(k):
        if noise_type == "normal":
            return noise_std * jax.random.truncated_normal(k, -limit, limit, dtype=jnp.float32)
        return jax.random.uniform(k, dtype=jnp.float32, minval=-noise_pct, maxval=noise_pct)

    @jax.jit  # one compilation per shape, where op-by-op dispatch of the draws takes seconds
    def noise_at(t):
        return jax.vmap(draw)(_step_keys(key, t)).reshape(t.shape).astype(t.dtype)  # float32 draws: x64 alike

    def noised(count):
        t = as_float(count)
        value = inner(count)
        noise = noise_at(t)
        inside = t >= first if end is None else (t >= first) & (t < end)
        return jnp.where(inside, value + value * noise, value)

    if isinstance(inner, Cyclical):
        return Cyclical(noised, inner.ends)
    return noised


def _noise_range(value: int | Sequence[int]) -> tuple[float, float | None]:
    """``(first, end)`` from timm's ``noise_range_t`` (end None: for ever)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _core.non_negative(value, "noise_range_t"), None
    value = list(value)
    if len(value) != 2:
        raise registry.RegistryError(f"must be a step or [first, end), got {value!r}", argument="noise_range_t")
    first = _core.non_negative(value[0], "noise_range_t")
    if not value[1] > first:
        raise registry.RegistryError(f"must be increasing, got {value!r}", argument="noise_range_t")
    return first, float(value[1])
