"""Schedule-free SGD and AdamW (Defazio et al. 2024): Optax's, with the learning rate injected."""

from __future__ import annotations

from typing import Any

import jax
import optax
import optax.contrib

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._inject import inject

ScheduleFreeState = optax.contrib.ScheduleFreeState
"""Optax's state of a schedule-free optimizer: ``z`` (the base sequence), ``b1``, and the
weights of the running average (`schedule_free_params` reads it)."""


def _check(learning_rate, warmup_steps, b1, weight_decay, weight_lr_power) -> None:
    _validate.non_negative(learning_rate=learning_rate, weight_lr_power=weight_lr_power)
    if weight_decay is not None:
        _validate.non_negative(weight_decay=weight_decay)
    _validate.unit_interval(b1=b1)
    _validate.positive(b1=b1)  # x = (y - (1 - β1) z) / β1 divides by it
    if warmup_steps is not None:
        _validate.at_least(0, warmup_steps=warmup_steps)


@registry.register("optimizer", "schedule_free_sgd")
def schedule_free_sgd(
    learning_rate: ScheduleLike = 1.0,
    warmup_steps: int | None = None,
    b1: float = 0.9,
    weight_decay: float | None = None,
    weight_lr_power: float = 2.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Schedule-free SGD (Defazio et al., "The Road Less Scheduled", NeurIPS 2024).

    Three sequences: the gradient is taken at y_t = (1 − β1) z_t + β1 x_t; the base step
    z_{t+1} = z_t − γ_t ∇f(y_t); and x_{t+1} = (1 − c_{t+1}) x_t + c_{t+1} z_{t+1}, a
    running average with c_{t+1} = γ_t^p / Σ_{i≤t} γ_i^p (p = ``weight_lr_power``), so
    no decaying schedule is needed. The parameters the loop holds are **y**; evaluate at
    **x** = (y − (1 − β1) z)/β1 (`schedule_free_params`, which the training engine
    applies for evaluation, checkpoint loading and snapshots). This is
    `optax.contrib.schedule_free_sgd` with the learning rate injected (logged and
    restored like every optimizer's); ``warmup_steps`` is Optax's linear warmup from 0
    inside it, and ``weight_decay`` Optax's (added to the gradient at y).

    Args:
        learning_rate: γ, a number (or a schedule, though the method needs none); injected.
        warmup_steps: steps of linear warmup of γ from 0, or None (none).
        b1: β1 in (0, 1), the interpolation between x and z.
        weight_decay: L2 coefficient >= 0 added to the gradient, or None.
        weight_lr_power: p >= 0, the power of γ in the averaging weights.

    Returns:
        An `optax.GradientTransformationExtraArgs` whose state holds a `ScheduleFreeState`.

    Examples:
        >>> import jax.numpy as jnp, optax, registry, tricks
        >>> opt = registry.build("optimizer", "schedule_free_sgd(learning_rate=0.1)")
        >>> params = jnp.array([1.0])
        >>> state = opt.init(params)
        >>> for _ in range(2):  # f(w) = w²
        ...     updates, state = opt.update(2 * params, state, params)
        ...     params = optax.apply_updates(params, updates)
        >>> params, schedule_free_params(state, params)  # y, and x where it evaluates
        (Array([0.712], dtype=float32), Array([0.72], dtype=float32))
    """
    _check(learning_rate, warmup_steps, b1, weight_decay, weight_lr_power)

    def build(learning_rate):
        return optax.contrib.schedule_free_sgd(learning_rate, warmup_steps=warmup_steps, b1=b1,
                                               weight_decay=weight_decay, weight_lr_power=weight_lr_power)

    return inject(build, learning_rate=learning_rate)


@registry.register("optimizer", "schedule_free_adamw")
def schedule_free_adamw(
    learning_rate: ScheduleLike = 0.0025,
    warmup_steps: int | None = None,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    weight_lr_power: float = 2.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Schedule-free AdamW (Defazio et al., "The Road Less Scheduled", NeurIPS 2024).

    As `schedule_free_sgd`, with the base step z_{t+1} = z_t − γ_t (g/(√v̂ + ε) + λ y_t),
    v ← β2 v + (1 − β2) g² bias-corrected (no first moment: the averaging plays its part)
    and decoupled weight decay λ applied at y. The loop's parameters are y; evaluate at
    x (`schedule_free_params`). This is `optax.contrib.schedule_free_adamw` with the
    learning rate injected; ``warmup_steps`` is Optax's linear warmup from 0.

    Args:
        learning_rate: γ, a number (or a schedule); injected.
        warmup_steps: steps of linear warmup of γ from 0, or None.
        b1: β1 in (0, 1), the interpolation between x and z.
        b2: β2 in [0, 1).
        eps: ε > 0, outside the root.
        weight_decay: decoupled decay λ >= 0 (on every parameter, as Optax's).
        weight_lr_power: p >= 0, the power of γ in the averaging weights.

    Returns:
        An `optax.GradientTransformationExtraArgs` whose state holds a `ScheduleFreeState`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "schedule_free_adamw(learning_rate=0.1)")
        >>> state = opt.init(jnp.zeros(2))
        >>> opt.update(jnp.array([3.0, -0.5]), state, jnp.zeros(2))[0]
        Array([-0.09999936,  0.09999936], dtype=float32)
    """
    _check(learning_rate, warmup_steps, b1, weight_decay, weight_lr_power)
    _validate.unit_interval(b2=b2)
    _validate.positive(eps=eps)

    def build(learning_rate):
        return optax.contrib.schedule_free_adamw(learning_rate, warmup_steps=warmup_steps, b1=b1, b2=b2, eps=eps,
                                                 weight_decay=weight_decay, weight_lr_power=weight_lr_power)

    return inject(build, learning_rate=learning_rate)


def schedule_free_params(opt_state: optax.OptState, params: optax.Params) -> optax.Params:
    """The parameters to evaluate: x of the `ScheduleFreeState` anywhere in `opt_state`
    (wrapped, injected, chained), else `params` themselves.

    ``x = (y − (1 − β1) z)/β1`` (`optax.contrib.schedule_free_eval_params`), `params`
    being y. A state without a `ScheduleFreeState` costs nothing: `params` is returned as is.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> y = jnp.array([1.0])
        >>> schedule_free_params(registry.build("optimizer", "adam").init(y), y) is y
        True
    """
    found = _schedule_free_states(opt_state)
    if not found:
        return params
    if len(found) > 1:
        raise ValueError(f"expected at most one ScheduleFreeState in the optimizer state, found {len(found)}")
    return optax.contrib.schedule_free_eval_params(found[0], params)


def is_schedule_free(opt_state: optax.OptState) -> bool:
    """Whether `opt_state` holds a `ScheduleFreeState` (its parameters are evaluated at x)."""
    return bool(_schedule_free_states(opt_state))


def _schedule_free_states(opt_state: Any) -> list:
    is_state = lambda node: isinstance(node, ScheduleFreeState)  # noqa: E731
    return [node for node in jax.tree.leaves(opt_state, is_leaf=is_state) if is_state(node)]
