"""The smoothed loss curve of a range test, and the three rates suggested from it."""

from __future__ import annotations

import numpy as np


def rates(start: float, end: float, steps: int, mode: str = "exp") -> np.ndarray:
    """The rate at each step: from `start` to `end` (both reached), exponentially or linearly.

    Raises:
        ValueError: ``start`` <= 0, ``end`` <= ``start``, ``steps`` < 2 or an unknown mode.

    Examples:
        >>> rates(1e-3, 1e-1, 3).tolist()
        [0.001, 0.01, 0.1]
        >>> rates(0.0 + 1e-3, 1.0, 3, mode="linear").round(4).tolist()
        [0.001, 0.5005, 1.0]
    """
    if mode not in ("exp", "linear"):
        raise ValueError(f"mode must be 'exp' or 'linear', got {mode!r}")
    if not start > 0 or not end > start:
        raise ValueError(f"need 0 < start < end, got start={start}, end={end}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    t = np.arange(steps) / (steps - 1)
    return start * (end / start) ** t if mode == "exp" else start + (end - start) * t


def smooth(losses: np.ndarray, beta: float = 0.98) -> np.ndarray:
    """The bias-corrected exponential moving average of a loss curve.

    avg_i = β avg_{i-1} + (1 − β) loss_i (avg_{-1} = 0); smoothed_i = avg_i / (1 − β^(i+1)),
    as in fastai's ``lr_find`` (the correction removes the pull towards 0 at the start).

    Examples:
        >>> smooth(np.array([2.0, 2.0, 2.0])).round(12).tolist()
        [2.0, 2.0, 2.0]
        >>> smooth(np.array([1.0, 3.0]), beta=0.5).round(4).tolist()
        [1.0, 2.3333]
    """
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    out, avg = np.empty(len(losses)), 0.0
    for i, loss in enumerate(np.asarray(losses, np.float64)):
        avg = beta * avg + (1 - beta) * loss
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def steepest(lrs: np.ndarray, losses: np.ndarray) -> float:
    """The rate where the loss falls fastest against log rate (most negative slope).

    The slope between points i and i+1 is (loss_{i+1} − loss_i) / (log lr_{i+1} − log lr_i);
    the rate returned is lr_i at the steepest one (fastai's ``steep``).

    Examples:
        >>> steepest(np.array([1e-3, 1e-2, 1e-1, 1.0]), np.array([2.0, 1.9, 1.0, 3.0]))
        0.01
    """
    lrs, losses = np.asarray(lrs, np.float64), np.asarray(losses, np.float64)
    if len(lrs) < 2:
        return float(lrs[0])
    slopes = np.diff(losses) / np.diff(np.log(lrs))
    return float(lrs[int(np.argmin(slopes))])


def lowest(lrs: np.ndarray, losses: np.ndarray) -> float:
    """The rate at the lowest loss: the curve's minimum, too high to train at (see `minimum_over_10`).

    Examples:
        >>> lowest(np.array([1e-3, 1e-2, 1e-1]), np.array([2.0, 1.0, 3.0]))
        0.01
    """
    return float(np.asarray(lrs)[int(np.argmin(losses))])


def minimum_over_10(lrs: np.ndarray, losses: np.ndarray) -> float:
    """One tenth of the rate at the lowest loss (fastai's ``minimum``, named here for what it is).

    Examples:
        >>> minimum_over_10(np.array([1e-3, 1e-2, 1e-1]), np.array([2.0, 1.0, 3.0]))
        0.001
    """
    return lowest(lrs, losses) / 10


def valley(lrs: np.ndarray, losses: np.ndarray) -> float:
    """fastai's ``valley``: a rate inside the longest descending stretch of the loss.

    The stretch is the longest strictly decreasing subsequence of the losses (not
    necessarily contiguous); with start s and end e, the rate returned is that of point
    s + ⌊(e − s)/3⌋ + ⌊(e − s)/6⌋, about half-way down the valley, before its bottom.

    Examples:
        >>> lrs = np.geomspace(1e-5, 1.0, 11)
        >>> losses = np.array([2.3, 2.3, 2.2, 2.0, 1.6, 1.0, 0.6, 0.5, 0.7, 2.0, 9.0])
        >>> round(valley(lrs, losses), 5)   # the stretch runs from point 0 to 7; point 3
        0.00032
    """
    losses = np.asarray(losses, np.float64)
    n = len(losses)
    if n == 0:
        raise ValueError("valley needs at least one point")
    longest = np.ones(n, int)
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[end] < longest[i]:
                end, start = i, i - longest[i]
    sections = (end - start) / 3
    return float(np.asarray(lrs)[start + int(sections) + int(sections / 2)])


SUGGESTERS = {"steepest": steepest, "valley": valley, "minimum_over_10": minimum_over_10}
"""The suggestion rules, by name."""

DEFAULT_SUGGESTION = "minimum_over_10"
"""The rule `RangeTest.suggestion` follows, chosen by measurement (see `tricks.lr_finder`)."""

LABELS = {"steepest": "steepest", "valley": "valley", "minimum_over_10": "minimum/10"}
"""How the plot and the summary name each suggestion."""


def window(num_points: int, planned_steps: int) -> slice:
    """The points the suggestions are computed on: the curve without its ends.

    Like fastai, the first ``planned_steps // 10`` points (the EMA warm-up) and the last 5
    (the blow-up) are left out, as long as at least 3 points remain.

    Examples:
        >>> window(30, 30), window(6, 50)
        (slice(3, 25, None), slice(0, 6, None))
    """
    first, last = planned_steps // 10, num_points - 5
    if last - first < 3:
        first, last = 0, num_points
    return slice(first, last)


def suggest(lrs: np.ndarray, smoothed: np.ndarray, planned_steps: int) -> dict[str, float]:
    """Every suggestion, computed on the smoothed curve's `window`.

    Examples:
        >>> lrs = np.geomspace(1e-5, 1.0, 30)
        >>> losses = np.concatenate([np.full(10, 2.3), np.linspace(2.3, 0.3, 15), np.geomspace(0.3, 20, 5)])
        >>> {k: f"{v:.1e}" for k, v in suggest(lrs, losses, 30).items()}
        {'steepest': '3.9e-03', 'valley': '5.7e-03', 'minimum_over_10': '1.4e-02'}
    """
    lrs, smoothed = np.asarray(lrs), np.asarray(smoothed)
    kept = window(len(smoothed), planned_steps)
    return {name: rule(lrs[kept], smoothed[kept]) for name, rule in SUGGESTERS.items()}
