"""An ensemble's accuracy, negative log-likelihood and expected calibration error, computed
by the same metric components as training and evaluation (`tricks.metrics`)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from tricks import metrics as metrics_lib

METRICS = ("accuracy", "nll", "ece")
"""The metric specs an ensemble reports (`ece` with its default 15 bins, Guo et al. 2017)."""


def summarize(
    log_probs: np.ndarray, labels: np.ndarray, predicted: np.ndarray | None = None
) -> dict[str, float]:
    """``{"accuracy", "nll", "ece"}`` of one set of predictions.

    Args:
        log_probs: (N, C) log-probabilities (-inf where a class has probability 0).
        labels: (N,) integer labels.
        predicted: (N,) the predicted classes (a vote's); the most probable ones if None.

    Examples:
        >>> summarize(np.log([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]))
        {'accuracy': 0.5, 'ece': 0.45..., 'nll': 0.857...}
    """
    outputs = {"logits": jnp.asarray(log_probs, jnp.float32), "labels": jnp.asarray(labels, jnp.int32)}
    if predicted is not None:
        outputs["predicted"] = jnp.asarray(predicted, jnp.int32)
    metrics = metrics_lib.Metrics(METRICS, metrics_lib.EVAL_OUTPUTS)
    return metrics.compute(metrics.summed(outputs))
