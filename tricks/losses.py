"""Losses (kind ``loss``): cross-entropy, MSE on one-hot targets, focal loss, poly-1, online hard-example mining.

Calling convention: ``loss_fn(logits, targets) -> scalar``, with logits ``(N, C)`` and
targets ``(N, C)`` float probability vectors (the engine one-hot encodes integer labels
before augmentation, so mixup may hand over soft targets).

Options every loss shares:

- ``label_smoothing`` ε: targets become (1 − ε)·t + ε/C before the loss (Szegedy et al.).
- ``class_weights``: None, a list of C weights, or ``"balanced"``. Example i gets the weight
  aᵢ = tᵢ · w (its own targets, before smoothing), and the batch loss is the weighted mean
  Σ aᵢℓᵢ / Σ aᵢ (torch's convention for weighted cross-entropy). ``"balanced"`` weights are
  w_c = n / (C · n_c) from the training class counts (scikit-learn's "balanced"); they are
  filled in by ``loss.prepare(class_counts)``, which the engine calls once. Every loss has
  `prepare` (it returns the loss itself when there is nothing to prepare); calling an
  unprepared balanced loss raises an error saying so.

Examples:
    >>> import jax.numpy as jnp, numpy as np, registry, tricks
    >>> loss = registry.build("loss", "cross_entropy(label_smoothing=0.1, class_weights='balanced')")
    >>> loss = loss.prepare(np.array([30, 10]))     # weights n / (C n_c) = (2/3, 2)
    >>> loss.class_weights
    (0.666..., 2.0)
    >>> logits, targets = jnp.array([[2.0, 0.0], [0.0, 1.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> round(float(loss(logits, targets)), 4)
    0.3292
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Sequence
from typing import Annotated, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

import registry

__all__ = [
    "CrossEntropy",
    "FocalLoss",
    "Loss",
    "MeanSquaredError",
    "OHEM",
    "Poly1Loss",
    "balanced_weights",
    "cross_entropy",
    "focal",
    "mse",
    "ohem",
    "poly1",
]

ClassWeights = Sequence[float] | Literal["balanced"] | None


@dataclasses.dataclass(frozen=True)
class Loss(abc.ABC):
    """Base of the per-example losses: label smoothing, class weights and the weighted mean.

    Subclasses define `_per_example(logits, targets) -> (N,)` on smoothed targets.

    Examples:
        >>> import jax.numpy as jnp
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
        return _weighted_mean(losses, weights)

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


def _weighted_mean(losses: jax.Array, weights: jax.Array) -> jax.Array:
    total = weights.sum()
    return (weights * losses).sum() / jnp.where(total > 0, total, 1.0)


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


def _one_minus_p(log_p: jax.Array) -> jax.Array:
    """1 − p from log p, as −expm1(log p): exact to float precision even when p is close to 1."""
    return -jnp.expm1(log_p)


def _modulating(one_minus_p: jax.Array, gamma: float) -> jax.Array:
    """(1 − p)^γ, with a zero (not NaN) gradient where 1 − p is 0 (a confident class at ±100 logits)."""
    if gamma == 0:
        return jnp.ones_like(one_minus_p)
    positive = one_minus_p > 0
    return jnp.where(positive, jnp.where(positive, one_minus_p, 1.0) ** gamma, 0.0)


@dataclasses.dataclass(frozen=True)
class FocalLoss(Loss):
    """Softmax focal loss −Σ_c t_c α_c (1 − p_c)^γ log p_c per example, p = softmax(z).

    γ = 0 is the cross-entropy; a larger γ scales down the loss of examples already
    classified with confidence, so the hard ones weigh more. `alpha` is None (α_c = 1), one
    number for every class, or one per class. 1 − p_c is computed as −expm1(log p_c), and
    (1 − p_c)^γ has a zero gradient where it is 0, so logits of ±100 give finite values and
    gradients for every γ >= 0.

    Examples:
        >>> import jax.numpy as jnp
        >>> logits, targets = jnp.array([[2.0, 0.0]]), jnp.array([[1.0, 0.0]])
        >>> float(FocalLoss(gamma=0.0)(logits, targets)) == float(CrossEntropy()(logits, targets))
        True
        >>> round(float(FocalLoss(gamma=2.0)(logits, targets)), 5)   # (1 − 0.8808)² · 0.1269
        0.0018
    """

    gamma: float = 2.0
    alpha: float | tuple[float, ...] | None = None

    def _per_example(self, logits: jax.Array, targets: jax.Array) -> jax.Array:
        log_p = jax.nn.log_softmax(logits)
        focal = _modulating(_one_minus_p(log_p), self.gamma) * log_p
        if self.alpha is not None:
            if isinstance(self.alpha, tuple) and len(self.alpha) != logits.shape[-1]:
                raise ValueError(f"{self.name}: {len(self.alpha)} alpha values given for {logits.shape[-1]} classes")
            focal = focal * jnp.asarray(self.alpha, jnp.float32)
        return -(targets * focal).sum(axis=-1)


@dataclasses.dataclass(frozen=True)
class Poly1Loss(Loss):
    """Poly-1 loss CE + ε (1 − p_t) per example, with 1 − p_t = Σ_c t_c (1 − p_c), p = softmax(z).

    For targets summing to 1 (one-hot, smoothed or mixed), Σ_c t_c (1 − p_c) = 1 − Σ_c t_c p_c;
    it is computed in the first form, with 1 − p_c = −expm1(log p_c), so it stays exact when
    p_t is close to 1. ε = 0 is the cross-entropy.

    Examples:
        >>> import jax.numpy as jnp
        >>> logits, targets = jnp.array([[2.0, 0.0]]), jnp.array([[1.0, 0.0]])
        >>> round(float(Poly1Loss(epsilon=1.0)(logits, targets)), 4)   # 0.1269 + (1 − 0.8808)
        0.2461
    """

    epsilon: float = 1.0

    def _per_example(self, logits: jax.Array, targets: jax.Array) -> jax.Array:
        log_p = jax.nn.log_softmax(logits)
        return optax.softmax_cross_entropy(logits, targets) + self.epsilon * (targets * _one_minus_p(log_p)).sum(-1)


@dataclasses.dataclass(frozen=True)
class OHEM:
    """Online hard-example mining: the weighted mean of the hardest `fraction` of the batch.

    The k = ⌈fraction · N⌉ examples with the largest weighted loss aᵢℓᵢ are kept (chosen
    without gradient); the others contribute nothing to the loss nor to the gradient.

    Examples:
        >>> import jax, jax.numpy as jnp
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
        return _weighted_mean(losses[hardest], weights[hardest])

    def prepare(self, class_counts: np.ndarray) -> OHEM:
        """This OHEM with its inner loss prepared (see `Loss.prepare`)."""
        return dataclasses.replace(self, loss=self.loss.prepare(class_counts))


def _check(
    label_smoothing: float, class_weights: ClassWeights
) -> tuple[float, tuple[float, ...] | str | None]:
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
    return CrossEntropy(*_check(label_smoothing, class_weights))


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
    return MeanSquaredError(*_check(label_smoothing, class_weights), softmax=softmax)


@registry.register("loss")
def focal(
    gamma: float = 2.0,
    alpha: float | Sequence[float] | None = None,
    label_smoothing: float = 0.0,
    class_weights: ClassWeights = None,
) -> FocalLoss:
    """Focal loss (Lin et al. 2017), in its softmax form: −Σ_c t_c α_c (1 − p_c)^γ log p_c.

    Down-weights the examples the model already gets right with confidence, for class
    imbalance and hard examples. γ = 0 (and no α) is `cross_entropy`. With a one-hot target
    y it is the paper's FL(p_t) = −α_t (1 − p_t)^γ log p_t; soft (smoothed or mixed) targets
    weight each class's term by t_c.

    α and ``class_weights`` differ in normalization: α multiplies each example's loss
    inside the batch mean (Σᵢ ℓᵢ / N, as in the paper, which normalizes by the number of
    anchors, not by Σ α), while ``class_weights`` give the weighted mean Σ aᵢℓᵢ / Σ aᵢ of
    every loss here. Both may be given (they multiply); `ohem` ranks examples by the
    α-weighted loss. A single float α only rescales the loss (the multi-class form of
    libraries such as kornia); the paper's binary α vs 1 − α becomes a per-class list.

    Args:
        gamma: the focusing exponent γ >= 0 (the paper's default 2).
        alpha: None (every α_c = 1), one positive number for every class, or one
            non-negative weight per class (at least one positive).
        label_smoothing: ε in [0, 1); targets become (1 − ε)·t + ε/C.
        class_weights: None, one weight per class, or "balanced" (see `cross_entropy`).

    Examples:
        >>> import jax.numpy as jnp
        >>> easy, hard = jnp.array([[4.0, 0.0]]), jnp.array([[0.0, 0.0]])
        >>> targets = jnp.array([[1.0, 0.0]])
        >>> loss, ce = focal(gamma=2.0), cross_entropy()
        >>> float(loss(easy, targets) / ce(easy, targets)) < 0.001 < float(loss(hard, targets) / ce(hard, targets))
        True
        >>> round(float(focal(gamma=0.0, alpha=[0.25, 0.75])(hard, targets)), 4)   # 0.25 · log 2
        0.1733
    """
    if isinstance(gamma, bool) or not (isinstance(gamma, (int, float)) and 0 <= gamma < math.inf):
        raise registry.RegistryError(f"must be a number >= 0, got {gamma!r}", argument="gamma")
    if alpha is not None:
        if isinstance(alpha, bool) or isinstance(alpha, str):
            raise registry.RegistryError(f"must be None, a number or one number per class, got {alpha!r}",
                                         argument="alpha")
        if isinstance(alpha, (int, float)):
            if not 0 < alpha < math.inf:
                raise registry.RegistryError(f"must be positive, got {alpha!r}", argument="alpha")
            alpha = float(alpha)
        else:
            alpha = tuple(float(a) for a in alpha)
            if not alpha or min(alpha) < 0 or max(alpha) <= 0 or max(alpha) == math.inf:
                raise registry.RegistryError(
                    f"must be non-negative with at least one positive value, got {list(alpha)}", argument="alpha"
                )
    return FocalLoss(*_check(label_smoothing, class_weights), gamma=float(gamma), alpha=alpha)


@registry.register("loss")
def poly1(epsilon: float = 1.0, label_smoothing: float = 0.0, class_weights: ClassWeights = None) -> Poly1Loss:
    """Poly-1 loss (Leng et al. 2022, "PolyLoss"): CE + ε (1 − p_t), with p_t = Σ_c t_c p_c.

    The cross-entropy's Taylor expansion in (1 − p_t) is Σ_j (1 − p_t)^j / j; Poly-1 raises
    the first coefficient from 1 to 1 + ε (the paper's code requires ε >= −1, a non-negative
    first coefficient; the best ε depends on the task). ε = 0 is `cross_entropy`. With label
    smoothing, p_t is taken against the same smoothed targets as the cross-entropy term.

    Args:
        epsilon: ε >= −1, the extra weight of the first polynomial term.
        label_smoothing: ε in [0, 1); targets become (1 − ε)·t + ε/C.
        class_weights: None, one weight per class, or "balanced" (see `cross_entropy`).

    Examples:
        >>> import jax.numpy as jnp
        >>> logits, targets = jnp.array([[1.0, 2.0, 0.5]]), jnp.array([[0.0, 1.0, 0.0]])
        >>> float(poly1(epsilon=0.0)(logits, targets)) == float(cross_entropy()(logits, targets))
        True
        >>> p_t = float(jnp.exp(logits[0, 1]) / jnp.exp(logits).sum())
        >>> abs(float(poly1(epsilon=2.0)(logits, targets) - cross_entropy()(logits, targets)) - 2 * (1 - p_t)) < 1e-6
        True
    """
    if isinstance(epsilon, (bool, str)) or isinstance(epsilon, (int, float)) and not -1 <= epsilon < math.inf:
        raise registry.RegistryError(f"must be a number >= -1, got {epsilon!r}", argument="epsilon")
    # (an array, traced, is a member's of a population, as label_smoothing may be)
    epsilon = float(epsilon) if isinstance(epsilon, (int, float)) else epsilon
    return Poly1Loss(*_check(label_smoothing, class_weights), epsilon=epsilon)


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
