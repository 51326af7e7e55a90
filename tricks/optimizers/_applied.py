"""The learning rate an optimizer's newest update applied, where it is not the injected one."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from tricks import schedules
from tricks.optimizers._inject import hyperparams
from tricks.optimizers._swats import ScaleBySwatsState


def applied_learning_rate(opt_state: optax.OptState) -> jax.Array | None:
    """The learning rate the newest update applied, or None without an injected one.

    `hyperparams` gives the injected (scheduled) rate; the applied one differs where the
    optimizer scales it: times `reduce_on_plateau`'s scale under ``on_plateau``, and,
    once SWATS has switched to SGD, the SGD rate it learned, in the convention of
    momentum SGD (torch's ``v = b1 v + g``, ``p -= rate v``): ``(1 - b1) Λ α / α_switch``
    with Λ the learned rate and α the injected rate now and at the switch
    (`scale_by_swats`).

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "on_plateau(sgd(learning_rate=0.5), reduce_on_plateau(factor=0.5, patience=0))")
        >>> state = opt.init(jnp.zeros(2))
        >>> for loss in (1.0, 1.0):
        ...     state = schedules.feed_plateau(state, jnp.float32(loss))
        >>> float(hyperparams(state)["learning_rate"]), float(applied_learning_rate(state))
        (0.5, 0.25)
    """
    found = hyperparams(opt_state)
    rate = found.get("learning_rate")
    if rate is None:
        return None
    for state in _states(opt_state, ScaleBySwatsState):
        b1 = found.get("b1", 0.9)
        at_switch = jnp.where(state.switched, state.switch_learning_rate, 1.0)
        rate = jnp.where(state.switched, (1 - b1) * state.sgd_rate * rate / at_switch, rate)
    for state in _states(opt_state, schedules.ScaleByPlateauState):
        rate = rate * state.plateau_state.scale
    return rate


def _states(opt_state, state_type: type) -> list:
    is_state = lambda node: isinstance(node, state_type)  # noqa: E731
    return [n for n in jax.tree.leaves(opt_state, is_leaf=is_state) if is_state(n)]
