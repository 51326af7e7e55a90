"""Combination rules (kind ``ensemble``): how the members' outputs become one prediction.

Output rules take the members' logits, shape (M, N, C), and give log-probabilities
(N, C) and predicted classes (N,): `mean_prob`, `mean_logit`, `vote` and `fused` (whose
weights are fit on the validation split first, `Rule.fit`). `swa` is the one rule that
acts on the weights instead: it averages the members' parameters into one model
(`tricks.ensembles.average_variables`) and recomputes its batch-norm statistics.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import registry
from tricks.ensembles._errors import EnsembleError


class Combined(NamedTuple):
    """One prediction per example: log-probabilities (N, C) and the predicted classes (N,).

    Examples:
        >>> out = Combined(np.log([[0.2, 0.8]]), np.array([1]))
        >>> out.predicted.tolist()
        [1]
    """

    log_probs: np.ndarray
    predicted: np.ndarray


class Rule(abc.ABC):
    """Combines the logits of M members into one prediction.

    Examples:
        >>> rule = registry.build("ensemble", "mean_prob")
        >>> out = rule.combine(np.array([[[2.0, 0.0]], [[0.0, 0.0]]]))   # M=2 members, N=1, C=2
        >>> out.predicted.tolist(), np.exp(out.log_probs).round(3).tolist()
        ([0], [[0.69, 0.31]])
    """

    needs_validation: bool = False
    """Whether `fit` must see the validation split's outputs before `combine`."""

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> Rule:
        """The rule fit to held-out `logits` (M, N, C) and `labels` (N,); most rules need no fit."""
        del logits, labels
        return self

    @abc.abstractmethod
    def combine(self, logits: np.ndarray) -> Combined:
        """The ensemble's prediction from the members' `logits` (M, N, C)."""


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities along the last axis, in float64.

    Examples:
        >>> np.exp(log_softmax(np.array([0.0, np.log(3.0)]))).round(3).tolist()
        [0.25, 0.75]
    """
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(top, axis) + np.log(np.sum(np.exp(x - top), axis=axis))


def _checked(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, np.float64)
    if logits.ndim != 3 or logits.shape[0] == 0:
        raise EnsembleError(
            f"expected member logits of shape (members, examples, classes), got {logits.shape}"
        )
    return logits


def _mixture(logits: np.ndarray, weights: np.ndarray) -> Combined:
    with np.errstate(divide="ignore"):
        log_w = np.log(np.asarray(weights, np.float64))
    log_probs = _logsumexp(log_softmax(logits) + log_w[:, None, None], axis=0)
    return Combined(log_probs, np.argmax(log_probs, axis=-1))


@dataclasses.dataclass(frozen=True)
class MeanProb(Rule):
    """The average of the members' probabilities (built by `mean_prob`).

    Examples:
        >>> np.exp(MeanProb().combine(np.log([[[0.8, 0.2]], [[0.4, 0.6]]])).log_probs).round(3).tolist()
        [[0.6, 0.4]]
    """

    def combine(self, logits: np.ndarray) -> Combined:
        logits = _checked(logits)
        return _mixture(logits, np.full(logits.shape[0], 1.0 / logits.shape[0]))


@dataclasses.dataclass(frozen=True)
class MeanLogit(Rule):
    """The softmax of the average of the members' logits: a normalized geometric mean of probabilities.

    Examples:
        >>> MeanLogit().combine(np.array([[[1.0, 0.0]], [[0.0, 3.0]]])).predicted.tolist()
        [1]
    """

    def combine(self, logits: np.ndarray) -> Combined:
        log_probs = log_softmax(_checked(logits).mean(axis=0))
        return Combined(log_probs, np.argmax(log_probs, axis=-1))


@dataclasses.dataclass(frozen=True)
class Vote(Rule):
    """Majority vote of the members' predicted classes; ties go to the higher mean probability.

    The probabilities are the vote shares, so the NLL is infinite as soon as one example
    gets no vote for its label: voting gives a decision, not a calibrated probability.

    Examples:
        >>> logits = np.log([[[0.9, 0.1]], [[0.4, 0.6]]])   # one vote each: the mean probability decides
        >>> Vote().combine(logits).predicted.tolist()
        [0]
    """

    def combine(self, logits: np.ndarray) -> Combined:
        logits = _checked(logits)
        num_members, _, num_classes = logits.shape
        counts = np.eye(num_classes)[np.argmax(logits, axis=-1)].sum(axis=0)  # (N, C)
        mean_prob = np.exp(log_softmax(logits)).mean(axis=0)
        predicted = np.argmax(counts + 0.5 * mean_prob, axis=-1)  # mean_prob < 1 only breaks ties
        with np.errstate(divide="ignore"):
            return Combined(np.log(counts / num_members), predicted)


@dataclasses.dataclass(frozen=True)
class Fused(Rule):
    """A weighted average of the members' probabilities, weights fit on the validation split.

    The weights (non-negative, summing to one) minimise the validation NLL of the mixture
    ``sum_m w_m p_m``, a convex problem on the simplex. `fit` runs the EM iteration for
    mixture weights (``w_m <- mean_n w_m p_m(y_n) / sum_k w_k p_k(y_n)``) from equal
    weights, in JAX, until no weight moves by more than `tolerance`: each step lowers
    the NLL, so the result is never worse than equal weights (`mean_prob`). EM creeps
    towards an optimum on a corner, so the fit then keeps the best of its result and
    each single member: never worse than the best member either. Deterministic.

    Examples:
        >>> logits = np.log([[[0.6, 0.4], [0.6, 0.4]], [[0.9, 0.1], [0.2, 0.8]]])   # 2 members, 2 examples
        >>> rule = Fused().fit(logits, np.array([0, 0]))
        >>> [round(w, 2) for w in rule.weights]
        [1.0, 0.0]
        >>> np.exp(rule.combine(logits).log_probs).round(2).tolist()
        [[0.6, 0.4], [0.6, 0.4]]
    """

    max_iterations: int = 2000
    tolerance: float = 1e-7
    weights: tuple[float, ...] | None = None

    needs_validation = True

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> Fused:
        logits = np.asarray(logits)
        labels = np.asarray(labels)
        if logits.ndim != 3 or logits.shape[1] == 0:
            raise EnsembleError(
                "fusion fits its weights on the validation split, which is empty here: give the dataset a "
                "validation share (e.g. validation_fraction=0.1) or use another rule"
            )
        logits = _checked(logits)
        label_log_p = log_softmax(logits)[:, np.arange(labels.size), labels]  # (M, N)
        em = np.asarray(_em(jnp.asarray(label_log_p), self.max_iterations, self.tolerance), np.float64)
        em = em / em.sum()
        candidates = [em, *np.eye(len(em))]
        with np.errstate(divide="ignore"):
            scores = [-np.mean(_logsumexp(label_log_p + np.log(w)[:, None], axis=0)) for w in candidates]
        best = candidates[int(np.argmin(scores))]
        return dataclasses.replace(self, weights=tuple(float(w) for w in best))

    def combine(self, logits: np.ndarray) -> Combined:
        if self.weights is None:
            raise EnsembleError("fused: fit the weights on validation outputs first (Fused.fit)")
        logits = _checked(logits)
        if logits.shape[0] != len(self.weights):
            raise EnsembleError(f"fused: weights for {len(self.weights)} members, got {logits.shape[0]}")
        return _mixture(logits, np.asarray(self.weights))


@jax.jit
def _em(label_log_p: jax.Array, max_iterations: int, tolerance: float) -> jax.Array:
    """EM for the weights of a mixture of fixed components, from equal weights."""
    num_members = label_log_p.shape[0]

    def step(weights):
        joint = label_log_p + jnp.log(weights)[:, None]
        return jnp.mean(jnp.exp(joint - jax.nn.logsumexp(joint, axis=0)), axis=1)

    def cond(carry):
        i, _, change = carry
        return (i < max_iterations) & (change > tolerance)

    def body(carry):
        i, weights, _ = carry
        new = step(weights)
        return i + 1, new, jnp.max(jnp.abs(new - weights))

    start = jnp.full((num_members,), 1.0 / num_members, label_log_p.dtype)
    _, weights, _ = jax.lax.while_loop(cond, body, (0, start, jnp.asarray(jnp.inf, label_log_p.dtype)))
    return weights


@dataclasses.dataclass(frozen=True)
class WeightAverage:
    """SWA: one model whose parameters are the members' average, batch-norm statistics recomputed.

    Attributes:
        bn_batches: training batches of the statistics pass; 0: one epoch.

    Examples:
        >>> WeightAverage().bn_batches
        0
    """

    bn_batches: int = 0


@registry.register("ensemble", "mean_prob")
def mean_prob() -> MeanProb:
    """Average the members' probabilities (the usual ensemble; Huang et al.'s snapshot ensembles).

    Examples:
        >>> logits = np.log([[[0.9, 0.1]], [[0.3, 0.7]]])
        >>> np.exp(mean_prob().combine(logits).log_probs).round(2).tolist()
        [[0.6, 0.4]]
    """
    return MeanProb()


@registry.register("ensemble", "mean_logit")
def mean_logit() -> MeanLogit:
    """Average the members' logits, then softmax.

    Examples:
        >>> logits = np.array([[[2.0, 0.0]], [[0.0, 4.0]]])
        >>> np.exp(mean_logit().combine(logits).log_probs).round(3).tolist()   # softmax([1, 2])
        [[0.269, 0.731]]
    """
    return MeanLogit()


@registry.register("ensemble", "vote")
def vote() -> Vote:
    """Majority vote of the members' classes (ties: the higher mean probability); shares as probabilities.

    Examples:
        >>> logits = np.log([[[0.6, 0.4]], [[0.45, 0.55]], [[0.7, 0.3]]])
        >>> out = vote().combine(logits)
        >>> out.predicted.tolist(), np.exp(out.log_probs).round(3).tolist()
        ([0], [[0.667, 0.333]])
    """
    return Vote()


@registry.register("ensemble", "fused")
def fused(max_iterations: int = 2000, tolerance: float = 1e-7) -> Fused:
    """Weighted average of probabilities, non-negative weights summing to one fit on validation NLL.

    Args:
        max_iterations: EM iterations at most.
        tolerance: stop once no weight moves by more than this.

    Examples:
        >>> good, bad = np.log([[0.8, 0.2], [0.9, 0.1]]), np.log([[0.3, 0.7], [0.4, 0.6]])
        >>> rule = fused().fit(np.stack([good, bad]), np.array([0, 0]))   # labels: class 0
        >>> [round(w, 3) for w in rule.weights]
        [1.0, 0.0]
    """
    if max_iterations < 1:
        raise registry.RegistryError(f"must be >= 1, got {max_iterations}", argument="max_iterations")
    if not tolerance >= 0:
        raise registry.RegistryError(f"must be >= 0, got {tolerance}", argument="tolerance")
    return Fused(max_iterations=max_iterations, tolerance=tolerance)


@registry.register("ensemble", "swa")
def swa(bn_batches: int = 0) -> WeightAverage:
    """Stochastic weight averaging of the members (snapshots of one run), then fresh batch-norm statistics.

    The average of the parameters is one model; its batch-norm statistics are recomputed
    by a pass over the training data in train mode (Izmailov et al. 2018), as the
    cumulative mean of each batch's statistics. Members must share one architecture.

    Args:
        bn_batches: training batches for the statistics; 0: one epoch.

    Examples:
        >>> swa(bn_batches=20)
        WeightAverage(bn_batches=20)
    """
    if bn_batches < 0:
        raise registry.RegistryError(f"must be >= 0, got {bn_batches}", argument="bn_batches")
    return WeightAverage(bn_batches=bn_batches)
