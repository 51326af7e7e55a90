"""Histograms counted on the device against `np.histogram` with the float64 edges."""

import jax
import numpy as np
import pytest

from tricks.metrics import TENSORBOARD_BUCKETS, histogram_counts, layer_histograms, tensorboard_histogram


def edge_values(edges):
    """float32 values at, just below and just above every edge (as float32 rounds them)."""
    near = edges.astype(np.float32)
    return np.concatenate([near, np.nextafter(near, np.float32(-np.inf)), np.nextafter(near, np.float32(np.inf))])


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1.0, 1e3])
def test_counts_equal_numpys_histogram_with_float64_edges(scale):
    rng = np.random.default_rng(0)
    values = np.concatenate([(rng.standard_normal(20_000) * scale).astype(np.float32),
                             edge_values(TENSORBOARD_BUCKETS[TENSORBOARD_BUCKETS != 0]),  # (0's neighbours
                             np.float32([0.0, -0.0, 3e38, -3e38])])  # are denormals, which XLA flushes to 0)
    found = jax.jit(histogram_counts)(values)
    expected, _ = np.histogram(values.astype(np.float64), TENSORBOARD_BUCKETS)
    np.testing.assert_array_equal(np.asarray(found["counts"]), expected)
    assert int(found["num"]) == values.size
    assert (float(found["min"]), float(found["max"])) == (values.min(), values.max())
    normal = values[:20_000].astype(np.float64)  # the sums run in float32: without the extremes
    found = histogram_counts(values[:20_000])
    assert float(found["sum"]) == pytest.approx(normal.sum(), rel=1e-4, abs=1e-3 * scale)
    assert float(found["sum_squares"]) == pytest.approx(np.square(normal).sum(), rel=1e-4)


def test_every_bucket_of_tensorboards_edges_is_found_in_closed_form():
    """Values spread over every bucket's span (each edge's float32 neighbours are above):
    the closed-form bucket equals the binary search's wherever the logarithm lands."""
    lower, upper = TENSORBOARD_BUCKETS[:-1], TENSORBOARD_BUCKETS[1:]
    fractions = np.linspace(0.0, 1.0, 9)[1:-1, None]
    values = (lower + fractions * (upper - lower)).astype(np.float32).ravel()
    found = jax.jit(histogram_counts)(values)
    expected, _ = np.histogram(values.astype(np.float64), TENSORBOARD_BUCKETS)
    np.testing.assert_array_equal(np.asarray(found["counts"]), expected)
    assert expected.min() > 0  # (every bucket was reached)


def test_the_last_bucket_is_closed_and_values_outside_the_edges_count_nowhere():
    edges = np.array([0.0, 0.1, 0.2, 0.3])  # none of them a float32
    values = np.float32([-1.0, 0.0, 0.1, 0.2, 0.3, 0.3000001, 5.0])
    found = histogram_counts(values, edges)
    np.testing.assert_array_equal(np.asarray(found["counts"]), np.histogram(values.astype(np.float64), edges)[0])
    assert int(found["num"]) == 7


def test_non_finite_values_count_nowhere():
    found = histogram_counts(np.float32([np.nan, np.inf, -np.inf, 2.0]))
    assert int(found["num"]) == 1 and int(found["counts"].sum()) == 1 and float(found["min"]) == 2.0
    assert tensorboard_histogram(histogram_counts(np.float32([np.nan]))) is None


def test_tensorboards_form_keeps_the_span_of_nonempty_buckets_and_one_empty_bucket_before():
    found = tensorboard_histogram(histogram_counts(np.float32([-0.5, 0.001, 0.001, 2.0])))
    limits, counts = np.array(found["bucket_limits"]), found["bucket_counts"]
    assert counts[0] == 0 and counts[-1] > 0 and sum(counts) == 4 and len(limits) == len(counts)
    assert set(limits) <= set(TENSORBOARD_BUCKETS)
    for v in (-0.5, 0.001, 2.0):  # each value lies in the bucket named by the first limit above it
        assert counts[int(np.searchsorted(limits, v, side="right"))] > 0


def test_a_layers_histogram_counts_all_its_parameters():
    tree = {"Dense_0": {"kernel": np.ones((3, 4), np.float32), "bias": np.zeros(4, np.float32)},
            "head": {"kernel": np.full((4, 2), -1.0, np.float32)}}
    found = layer_histograms(tree)
    assert {k: int(v["num"]) for k, v in found.items()} == {"Dense_0": 16, "head": 8}
    assert float(found["Dense_0"]["sum"]) == 12.0 and float(found["head"]["min"]) == -1.0
