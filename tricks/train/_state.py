"""The training state: everything a run needs to continue, as one pytree of arrays."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    """Parameters, batch-norm statistics, optimizer state, step and random key.

    Every leaf is an array, so the state jits, shards, and saves with Orbax as it is.
    ``rng`` is a raw ``uint32`` key; per-step randomness is ``fold_in(rng, step)``.
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array

    def variables(self) -> dict:
        """The Flax variables for ``model.apply``."""
        if self.batch_stats:
            return {"params": self.params, "batch_stats": self.batch_stats}
        return {"params": self.params}


def create_state(model, optimizer: optax.GradientTransformation, example: jax.Array, seed: int) -> TrainState:
    """Initializes parameters from one example batch, and the optimizer state from them.

    Examples:
        >>> import flax.linen as nn
        >>> class Linear(nn.Module):
        ...     @nn.compact
        ...     def __call__(self, x, train=False):
        ...         return nn.Dense(3)(x)
        >>> state = create_state(Linear(), optax.sgd(0.1), jnp.zeros((1, 4)), seed=0)
        >>> state.params["Dense_0"]["kernel"].shape, int(state.step)
        ((4, 3), 0)
    """
    rng = jax.random.PRNGKey(seed)
    init_key, dropout_key, rng = jax.random.split(rng, 3)
    variables = model.init({"params": init_key, "dropout": dropout_key}, example, train=False)
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=optimizer.init(params),
        rng=rng,
    )

