"""What a metric is, and `Metrics`: a set of them built from specs, with their records.

A metric is a `clu.metrics.Metric` (a Flax-struct pytree), used as CLU defines it:
``from_model_output(**outputs)`` makes one from a batch's outputs, ``merge`` combines two,
``compute`` gives the value. CLU's classes are used as they are (`Metric`, and `Average`
under the loss and accuracy metrics); what is added here is what a training run needs
of a metric beyond CLU's interface:

* **when it is taken** (`Metric.at_log_step`). Metrics summed over batches (accuracy, NLL,
  ECE, the confusion matrix, ...) hold sums and counts and merge by adding, so an
  interval's or a split's value is exact however the batches are grouped; training
  merges every step's on the device. Metrics of the state (gradient and parameter norms,
  hyperparameters) are taken from the last step of each log interval only: on XLA:CPU
  each small reduction costs several microseconds, and the norms computed at every step
  took about 70 us of the MNIST-1D MLP's 0.2 ms step.
* **its records** (`records`): ``compute`` gives one value (recorded under the metric's
  `name`) or a mapping of record names to values (``grad_norm`` and
  ``grad_norm/<layer>``); a value is a number, or an array for the confusion matrix and
  per-class accuracies, recorded as nested lists.
* **what it reads** (`Metric.needs`), so a metric evaluation cannot give (gradients) is
  refused when the config is built, not at the first evaluation.

``compute`` runs on the host, on NumPy arrays (the merged state fetched once), so it
uses NumPy operators only.

The outputs a metric may read (keyword arguments; each takes what it needs, ``**_`` the rest):

* ``logits`` (N, C), ``labels`` (N,) int32, ``mask`` (N,) (1: the example counts);
* ``predicted`` (N,): the predicted classes where they are not the logits' argmax (a vote);
* ``loss``: the batch's training objective (a scalar) in training; the per-example
  negative log-likelihood (N,) in evaluation;
* training only: ``grads``, ``params`` (after the update), ``opt_state``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from clu import metrics as clu_metrics

import registry

TRAIN_OUTPUTS = frozenset({"logits", "labels", "mask", "loss", "grads", "updates", "params", "opt_state"})
"""The outputs a training step gives its metrics."""

EVAL_OUTPUTS = frozenset({"logits", "labels", "mask", "loss", "predicted"})
"""The outputs an evaluation gives its metrics."""


class Metric(clu_metrics.Metric):
    """`clu.metrics.Metric` with a record name, when it is taken and what it reads.

    Attributes:
        name: the record name (or prefix, see `records`).
        at_log_step: taken from the last step of a log interval (state metrics), instead of
            merged over every step (summed metrics). A summed metric's state is sums, merged
            by adding, with zeros as its empty state (a training call starts from zeros).
        needs: the outputs it reads.
    """

    name = "metric"
    at_log_step = False
    needs: frozenset[str] = frozenset({"logits", "labels"})


def records(metric: Any) -> dict[str, Any]:
    """A computed metric as records: ``{name: value}``, or the mapping ``compute`` gave.

    Numbers become Python floats, arrays nested lists.

    Examples:
        >>> import registry, tricks
        >>> acc = registry.build("metric", "accuracy")
        >>> records(acc.from_model_output(logits=jnp.eye(2), labels=jnp.array([0, 0], jnp.int32)))
        {'accuracy': 0.5}
    """
    value = jax.device_get(metric).compute()
    pairs = value.items() if isinstance(value, dict) else [(type(metric).name, value)]
    return {name: _plain(v) for name, v in pairs}


def _plain(value: Any) -> float | list:
    value = np.asarray(value)
    return float(value) if value.ndim == 0 else value.tolist()


class Metrics:
    """The metrics of a list of specs: built, checked against the outputs, computed together.

    Args:
        specs: metric specs (``"accuracy"``, ``"top_k_accuracy(k=5)"``, ...).
        outputs: the outputs they will be given (`TRAIN_OUTPUTS` or `EVAL_OUTPUTS`).
        field: the config field they come from, for the messages.

    Raises:
        registry.RegistryError: an unknown metric or a bad argument; a metric that reads an
            output the context lacks; two metrics of the same name.

    Examples:
        >>> import tricks
        >>> metrics = Metrics(["accuracy", "nll"], EVAL_OUTPUTS)
        >>> out = {"logits": jnp.log(jnp.array([[0.9, 0.1], [0.2, 0.8]])), "labels": jnp.array([0, 0])}
        >>> {k: round(v, 4) for k, v in metrics.compute(metrics.summed(out)).items()}
        {'accuracy': 0.5, 'nll': 0.8574}
    """

    def __init__(self, specs: Sequence[Any], outputs: frozenset[str], field: str = "metrics"):
        classes = []
        for spec in specs:
            cls = registry.build("metric", spec)
            missing = sorted(cls.needs - outputs)
            if missing:
                raise registry.RegistryError(
                    f"{field}: metric {cls.name} reads {', '.join(missing)}, which "
                    f"{'evaluation' if 'grads' not in outputs else 'a training step'} does not give; "
                    f"it gives: {', '.join(sorted(outputs))}")
            classes.append(cls)
        names = [cls.name for cls in classes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise registry.RegistryError(f"{field}: metric {twice[0]} is named more than once")
        self.summed_classes = {cls.name: cls for cls in classes if not cls.at_log_step}
        self.log_step_classes = {cls.name: cls for cls in classes if cls.at_log_step}
        self.log_step_needs = frozenset().union(*(cls.needs for cls in self.log_step_classes.values()))
        """The outputs the log-step metrics read (a training call carries only those)."""

    def summed(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """The summed metrics of one batch's outputs (merge them with `merge`)."""
        return {name: cls.from_model_output(**outputs) for name, cls in self.summed_classes.items()}

    def at_log_step(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """The state metrics of one step's outputs."""
        return {name: cls.from_model_output(**outputs) for name, cls in self.log_step_classes.items()}

    @staticmethod
    def merge(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
        """`b` merged into `a` metric by metric (`a` None: `b`)."""
        return b if a is None else {name: a[name].merge(b[name]) for name in a}

    @staticmethod
    def compute(*groups: dict[str, Any]) -> dict[str, Any]:
        """The records of merged metrics (any number of groups), in name order."""
        out: dict[str, Any] = {}
        for group in groups:
            for metric in group.values():
                out |= records(metric)
        return dict(sorted(out.items()))

