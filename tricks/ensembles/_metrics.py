"""Accuracy, negative log-likelihood and expected calibration error of predictions.

All take host arrays (NumPy) and return Python floats; they are computed once per
evaluation, on every example of a split, so there is nothing to jit.
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15
"""Confidence bins of the expected calibration error (Guo et al. 2017, Naeini et al. 2015)."""


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """The share of examples whose predicted class is the label.

    Examples:
        >>> accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]))
        0.75
    """
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    return float(np.mean(predicted == labels))


def nll(log_probs: np.ndarray, labels: np.ndarray) -> float:
    """The mean negative log-probability of the labels (``inf`` if one has probability 0).

    Args:
        log_probs: (N, C) log-probabilities.
        labels: (N,) integer labels.

    Examples:
        >>> round(nll(np.log([[0.5, 0.5], [0.25, 0.75]]), np.array([0, 1])), 4)   # (ln 2 + ln 4/3) / 2
        0.4904
    """
    log_probs, labels = np.asarray(log_probs, np.float64), np.asarray(labels)
    return float(-np.mean(log_probs[np.arange(len(labels)), labels]))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """``sum_b |B_b| / N * |accuracy(B_b) - mean confidence(B_b)|`` over equal-width bins.

    Bin b of `bins` holds the confidences in ``(b / bins, (b + 1) / bins]`` (the first
    bin also takes a confidence of exactly 0), as in Guo et al. 2017.

    Args:
        confidence: (N,) the probability given to the predicted class.
        correct: (N,) whether the prediction was right.
        bins: the number of bins.

    Examples:
        >>> conf = np.array([0.95, 0.9, 0.6, 0.55])   # bins 14, 13, 8, 8
        >>> right = np.array([True, False, True, False])
        >>> round(expected_calibration_error(conf, right), 4)  # (.05 + .9 + |1 - .6 + 0 - .55|) / 4
        0.275
    """
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, np.float64)
    if confidence.size == 0:
        raise ValueError("expected_calibration_error got no examples")
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    gap = np.bincount(index, weights=correct - confidence, minlength=bins)
    return float(np.sum(np.abs(gap)) / confidence.size)


def summarize(
    log_probs: np.ndarray, labels: np.ndarray, predicted: np.ndarray | None = None
) -> dict[str, float]:
    """``{"accuracy", "nll", "ece"}`` of one set of predictions.

    Args:
        log_probs: (N, C) log-probabilities.
        labels: (N,) integer labels.
        predicted: (N,) the predicted classes; the most probable ones if None.

    Examples:
        >>> summarize(np.log([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]))
        {'accuracy': 0.5, 'nll': 0.857..., 'ece': 0.45}
    """
    log_probs, labels = np.asarray(log_probs), np.asarray(labels)
    if predicted is None:
        predicted = np.argmax(log_probs, axis=-1)
    confidence = np.exp(np.take_along_axis(log_probs, np.asarray(predicted)[:, None], axis=-1)[:, 0])
    return {
        "accuracy": accuracy(predicted, labels),
        "nll": nll(log_probs, labels),
        "ece": expected_calibration_error(confidence, predicted == labels),
    }
