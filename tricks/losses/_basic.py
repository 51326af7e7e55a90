"""Softmax cross-entropy and MSE on one-hot targets."""

from __future__ import annotations

import dataclasses

import jax
import optax

import registry
from tricks.losses._base import ClassWeights, Loss, check


@dataclasses.dataclass(frozen=True)
class CrossEntropy(Loss):
    """Softmax cross-entropy −Σ_c t_c log softmax(z)_c per example.

    Examples:
        >>> import jax.numpy as jnp
        >>> round(float(CrossEntropy()(jnp.zeros((1, 4)), jnp.array([[0.0, 1.0, 0.0, 0.0]]))), 4)   # log 4
        1.3863
    """

    def _per_example(self, logits: jax.Array, targets: jax.Array) -> jax.Array:
        return optax.softmax_cross_entropy(logits, targets)


@dataclasses.dataclass(frozen=True)
class MeanSquaredError(Loss):
    """Mean over classes of (z_c − t_c)², on logits or (with `softmax`) on probabilities.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(MeanSquaredError()(jnp.array([[1.0, 1.0]]), jnp.array([[1.0, 0.0]])))
        0.5
    """

    softmax: bool = False

    def _per_example(self, logits: jax.Array, targets: jax.Array) -> jax.Array:
        outputs = jax.nn.softmax(logits) if self.softmax else logits
        return ((outputs - targets) ** 2).mean(axis=-1)



@registry.register("loss")
def cross_entropy(label_smoothing: float = 0.0, class_weights: ClassWeights = None) -> CrossEntropy:
    """Softmax cross-entropy on probability targets, with label smoothing and class weights.

    Args:
        label_smoothing: ε in [0, 1); targets become (1 − ε)·t + ε/C.
        class_weights: None, one weight per class, or "balanced" (n / (C · n_c), filled in
            by `prepare` from the training class counts).

    Examples:
        >>> import jax.numpy as jnp, optax
        >>> logits, targets = jnp.array([[1.0, 2.0, 0.5]]), jnp.array([[0.0, 1.0, 0.0]])
        >>> float(cross_entropy()(logits, targets)) == float(optax.softmax_cross_entropy(logits, targets)[0])
        True
    """
    return CrossEntropy(*check(label_smoothing, class_weights))


@registry.register("loss")
def mse(
    label_smoothing: float = 0.0, class_weights: ClassWeights = None, softmax: bool = False
) -> MeanSquaredError:
    """Mean squared error against one-hot (or soft) targets: mean over classes of (z_c − t_c)².

    By default it is taken on the logits (a linear output layer, as in Hui & Belkin 2021);
    ``softmax=True`` compares softmax probabilities with the targets instead. Cross-entropy
    usually optimizes more easily (SPEC §7).

    Args:
        label_smoothing: ε in [0, 1); targets become (1 − ε)·t + ε/C.
        class_weights: None, one weight per class, or "balanced" (see `cross_entropy`).
        softmax: compare probabilities instead of logits.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(mse()(jnp.array([[0.0, 2.0]]), jnp.array([[0.0, 1.0]])))
        0.5
    """
    return MeanSquaredError(*check(label_smoothing, class_weights), softmax=softmax)


