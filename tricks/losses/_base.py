"""The base of the per-example losses (label smoothing, class weights, weighted mean), and argument checks."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

import registry

ClassWeights = Sequence[float] | Literal["balanced"] | None


@dataclasses.dataclass(frozen=True)
class Loss(abc.ABC):
    """Base of the per-example losses: label smoothing, class weights and the weighted mean.

    Subclasses define `_per_example(logits, targets) -> (N,)` on smoothed targets.

    Examples:
        >>> import jax.numpy as jnp
        >>> from tricks.losses import CrossEntropy
        >>> loss = CrossEntropy(class_weights=(1.0, 3.0))
        >>> losses, weights = loss.example_losses(jnp.zeros((2, 2)), jnp.eye(2))
        >>> weights
        Array([1., 3.], dtype=float32)
    """

    label_smoothing: float = 0.0
    class_weights: tuple[float, ...] | str | None = None

    @abc.abstractmethod
    def _per_example(self, logits: jax.Array, targets: jax.Array) -> jax.Array:
        """Per-example losses (N,) against (already smoothed) targets."""

    def example_losses(self, logits: jax.Array, targets: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Per-example losses ℓᵢ (on smoothed targets) and weights aᵢ = tᵢ · w, both (N,)."""
        logits = jnp.asarray(logits, jnp.float32)
        targets = jnp.asarray(targets, jnp.float32)
        if logits.ndim != 2 or logits.shape != targets.shape:
            raise ValueError(
                f"{self.name} expects logits and targets of the same shape (N, C), "
                f"got {logits.shape} and {targets.shape}"
            )
        smoothing = self.label_smoothing  # a number, or an array (traced: smoothing by 0 changes nothing)
        smoothed = optax.smooth_labels(targets, smoothing) if not isinstance(smoothing, float) or smoothing else targets
        losses = self._per_example(logits, smoothed)
        return losses, targets @ self._weights(logits.shape[-1])

    def __call__(self, logits: jax.Array, targets: jax.Array) -> jax.Array:
        losses, weights = self.example_losses(logits, targets)
        return weighted_mean(losses, weights)

    def prepare(self, class_counts: np.ndarray) -> Loss:
        """This loss with ``"balanced"`` class weights made concrete from the training class counts."""
        counts = np.asarray(class_counts, dtype=np.float64)
        if counts.ndim != 1:
            raise ValueError(f"class_counts must be one count per class, got shape {counts.shape}")
        if isinstance(self.class_weights, tuple) and len(self.class_weights) != len(counts):
            raise ValueError(
                f"{self.name}: {len(self.class_weights)} class weights given, "
                f"but the dataset has {len(counts)} classes"
            )
        if self.class_weights != "balanced":
            return self
        return dataclasses.replace(self, class_weights=balanced_weights(counts))

    @property
    def name(self) -> str:
        return type(self).__name__

    def _weights(self, num_classes: int) -> jax.Array:
        if self.class_weights is None:
            return jnp.ones((num_classes,), jnp.float32)
        if self.class_weights == "balanced":
            raise ValueError(
                f"{self.name} has class_weights='balanced' but no class counts yet: call "
                "loss.prepare(class_counts) with the training set's counts first (the training engine does)"
            )
        if len(self.class_weights) != num_classes:
            raise ValueError(
                f"{self.name}: {len(self.class_weights)} class weights given for {num_classes} classes"
            )
        return jnp.asarray(self.class_weights, jnp.float32)


def balanced_weights(class_counts: np.ndarray) -> tuple[float, ...]:
    """scikit-learn's "balanced" class weights n / (C · n_c).

    Examples:
        >>> balanced_weights([50, 25, 25])
        (0.666..., 1.333..., 1.333...)
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    empty = np.flatnonzero(counts <= 0)
    if empty.size:
        raise ValueError(
            f"balanced class weights need every class in the training set; no examples of {empty.tolist()}"
        )
    return tuple(float(w) for w in counts.sum() / (len(counts) * counts))


def weighted_mean(losses: jax.Array, weights: jax.Array) -> jax.Array:
    """Σ wᵢℓᵢ / Σ wᵢ (0 when every weight is 0)."""
    total = weights.sum()
    return (weights * losses).sum() / jnp.where(total > 0, total, 1.0)



def check(
    label_smoothing: float, class_weights: ClassWeights
) -> tuple[float, tuple[float, ...] | str | None]:
    """The shared options, checked: label smoothing in [0, 1) and class weights (errors name the argument)."""
    if isinstance(label_smoothing, (int, float)):  # (an array, traced, is a member's of a population)
        if not 0.0 <= label_smoothing < 1.0:
            raise registry.RegistryError(f"must be in [0, 1), got {label_smoothing}", argument="label_smoothing")
        label_smoothing = float(label_smoothing)
    if class_weights is None or class_weights == "balanced":
        return label_smoothing, class_weights
    if isinstance(class_weights, str):
        raise registry.RegistryError(
            f"must be None, 'balanced' or a list of weights, got {class_weights!r}", argument="class_weights"
        )
    weights = tuple(float(w) for w in class_weights)
    if not weights or min(weights) < 0 or max(weights) <= 0:
        raise registry.RegistryError(
            f"must be non-negative with at least one positive weight, got {list(weights)}",
            argument="class_weights",
        )
    return label_smoothing, weights


