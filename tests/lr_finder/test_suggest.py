"""Rates, smoothing and the three suggestion rules, against plain transcriptions of their definitions."""

import itertools

import numpy as np
import pytest

from tricks import lr_finder


def fastai_valley(lrs, losses):
    """fastai 2.7's ``valley`` (fastai/callback/schedule.py), transcribed line by line."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return lrs[idx]


@pytest.mark.parametrize("seed", range(20))
def test_valley_matches_fastai(seed):
    rng = np.random.default_rng(seed)
    lrs = np.geomspace(1e-7, 10, 60)
    losses = np.cumsum(rng.normal(size=60))
    assert lr_finder.valley(lrs, losses) == fastai_valley(lrs, losses)


def test_steepest_and_minimum_over_10_by_brute_force():
    rng = np.random.default_rng(0)
    lrs = np.geomspace(1e-5, 1, 40)
    losses = rng.normal(size=40).cumsum()
    slopes = [(losses[i + 1] - losses[i]) / (np.log(lrs[i + 1]) - np.log(lrs[i])) for i in range(39)]
    assert lr_finder.steepest(lrs, losses) == lrs[int(np.argmin(slopes))]
    assert lr_finder.lowest(lrs, losses) == lrs[int(np.argmin(losses))]
    assert lr_finder.minimum_over_10(lrs, losses) == pytest.approx(lrs[int(np.argmin(losses))] / 10)


def test_rates_reach_both_ends():
    exp = lr_finder.rates(1e-7, 10.0, 100)
    assert exp[0] == pytest.approx(1e-7) and exp[-1] == pytest.approx(10.0)
    assert np.allclose(np.diff(np.log(exp)), np.log(1e8) / 99)
    linear = lr_finder.rates(1e-3, 1.0, 11, "linear")
    assert np.allclose(np.diff(linear), (1.0 - 1e-3) / 10)


@pytest.mark.parametrize(
    "args, message",
    [
        ((0.0, 1.0, 10), "0 < start < end"),
        ((1.0, 0.5, 10), "0 < start < end"),
        ((1e-3, 1.0, 1), "steps"),
        ((1e-3, 1.0, 10, "cosine"), "mode"),
    ],
)
def test_bad_rates(args, message):
    with pytest.raises(ValueError, match=message):
        lr_finder.rates(*args)


def test_smoothing_is_bias_corrected_ema_and_matches_the_loop():
    losses = np.random.default_rng(1).uniform(1, 3, 50)
    expected, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = 0.9 * avg + 0.1 * loss
        expected.append(avg / (1 - 0.9 ** (i + 1)))
    assert np.allclose(lr_finder.smooth(losses, 0.9), expected)
    values = iter(losses)
    test = lr_finder.run_range_test(
        lambda c, b, lr: (c, next(values)),
        0,
        itertools.repeat(None),
        start=1e-3,
        end=1.0,
        steps=50,
        beta=0.9,
        stop_factor=100.0,
    )
    assert test.stop == "end"
    assert np.allclose(test.smoothed, expected) and np.allclose(test.losses, losses)


def test_suggest_trims_the_ends_like_fastai():
    lrs = np.geomspace(1e-6, 1, 50)
    losses = np.linspace(3, 1, 50)
    losses[:5] = 0.0  # a low start inside the warm-up window must not be the minimum
    losses[-5:] = -1.0  # nor the last points
    picks = lr_finder.suggest(lrs, losses, 50)
    assert picks["minimum_over_10"] == pytest.approx(lrs[44] / 10)
    short = lr_finder.suggest(lrs[:6], losses[5:11], 50)  # too short to trim: all points used
    assert short["minimum_over_10"] == pytest.approx(lrs[5] / 10)
