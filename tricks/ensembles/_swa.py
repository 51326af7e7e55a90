"""Stochastic weight averaging: the members' mean parameters, then fresh batch-norm statistics.

After averaging, the stored batch-norm statistics belong to none of the averaged
networks, so they are recomputed by a pass over training data in train mode (Izmailov
et al. 2018, torch's ``update_bn``): each batch's statistics are taken from the model's
own update, and the new statistics are their cumulative mean over the pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from tricks.ensembles._errors import EnsembleError, MemberMismatchError
from tricks.ensembles._evaluate import first_difference


def average_variables(variables: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None) -> dict:
    """The element-wise mean of the members' variables (parameters and statistics alike).

    Raises:
        MemberMismatchError: the trees differ (the first differing path is named).

    Examples:
        >>> a, b = {"params": {"w": jnp.array([0.0, 2.0])}}, {"params": {"w": jnp.array([1.0, 4.0])}}
        >>> average_variables([a, b])
        {'params': {'w': Array([0.5, 3. ], dtype=float32)}}
    """
    if not variables:
        raise EnsembleError("average_variables needs at least one member")
    names = list(names) if names is not None else [f"member {i}" for i in range(len(variables))]
    difference = first_difference(variables, names)
    if difference is not None:
        raise MemberMismatchError(
            f"weight averaging needs members of one architecture, but they differ at {difference}"
        )
    return jax.tree.map(lambda *xs: sum(xs[1:], xs[0]) / len(xs), *[dict(v) for v in variables])


def recompute_batch_stats(
    model: Any,
    variables: Mapping[str, Any],
    batches: Iterable[Mapping[str, jax.Array]],
    *,
    augment: Any = None,
    num_classes: int | None = None,
    seed: int = 0,
) -> dict:
    """`variables` with ``batch_stats`` replaced by their cumulative mean over `batches` in train mode.

    Each batch goes through ``model.apply(..., train=True, mutable=["batch_stats"])``,
    after `augment` in train mode, with dropout on, as in training. Flax's batch norm
    updates ``s <- m s + (1 - m) b`` with the batch's statistic b, so b is read as
    ``update(0) / (1 - m)``, with the momentum m found from ``update(1) - update(0)``
    on the first batch. The result is the mean of b over the batches. Variables without
    ``batch_stats`` come back unchanged.

    Args:
        model: the Flax module.
        variables: ``{"params", "batch_stats"}``.
        batches: training batches ``{"image", "label"}``.
        augment: the run's augmentation (applied with ``train=True``), or None.
        num_classes: the number of classes (the augment sees one-hot labels).
        seed: the randomness of dropout and augmentation.

    Raises:
        EnsembleError: `batches` is empty.

    Examples:
        >>> import flax.linen as nn
        >>> class Norm(nn.Module):
        ...     @nn.compact
        ...     def __call__(self, x, train=False):
        ...         return nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
        >>> x = jnp.array([[1.0], [3.0]])
        >>> variables = Norm().init(jax.random.key(0), x)
        >>> labels = jnp.zeros(2, jnp.int32)
        >>> batches = [{"image": x, "label": labels}, {"image": x + 4, "label": labels}]
        >>> stats = recompute_batch_stats(Norm(), variables, batches)["batch_stats"]["BatchNorm_0"]
        >>> stats["mean"].round(4).tolist(), stats["var"].round(4).tolist()  # means 2, 6; variances 1, 1
        ([4.0], [1.0])
    """
    variables = dict(variables)
    if not variables.get("batch_stats"):
        return variables
    params = variables["params"]
    stats = variables["batch_stats"]
    key = jax.random.PRNGKey(seed)

    @jax.jit
    def update(start, batch, step):
        step_key = jax.random.fold_in(key, step)
        augment_key, dropout_key = jax.random.split(step_key)
        images = batch["image"]
        if augment is not None:
            targets = jax.nn.one_hot(batch["label"], num_classes, dtype=jnp.float32)
            images = augment({"image": images, "label": targets}, augment_key, True)["image"]
        _, updates = model.apply(
            {"params": params, "batch_stats": start},
            images,
            train=True,
            rngs={"dropout": dropout_key},
            mutable=["batch_stats"],
        )
        return updates["batch_stats"]

    zeros = jax.tree.map(jnp.zeros_like, stats)
    ones = jax.tree.map(jnp.ones_like, stats)
    total, keep, count = None, None, 0
    for step, batch in enumerate(batches):
        from_zero = update(zeros, batch, step)
        if total is None:
            momentum = jax.tree.map(lambda one, zero: one - zero, update(ones, batch, step), from_zero)
            keep = jax.tree.map(lambda m: 1.0 - m, momentum)
            total = from_zero
        else:
            total = jax.tree.map(jnp.add, total, from_zero)
        count += 1
    if total is None:
        raise EnsembleError("recomputing batch-norm statistics needs training batches, got none")
    fresh = jax.tree.map(
        lambda t, k, old: jnp.where(k > 0, t / (count * jnp.where(k > 0, k, 1.0)), old), total, keep, stats
    )
    return {**variables, "batch_stats": fresh}
