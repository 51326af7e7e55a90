"""Decays over a fixed budget of steps: rex and tanh."""

from __future__ import annotations

import jax.numpy as jnp

import registry
from tricks.schedules import _core
from tricks.schedules._core import Fn, as_float
from tricks.schedules._length import RunSteps, required


@registry.register("schedule", "rex")
def rex(init_value: float, decay_steps: RunSteps = None) -> Fn:
    """The REX decay: ``init * z / (1/2 + z/2)`` with ``z = 1 - min(t, T) / T``.

    Chen, Wolfe & Kyrillidis 2022, "REX: Revisiting Budgeted Training with an Improved
    Schedule" (eq. 1, the "reflected exponential"): flatter than linear early on, steeper
    at the end, reaching 0 at T = `decay_steps` and staying there.

    Args:
        init_value: the value at step 0.
        decay_steps: T, the budget (> 0).

    Examples:
        >>> [round(v, 4) for v in rex(1.0, decay_steps=4)(jnp.arange(6)).tolist()]
        [1.0, 0.8571, 0.6667, 0.4, 0.0, 0.0]
    """
    decay_steps = _core.positive(required(decay_steps, "decay_steps"), "decay_steps")

    def schedule(count):
        z = (decay_steps - jnp.minimum(as_float(count), decay_steps)) / decay_steps
        return init_value * z / (0.5 + 0.5 * z)

    return schedule


@registry.register("schedule", "tanh")
def tanh(
    init_value: float, decay_steps: RunSteps = None, end_value: float = 0.0, lb: float = -7.0, ub: float = 3.0
) -> Fn:
    """A hyperbolic-tangent decay: timm ``TanhLRScheduler`` (one cycle, no warmup, no noise).

    Hsueh et al. 2019, "Stochastic Gradient Descent with Hyperbolic-Tangent Decay on
    Classification" (arXiv 1806.01593), as timm's ``timm/scheduler/tanh_lr.py`` writes it:
    with r = t / T, T = `decay_steps`,
    ``value = end + (init - end) * (1 - tanh(lb * (1 - r) + ub * r)) / 2`` for t < T, then
    `end_value` (timm's ``lr_min`` once its single cycle is over, a small step down from
    ``end + (init - end) * (1 - tanh(ub)) / 2``). The value at step 0 is
    ``(1 - tanh(lb)) / 2`` of the way from `end_value` to `init_value`, not exactly the latter.

    timm's options map to wrappers: ``warmup_t`` with ``warmup_prefix=True`` is
    `warmup` (which ramps to ``tanh(0)`` instead of ``init_value``), restarts are `join`
    of several tanh decays, and the noise is `noisy`.

    Args:
        init_value: timm's base rate (``lr_max`` of the first cycle).
        decay_steps: T, timm's ``t_initial`` (> 0).
        end_value: timm's ``lr_min``.
        lb: the tanh's argument at step 0.
        ub: the tanh's argument at step T (> `lb`).

    Examples:
        >>> [round(v, 4) for v in tanh(1.0, decay_steps=4)(jnp.arange(6)).tolist()]
        [1.0, 0.9999, 0.982, 0.2689, 0.0, 0.0]
    """
    decay_steps = _core.positive(required(decay_steps, "decay_steps"), "decay_steps")
    _core.finite(lb, "lb")
    _core.finite(ub, "ub")
    if not ub > lb:
        raise registry.RegistryError(f"must be > lb = {lb!r}, got {ub!r}", argument="ub")

    def schedule(count):
        t = as_float(count)
        r = jnp.minimum(t, decay_steps) / decay_steps
        value = end_value + 0.5 * (init_value - end_value) * (1.0 - jnp.tanh(lb * (1.0 - r) + ub * r))
        return jnp.where(t < decay_steps, value, end_value)

    return schedule
