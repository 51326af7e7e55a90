"""Per-layer histograms counted on the device, in TensorBoard's default buckets.

A gradient histogram is counted inside the training call that ends where it is due, and
only its counts and five statistics leave the device. Counted on the host instead (the
gradients fetched, a float32 sort, two `np.searchsorted`), the default MLP's 85k
gradients took 3 ms of host time per histogram on the project's 2-core CPU machine, time
taken from the training computation that shares the cores: at ``histogram_every=100`` the
loop ran 12% slower than its reference on digits and 23% on the MNIST-1D MLP. On the
device they took 0.75 ms there (a binary search per value,
``jnp.searchsorted(method="scan_unrolled")``, then a scatter-add; a device sort took 17 ms).

On a 2-core AMD EPYC with AVX2 (session 26) that search made a histogram of digits' 85k
gradients take 8.1 ms, 7% of the 100 steps between two histograms (the MNIST-1D MLP's
2.0 ms, 8%; the Fashion-MNIST MLP's 23.5 ms), which `tricks bench loop` counted against
the loop (``method="scan"`` searched the same values in 1.5 ms, ``"scan_unrolled"`` in
8.4). TensorBoard's edges grow geometrically, so a value's bucket is the floor of a
logarithm, off by at most one in float32, and one comparison with the edge on each side
makes it exact (`_tensorboard_bucket`): digits' histograms take 1.1 ms, MNIST-1D's 0.34,
Fashion-MNIST's 4.1. Other edges take the rolled binary search.

The counts are `np.histogram`'s with the float64 edges (the last bucket closed) exactly:
a float32 value lies at or above a float64 edge exactly when it lies at or above the
smallest float32 at or above that edge, so the comparisons run in float32 against edges
rounded that way. The sums run in float32 (for display, not for arithmetic).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tricks.metrics._gradients import _layer_of


_SMALLEST, _GROWTH = 1e-12, 1.1  # TensorBoard's positive edges: 1e-12 * 1.1**k below 1e20


def _tensorboard_buckets() -> np.ndarray:
    positive = _SMALLEST * _GROWTH ** np.arange(np.ceil(np.log(1e32) / np.log(_GROWTH)))
    positive = positive[positive < 1e20]
    return np.concatenate([-positive[::-1], [0.0], positive])


TENSORBOARD_BUCKETS = _tensorboard_buckets()
"""TensorBoard's default histogram bucket edges: 0 and +-1e-12 * 1.1**k below 1e20."""


def _float32_at_or_above(edges: np.ndarray) -> np.ndarray:
    rounded = edges.astype(np.float32)
    return np.where(rounded < edges, np.nextafter(rounded, np.float32(np.inf)), rounded)


def _float32_at_or_below(edges: np.ndarray) -> np.ndarray:
    rounded = edges.astype(np.float32)
    return np.where(rounded > edges, np.nextafter(rounded, np.float32(-np.inf)), rounded)


def histogram_counts(values: jax.Array, edges: np.ndarray = TENSORBOARD_BUCKETS) -> dict[str, jax.Array]:
    """The finite `values` counted into the buckets ``[edges[i], edges[i+1])`` (the last
    closed), with their min, max, number, sum and sum of squares; jittable.

    NaN and inf count nowhere (and not in ``num``); finite values outside the edges count
    in ``num``, ``min``, ``max`` and the sums but in no bucket, as with `np.histogram`.
    XLA flushes denormals to zero, so a denormal counts as 0 (``np.histogram`` counts a
    negative one in the bucket below 0).

    Args:
        values: an array of any shape (taken as float32).
        edges: increasing bucket edges (float64), as host data.

    Returns:
        ``{"counts": int32[len(edges) - 1], "min", "max", "sum", "sum_squares": float32,
        "num": int32}``; with no finite value, min is +inf and max -inf.

    Examples:
        >>> found = histogram_counts(jnp.array([0.5, 1.5, 1.5, 3.0, jnp.nan]), np.array([0.0, 1.0, 2.0, 3.0]))
        >>> found["counts"].tolist(), int(found["num"]), float(found["max"])
        ([1, 2, 1], 4, 3.0)
    """
    values = jnp.ravel(jnp.asarray(values, jnp.float32))
    finite = jnp.isfinite(values)
    lower, upper = _float32_at_or_above(edges), _float32_at_or_below(edges[-1:])
    inside = finite & (values >= lower[0]) & (values <= upper[0])
    if np.array_equal(edges, TENSORBOARD_BUCKETS):
        bucket = _tensorboard_bucket(values, lower)
    else:
        found = jnp.searchsorted(jnp.asarray(lower), values, side="right", method="scan") - 1
        bucket = jnp.clip(found, 0, len(edges) - 2)  # a value equal to the last edge: the last bucket
    kept = jnp.where(finite, values, 0.0)
    return {
        "counts": jnp.zeros(len(edges) - 1, jnp.int32).at[bucket].add(inside.astype(jnp.int32)),
        "min": jnp.min(jnp.where(finite, values, jnp.inf)),
        "max": jnp.max(jnp.where(finite, values, -jnp.inf)),
        "num": jnp.sum(finite, dtype=jnp.int32),
        "sum": jnp.sum(kept),
        "sum_squares": jnp.sum(jnp.square(kept)),
    }


def _tensorboard_bucket(values: jax.Array, lower: np.ndarray) -> jax.Array:
    """The bucket of each of `values` among TensorBoard's edges, `lower` (float32, rounded
    up): the last ``i`` with ``lower[i] <= value``, clipped to ``[0, len(lower) - 2]``.

    A value of magnitude ``m >= 1e-12`` lies ``k = log(m / 1e-12) / log(1.1)`` edges past 0,
    computed in float32 to within 1e-4 (the edges, rounded, move by 1e-6 of a bucket):
    the floor of ``k`` (positive values) or its ceiling (negative ones, whose edges run
    the other way) is the bucket or one of its neighbours, and the comparisons with
    ``lower`` settle which.
    """
    last, zero = len(lower) - 2, (len(lower) - 1) // 2  # the last bucket; the edge 0
    magnitude = jnp.where(jnp.isfinite(values), jnp.abs(values), 1.0)
    k = jnp.clip((jnp.log(jnp.maximum(magnitude, _SMALLEST)) - np.log(_SMALLEST)) / np.log(_GROWTH), 0, last)
    positive = jnp.where(magnitude < _SMALLEST, zero, zero + 1 + jnp.floor(k).astype(jnp.int32))
    guess = jnp.clip(jnp.where(values >= 0, positive, zero - 1 - jnp.ceil(k).astype(jnp.int32)), 0, last)
    table = jnp.asarray(lower)
    guess = jnp.clip(guess - (values < table[guess]), 0, last)
    return jnp.clip(guess + (values >= table[guess + 1]), 0, last)


def layer_histograms(tree: Any, edges: np.ndarray = TENSORBOARD_BUCKETS) -> dict[str, dict[str, jax.Array]]:
    """`histogram_counts` of each layer's values (all its leaves together); jittable.

    Examples:
        >>> grads = {"Dense_0": {"kernel": jnp.ones((2, 3)), "bias": jnp.zeros(3)}}
        >>> int(layer_histograms(grads)["Dense_0"]["num"])
        9
    """
    groups: dict[str, list[jax.Array]] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        groups.setdefault(_layer_of(path), []).append(jnp.ravel(jnp.asarray(leaf, jnp.float32)))
    return {layer: histogram_counts(jnp.concatenate(parts), edges) for layer, parts in groups.items()}


def tensorboard_histogram(found: Mapping[str, Any], edges: np.ndarray = TENSORBOARD_BUCKETS) -> dict | None:
    """A `histogram_counts` result as TensorBoard stores it: only the span of non-empty
    buckets, each named by its upper limit, with one empty bucket in front (what
    tensorboardX's ``add_histogram`` writes).

    Returns:
        The keyword arguments of tensorboardX's ``add_histogram_raw`` (min, max, num, sum,
        sum_squares, bucket_limits, bucket_counts), or None when no bucket counts anything.

    Examples:
        >>> found = histogram_counts(jnp.array([0.5, 1.5, 1.5]), np.array([0.0, 1.0, 2.0, 3.0]))
        >>> tb = tensorboard_histogram(found, np.array([0.0, 1.0, 2.0, 3.0]))
        >>> tb["bucket_limits"], tb["bucket_counts"], tb["num"]
        ([0.0, 1.0, 2.0], [0, 1, 2], 3)
    """
    counts = np.asarray(found["counts"])
    nonempty = np.flatnonzero(counts)
    if not nonempty.size:
        return None
    first, last = int(nonempty[0]), int(nonempty[-1]) + 1
    counts = np.concatenate([[0], counts[:last]]) if first == 0 else counts[first - 1 : last]
    return {
        "min": float(found["min"]),
        "max": float(found["max"]),
        "num": int(found["num"]),
        "sum": float(found["sum"]),
        "sum_squares": float(found["sum_squares"]),
        "bucket_limits": edges[first : last + 1].tolist(),
        "bucket_counts": counts.tolist(),
    }
