"""Mixup (Zhang et al. 2018): convex combinations of example pairs and of their targets."""

from __future__ import annotations

import dataclasses

import jax

import registry
from tricks.augment._base import Augment, Batch, labels, replace


@dataclasses.dataclass(frozen=True)
class Mixup(Augment):
    """x̃ᵢ = λᵢxᵢ + (1 − λᵢ)x_π(i), ỹᵢ likewise, λᵢ ~ Beta(α, α) per example, π a random permutation.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> batch = {"image": jnp.ones((4, 2, 2, 1)), "label": jnp.eye(4)}
        >>> out = jax.eval_shape(lambda b: Mixup(0.4)(b, jax.random.key(0), True), batch)   # shapes only
        >>> out["image"].shape, out["label"].shape
        ((4, 2, 2, 1), (4, 4))
    """

    alpha: float

    def apply(self, batch: Batch, key: jax.Array) -> Batch:
        x, y = batch["image"], labels(batch, "mixup")
        if y.ndim != 2:
            raise ValueError(
                f"mixup expects one-hot or soft labels (N, num_classes), got shape {tuple(y.shape)}"
            )
        k_lambda, k_perm = jax.random.split(key)
        lam = jax.random.beta(k_lambda, self.alpha, self.alpha, (x.shape[0],)).astype(x.dtype)
        partner = jax.random.permutation(k_perm, x.shape[0])
        lx = lam.reshape((-1,) + (1,) * (x.ndim - 1))
        ly = lam[:, None].astype(y.dtype)
        return replace(batch, image=lx * x + (1 - lx) * x[partner], label=ly * y + (1 - ly) * y[partner])


@registry.register("augment")
def mixup(alpha: float = 0.2) -> Mixup:
    """Mixup: each example is blended with a random partner, by its own λ ~ Beta(α, α).

    Labels must already be probability vectors (the engine one-hot encodes before
    augmenting); mixed labels stay probability vectors. Per-example λ (rather than one per
    batch as in the paper) keeps every example's draw independent. Works for any input rank.

    Examples:
        >>> mixup(alpha=0.4)
        Mixup(alpha=0.4)
    """
    if not alpha > 0:
        raise registry.RegistryError(f"must be > 0, got {alpha}", argument="alpha")
    return Mixup(float(alpha))
