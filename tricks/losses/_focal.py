"""Losses that reweight examples by their probability: focal (Lin et al. 2017) and poly-1 (Leng et al. 2022)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax

import registry
from tricks.losses._base import ClassWeights, Loss, check


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
        >>> from tricks.losses import CrossEntropy
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
        >>> from tricks.losses import cross_entropy
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
    return FocalLoss(*check(label_smoothing, class_weights), gamma=float(gamma), alpha=alpha)


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
        >>> from tricks.losses import cross_entropy
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
    return Poly1Loss(*check(label_smoothing, class_weights), epsilon=epsilon)


