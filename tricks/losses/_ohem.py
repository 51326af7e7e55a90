"""Online hard-example mining over any per-example loss."""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated

import jax
import numpy as np

import registry
from tricks.losses._base import Loss, weighted_mean


@dataclasses.dataclass(frozen=True)
class OHEM:
    """Online hard-example mining: the weighted mean of the hardest `fraction` of the batch.

    The k = ⌈fraction · N⌉ examples with the largest weighted loss aᵢℓᵢ are kept (chosen
    without gradient); the others contribute nothing to the loss nor to the gradient.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from tricks.losses import CrossEntropy
        >>> logits = jnp.array([[3.0, 0.0], [0.0, 3.0], [0.0, 0.0], [1.0, 0.0]])
        >>> grad = jax.grad(OHEM(CrossEntropy(), fraction=0.25))(logits, jnp.eye(2)[jnp.array([0, 1, 1, 0])])
        >>> (abs(grad).sum(axis=1) > 0).tolist()   # only the hardest example (row 2) has a gradient
        [False, False, True, False]
    """

    loss: Loss
    fraction: float = 0.25

    def __call__(self, logits: jax.Array, targets: jax.Array) -> jax.Array:
        losses, weights = self.loss.example_losses(logits, targets)
        k = max(1, math.ceil(self.fraction * losses.shape[0]))
        _, hardest = jax.lax.top_k(jax.lax.stop_gradient(weights * losses), k)
        return weighted_mean(losses[hardest], weights[hardest])

    def prepare(self, class_counts: np.ndarray) -> OHEM:
        """This OHEM with its inner loss prepared (see `Loss.prepare`)."""
        return dataclasses.replace(self, loss=self.loss.prepare(class_counts))



@registry.register("loss")
def ohem(
    loss: Annotated[str | Loss, registry.Kind("loss")] = "cross_entropy", fraction: float = 0.25
) -> OHEM:
    """Online hard-example mining: only the hardest `fraction` of each batch contributes.

    Args:
        loss: the per-example loss whose values rank the examples (with its own label
            smoothing and class weights); a spec or a `Loss`.
        fraction: the share of the batch kept, in (0, 1]; at least one example is kept.

    Examples:
        >>> import registry, tricks
        >>> registry.build("loss", "ohem(cross_entropy(label_smoothing=0.1), fraction=0.5)")
        OHEM(loss=CrossEntropy(label_smoothing=0.1, class_weights=None), fraction=0.5)
    """
    if isinstance(loss, str):
        loss = registry.build("loss", loss)
    if not isinstance(loss, Loss):
        raise registry.RegistryError(
            f"must be a per-example loss (cross_entropy, mse, focal or poly1), got {loss!r}", argument="loss"
        )
    if not 0.0 < fraction <= 1.0:
        raise registry.RegistryError(f"must be in (0, 1], got {fraction}", argument="fraction")
    return OHEM(loss, float(fraction))

