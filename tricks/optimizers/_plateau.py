"""`on_plateau`: any optimizer whose rate a `reduce_on_plateau` rule scales down."""

from __future__ import annotations

from typing import Annotated

import optax

import registry
from tricks.optimizers._inject import _donatable
from tricks.optimizers._types import Optimizer
from tricks.schedules import Plateau, scale_by_plateau

PlateauLike = Annotated[Plateau, registry.Kind("schedule")]


@registry.register("optimizer", "on_plateau")
def on_plateau(optimizer: Optimizer, plateau: PlateauLike) -> optax.GradientTransformation:
    """Multiplies `optimizer`'s updates (so its learning rate) by a plateau rule's scale.

    The rule (`reduce_on_plateau`) lowers the scale when the monitored metric stops
    improving; the training loop feeds it the validation loss after each evaluation
    (`tricks.schedules.feed_plateau`), and logs the scale as ``plateau_scale``. This is
    torch's ``ReduceLROnPlateau`` for any optimizer, schedules included.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "on_plateau(sgd(learning_rate=0.1), reduce_on_plateau(patience=0))")
        >>> state = opt.init({"w": jnp.ones(2)})
        >>> state = tricks.schedules.feed_plateau(tricks.schedules.feed_plateau(state, 1.0), 2.0)
        >>> updates, _ = opt.update({"w": jnp.ones(2)}, state, {"w": jnp.ones(2)})
        >>> updates["w"]
        Array([-0.01, -0.01], dtype=float32)
    """
    chained = optax.chain(optimizer, scale_by_plateau(plateau))
    # The plateau's counters start as equal constants; a donated state needs distinct buffers.
    return chained._replace(init=lambda params: _donatable(chained.init(params)))
