"""Weight-decay pieces shared by the factories: whether decay is on, and L2 as a chain part."""

from __future__ import annotations

import jax
import optax

from tricks._types import ScheduleLike


def uses(value: ScheduleLike | None) -> bool:
    """Whether a weight-decay argument is active: a schedule, a nonzero number, or an
    array (traced, its value unknown: the members of `tricks.train.train_population`).

    Examples:
        >>> import numpy as np
        >>> uses(0.0), uses(1e-4), uses(lambda step: 0.0), uses(np.float32(0.0))
        (False, True, True, True)
    """
    return value is not None and (callable(value) or not isinstance(value, (int, float)) or value != 0)


def l2(weight_decay: jax.Array | None) -> list[optax.GradientTransformation]:
    """The chain parts adding λθ to the gradient (coupled, L2 decay), or none for None.

    Examples:
        >>> import jax.numpy as jnp, optax
        >>> opt = optax.chain(*l2(0.5))
        >>> opt.update(jnp.zeros(1), opt.init(jnp.ones(1)), jnp.ones(1))[0]
        Array([0.5], dtype=float32)
    """
    return [optax.add_decayed_weights(weight_decay)] if weight_decay is not None else []


def injected(learning_rate: ScheduleLike, b1: ScheduleLike, weight_decay: ScheduleLike | None = 0.0) -> dict:
    """The hyperparameters an Adam-like factory injects: ``learning_rate``, ``b1``, and
    ``weight_decay`` when it `uses` one.

    Examples:
        >>> sorted(injected(1e-3, 0.9)), sorted(injected(1e-3, 0.9, 1e-4))
        (['b1', 'learning_rate'], ['b1', 'learning_rate', 'weight_decay'])
    """
    return {"learning_rate": learning_rate, "b1": b1} | ({"weight_decay": weight_decay} if uses(weight_decay) else {})
