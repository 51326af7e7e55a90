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

from tricks.losses._base import Loss, balanced_weights
from tricks.losses._basic import CrossEntropy, MeanSquaredError, cross_entropy, mse
from tricks.losses._focal import FocalLoss, Poly1Loss, focal, poly1
from tricks.losses._ohem import OHEM, ohem

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
