"""The registered metrics (kind ``metric``): what training, evaluation and ensembles report.

Summed over batches (exact over any grouping): ``loss``, ``accuracy``,
``top_k_accuracy(k)``, ``nll``, ``ece(bins)``, ``per_class_accuracy``,
``confusion_matrix``. Taken at log steps (training only): ``grad_norm`` (global and per
layer), ``param_norm``, ``update_norm`` (the step's size, also relative to the parameters
and to the gradient), ``learning_rate`` (the rate applied), ``hyperparams`` (the other
injected hyperparameters).

Examples:
    >>> import jax.numpy as jnp, registry, tricks
    >>> from tricks.metrics import records
    >>> ece = registry.build("metric", "ece(bins=10)")
    >>> logits = jnp.log(jnp.array([[0.95, 0.05], [0.6, 0.4]]))
    >>> records(ece.from_model_output(logits=logits, labels=jnp.array([0, 1])))  # (|1 - .95| + |0 - .6|) / 2
    {'ece': 0.325...}
"""

from __future__ import annotations

import flax
import jax
import jax.numpy as jnp
import numpy as np
from clu import metrics as clu_metrics

import registry
from tricks import optimizers as optimizers_lib
from tricks import schedules as schedules_lib
from tricks.metrics._base import Metric
from tricks.metrics._gradients import per_layer_grad_norms


def _predicted(logits, predicted=None):
    return jnp.argmax(logits, -1) if predicted is None else predicted


def _mask(labels, mask=None):
    return jnp.ones(labels.shape, jnp.float32) if mask is None else jnp.asarray(mask, jnp.float32)


def _average(name: str, values_fn, needs=("logits", "labels")) -> type:
    """A summed metric: the masked mean of ``values_fn(**outputs)`` (CLU's `Average`)."""

    @flax.struct.dataclass
    class Averaged(clu_metrics.Average, Metric):
        @classmethod
        def from_model_output(cls, **outputs):
            values = jnp.asarray(values_fn(**outputs), jnp.float32)
            mask = outputs.get("mask")
            if mask is not None and (values.ndim == 0 or mask.shape[0] != values.shape[0]):
                mask = None  # a per-batch value (a step's objective) counts once
            return super().from_model_output(values, mask=mask)

        def compute(self):  # NaN for no example
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.float64(self.total) / np.float64(self.count)

    Averaged.name, Averaged.needs = name, frozenset(needs)
    Averaged.__name__ = Averaged.__qualname__ = name
    return Averaged


@registry.register("metric")
def loss() -> type:
    """The mean of the loss: the training objective per step in training (its mean over the
    log interval), the per-example negative log-likelihood in evaluation.

    Examples:
        >>> from tricks.metrics import records
        >>> records(loss().from_model_output(loss=jnp.array([1.0, 3.0]), mask=jnp.array([1, 0])))
        {'loss': 1.0}
    """
    return _average("loss", lambda loss, **_: loss, needs=("loss",))


@registry.register("metric")
def accuracy() -> type:
    """The share of examples whose predicted class (the logits' argmax, or ``predicted``) is the label.

    Examples:
        >>> from tricks.metrics import records
        >>> records(accuracy().from_model_output(logits=jnp.eye(3), labels=jnp.array([0, 1, 1])))
        {'accuracy': 0.666...}
    """
    return _average("accuracy", lambda logits, labels, predicted=None, **_: _predicted(logits, predicted) == labels)


@registry.register("metric")
def top_k_accuracy(k: int = 5) -> type:
    """The share of examples whose label is among the `k` largest logits (recorded as ``top<k>_accuracy``).

    Examples:
        >>> from tricks.metrics import records
        >>> logits = jnp.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
        >>> records(top_k_accuracy(k=2).from_model_output(logits=logits, labels=jnp.array([1, 2])))
        {'top2_accuracy': 0.5}
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")

    def hit(logits, labels, **_):
        return jnp.any(jax.lax.top_k(logits, min(k, logits.shape[-1]))[1] == labels[:, None], axis=-1)

    return _average(f"top{k}_accuracy", hit)


@registry.register("metric")
def nll() -> type:
    """The mean negative log-likelihood of the labels under ``softmax(logits)`` (``inf`` where
    a label has probability 0).

    Examples:
        >>> from tricks.metrics import records
        >>> logits = jnp.log(jnp.array([[0.5, 0.5], [0.25, 0.75]]))
        >>> round(records(nll().from_model_output(logits=logits, labels=jnp.array([0, 1])))["nll"], 4)
        0.4904
    """

    def negative_log_likelihood(logits, labels, **_):
        log_probs = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32))
        return -jnp.take_along_axis(log_probs, labels[:, None], axis=-1)[:, 0]

    return _average("nll", negative_log_likelihood)


@flax.struct.dataclass
class _Summed(Metric):
    """A metric whose state is sums (merged by adding); `compute` defined by subclasses."""

    def merge(self, other):
        return jax.tree.map(lambda a, b: a + b, self, other)


@registry.register("metric")
def ece(bins: int = 15) -> type:
    """Expected calibration error: ``sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|``
    over `bins` equal-width confidence bins (Guo et al. 2017); bin b holds confidences in
    ``(b / bins, (b + 1) / bins]``, the first also 0.

    The state per bin is the sum of (correct - confidence), so merged batches give the
    exact ECE of their union.

    Examples:
        >>> from tricks.metrics import records
        >>> probs = jnp.array([[0.95, 0.05], [0.1, 0.9], [0.6, 0.4], [0.45, 0.55]])
        >>> metric = ece().from_model_output(logits=jnp.log(probs), labels=jnp.array([0, 0, 0, 0]))
        >>> round(records(metric)["ece"], 4)  # (.05 + .9 + |1 - .6 + 0 - .55|) / 4
        0.275
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")

    @flax.struct.dataclass
    class ECE(_Summed):
        gap: jax.Array
        count: jax.Array

        @classmethod
        def from_model_output(cls, logits, labels, mask=None, predicted=None, **_):
            probs = jax.nn.softmax(jnp.asarray(logits, jnp.float32))
            chosen = _predicted(logits, predicted)
            confidence = jnp.take_along_axis(probs, chosen[:, None], axis=-1)[:, 0]
            weight = _mask(labels, mask)
            index = jnp.clip(jnp.ceil(confidence * bins).astype(jnp.int32) - 1, 0, bins - 1)
            gap = jnp.zeros(bins, jnp.float32).at[index].add(weight * ((chosen == labels) - confidence))
            return cls(gap=gap, count=jnp.sum(weight))

        def compute(self):  # NaN for no example
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.sum(np.abs(np.asarray(self.gap, np.float64))) / np.float64(self.count)

    ECE.name = "ece"
    return ECE


@registry.register("metric")
def per_class_accuracy() -> type:
    """Each class's accuracy (recall), recorded as ``per_class_accuracy/<class index>``
    (NaN for a class with no example).

    Examples:
        >>> from tricks.metrics import records
        >>> logits = jnp.eye(3)[jnp.array([0, 1, 1, 2])]
        >>> records(per_class_accuracy().from_model_output(logits=logits, labels=jnp.array([0, 1, 2, 2])))
        {'per_class_accuracy/0': 1.0, 'per_class_accuracy/1': 1.0, 'per_class_accuracy/2': 0.5}
    """

    @flax.struct.dataclass
    class PerClassAccuracy(_Summed):
        correct: jax.Array
        count: jax.Array

        @classmethod
        def from_model_output(cls, logits, labels, mask=None, predicted=None, **_):
            weight = _mask(labels, mask)
            right = weight * (_predicted(logits, predicted) == labels)
            classes = logits.shape[-1]
            return cls(correct=jnp.zeros(classes, jnp.float32).at[labels].add(right),
                       count=jnp.zeros(classes, jnp.float32).at[labels].add(weight))

        def compute(self):
            count = np.asarray(self.count, np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.where(count > 0, np.asarray(self.correct) / count, np.nan)
            return {f"per_class_accuracy/{c}": v for c, v in enumerate(value)}

    PerClassAccuracy.name = "per_class_accuracy"
    return PerClassAccuracy


@registry.register("metric")
def confusion_matrix() -> type:
    """Counts of (label, predicted class): row = label, column = prediction, recorded as a
    nested list (in ``metrics.jsonl`` and ``summary.json``; not a TensorBoard scalar).

    Examples:
        >>> from tricks.metrics import records
        >>> logits = jnp.eye(2)[jnp.array([0, 1, 1])]
        >>> records(confusion_matrix().from_model_output(logits=logits, labels=jnp.array([0, 0, 1])))
        {'confusion_matrix': [[1.0, 1.0], [0.0, 1.0]]}
    """

    @flax.struct.dataclass
    class ConfusionMatrix(_Summed):
        counts: jax.Array

        @classmethod
        def from_model_output(cls, logits, labels, mask=None, predicted=None, **_):
            classes = logits.shape[-1]
            counts = jnp.zeros((classes, classes), jnp.float32)
            return cls(counts=counts.at[labels, _predicted(logits, predicted)].add(_mask(labels, mask)))

        def compute(self):
            return np.asarray(self.counts)

    ConfusionMatrix.name = "confusion_matrix"
    return ConfusionMatrix


@flax.struct.dataclass
class _Values(Metric):
    """A state metric: named values of the newest step (merge keeps the newer one)."""

    values: dict[str, jax.Array]
    at_log_step = True
    needs = frozenset()

    def merge(self, other):
        return other

    def compute(self):
        return dict(self.values)


def _values(name: str, fn, needs: tuple[str, ...]) -> type:
    @flax.struct.dataclass
    class Values(_Values):
        @classmethod
        def from_model_output(cls, **outputs):
            return cls(values={k: jnp.asarray(v, jnp.float32) for k, v in fn(**outputs).items()})

    Values.name, Values.needs = name, frozenset(needs)
    Values.__name__ = Values.__qualname__ = name
    return Values


@registry.register("metric")
def grad_norm() -> type:
    """The global L2 norm of the gradients (``grad_norm``) and each layer's (``grad_norm/<layer>``,
    see `tricks.metrics.per_layer_grad_norms`), at log steps.

    Examples:
        >>> from tricks.metrics import records
        >>> grads = {"Dense_0": {"kernel": jnp.full((1,), 3.0)}, "head": {"bias": jnp.full((1,), 4.0)}}
        >>> records(grad_norm().from_model_output(grads=grads))
        {'grad_norm': 5.0, 'grad_norm/Dense_0': 3.0, 'grad_norm/head': 4.0}
    """

    def norms(grads, **_):
        layers = per_layer_grad_norms(grads)
        total = jnp.sqrt(sum(jnp.square(v) for v in layers.values()))
        return {"grad_norm": total} | {f"grad_norm/{layer}": v for layer, v in layers.items()}

    return _values("grad_norm", norms, ("grads",))


@registry.register("metric")
def param_norm() -> type:
    """The global L2 norm of the parameters after the update, at log steps.

    Examples:
        >>> from tricks.metrics import records
        >>> records(param_norm().from_model_output(params={"w": jnp.array([3.0, 4.0])}))
        {'param_norm': 5.0}
    """
    return _values("param_norm", lambda params, **_: {"param_norm": jnp.sqrt(sum(
        jnp.sum(jnp.square(jnp.asarray(x, jnp.float32))) for x in jax.tree.leaves(params)))}, ("params",))


@registry.register("metric")
def update_norm() -> type:
    """The size of the step's change to the parameters, at log steps: its global L2 norm
    (``update_norm``), relative to the parameters' (``update_norm/ratio``, the
    update-to-weight ratio; about 1e-3 is the usual healthy figure) and to the gradient's
    (``update_norm/effective_rate``: the rate a plain SGD step of the same length would
    have, which for an adaptive optimizer shows how its steps shrink or grow over a run).

    Examples:
        >>> from tricks.metrics import records
        >>> w, g = {"w": jnp.array([3.0, 4.0])}, {"w": jnp.array([0.0, 10.0])}
        >>> records(update_norm().from_model_output(updates={"w": jnp.array([0.0, -0.5])}, grads=g, params=w))
        {'update_norm': 0.5, 'update_norm/effective_rate': 0.05..., 'update_norm/ratio': 0.1...}
    """

    def norm(tree) -> jax.Array:
        return jnp.sqrt(sum(jnp.sum(jnp.square(jnp.asarray(x, jnp.float32))) for x in jax.tree.leaves(tree)))

    def sizes(updates, grads, params, **_):
        size = norm(updates)
        return {"update_norm": size, "update_norm/ratio": size / norm(params),
                "update_norm/effective_rate": size / norm(grads)}

    return _values("update_norm", sizes, ("updates", "grads", "params"))


def plateau_scales(opt_state) -> dict[str, jax.Array]:
    """``plateau_scale`` (the factor `reduce_on_plateau` put on the rate), if the optimizer has one."""
    is_state = lambda node: isinstance(node, schedules_lib.ScaleByPlateauState)  # noqa: E731
    found = [n for n in jax.tree.leaves(opt_state, is_leaf=is_state) if is_state(n)]
    return {"plateau_scale": found[0].plateau_state.scale} if found else {}


@registry.register("metric")
def learning_rate() -> type:
    """The learning rate the newest update applied, at log steps
    (`tricks.optimizers.applied_learning_rate`: `reduce_on_plateau`'s scale, SWATS's switch
    to SGD); where the optimizer can make it differ from the injected one, that one is
    recorded as ``learning_rate/scheduled``. Nothing is recorded for an optimizer without
    an injected rate.

    Examples:
        >>> import registry, tricks
        >>> opt = registry.build("optimizer", "sgd(learning_rate=0.1)")
        >>> from tricks.metrics import records
        >>> records(learning_rate().from_model_output(opt_state=opt.init(jnp.zeros(2))))
        {'learning_rate': 0.1...}
    """

    def rates(opt_state, **_):
        scheduled = optimizers_lib.hyperparams(opt_state).get("learning_rate")
        if scheduled is None:
            return {}
        applied = optimizers_lib.applied_learning_rate(opt_state)
        if applied is scheduled:
            return {"learning_rate": scheduled}
        return {"learning_rate": applied, "learning_rate/scheduled": scheduled}

    return _values("learning_rate", rates, ("opt_state",))


@registry.register("metric")
def hyperparams() -> type:
    """The optimizer's other injected scalar hyperparameters (``momentum``, ``b1``,
    ``weight_decay``, ...; `tricks.optimizers.hyperparams`) and ``plateau_scale``, at log
    steps; the learning rate is the ``learning_rate`` metric's.

    Examples:
        >>> import registry, tricks
        >>> opt = registry.build("optimizer", "adam(learning_rate=0.1)")
        >>> from tricks.metrics import records
        >>> records(hyperparams().from_model_output(opt_state=opt.init(jnp.zeros(2))))
        {'b1': 0.899...}
    """

    def values(opt_state, **_):
        found = {k: v for k, v in optimizers_lib.hyperparams(opt_state).items()
                 if jnp.ndim(v) == 0 and k != "learning_rate"}
        return found | plateau_scales(opt_state)

    return _values("hyperparams", values, ("opt_state",))
