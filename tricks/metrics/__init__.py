"""Metrics as components (kind ``metric``): CLU metrics built from specs, used by training,
evaluation, ensembles and diagnostics alike.

A config names them in ``train_metrics`` and ``eval_metrics`` (lists of specs); their
defaults give the records every run writes. Adding one is a decorated factory returning a
`clu.metrics.Metric` subclass of `Metric` (and an entry in ``tests/metrics``).

Examples:
    >>> import jax.numpy as jnp, registry, tricks
    >>> from tricks.metrics import EVAL_OUTPUTS, Metrics
    >>> metrics = Metrics(["accuracy", "top_k_accuracy(k=2)", "ece"], EVAL_OUTPUTS)
    >>> logits = jnp.log(jnp.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]]))
    >>> batch = metrics.summed({"logits": logits, "labels": jnp.array([0, 2])})
    >>> metrics.compute(batch)
    {'accuracy': 0.5, 'ece': 0.4..., 'top2_accuracy': 0.5}
"""

from tricks.metrics._base import EVAL_OUTPUTS, TRAIN_OUTPUTS, Metric, Metrics, records
from tricks.metrics._catalogue import (
    accuracy,
    confusion_matrix,
    ece,
    grad_norm,
    hyperparams,
    learning_rate,
    loss,
    nll,
    param_norm,
    per_class_accuracy,
    plateau_scales,
    top_k_accuracy,
)
from tricks.metrics._gradients import GRAD_NORM_PREFIX, layer_names, per_layer_grad_norms
from tricks.metrics._histograms import TENSORBOARD_BUCKETS, histogram_counts, layer_histograms, tensorboard_histogram

__all__ = [
    "EVAL_OUTPUTS",
    "GRAD_NORM_PREFIX",
    "TENSORBOARD_BUCKETS",
    "TRAIN_OUTPUTS",
    "Metric",
    "Metrics",
    "accuracy",
    "confusion_matrix",
    "ece",
    "grad_norm",
    "histogram_counts",
    "hyperparams",
    "layer_names",
    "layer_histograms",
    "learning_rate",
    "loss",
    "nll",
    "param_norm",
    "per_class_accuracy",
    "per_layer_grad_norms",
    "plateau_scales",
    "records",
    "tensorboard_histogram",
    "top_k_accuracy",
]
