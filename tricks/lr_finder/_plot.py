"""The picture of a range test: loss against rate on a log axis, with the suggestions marked."""

from __future__ import annotations

import math

import numpy as np

from tricks.lr_finder._range_test import RangeTest
from tricks.lr_finder._suggest import LABELS

_COLORS = {"valley": "tab:green", "steepest": "tab:orange", "minimum_over_10": "tab:purple"}


def draw(test: RangeTest, title: str = ""):
    """A matplotlib `Figure` (Agg canvas): raw and smoothed loss against rate, suggestions marked.

    The y range runs from the lowest loss to the highest smoothed loss (the raw loss's
    last, diverging points would otherwise squash the curve); the lowest smoothed loss,
    whose rate over 10 is the ``minimum/10`` suggestion, is marked with a triangle, and
    the point where the test stopped with an x.

    Examples:
        >>> import itertools
        >>> from tricks.lr_finder import run_range_test
        >>> test = run_range_test(lambda w, b, lr: (w - lr * 2 * (w - 3), (w - 3) ** 2), 0.0,
        ...                       itertools.repeat(None), start=1e-3, end=10.0, steps=50)
        >>> figure = draw(test)
        >>> figure.axes[0].get_xscale(), figure.axes[0].get_xlabel()
        ('log', 'learning rate')
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    axis.plot(test.lrs, test.losses, color="tab:blue", alpha=0.3, linewidth=1, label="loss")
    axis.plot(test.lrs, test.smoothed, color="tab:blue", linewidth=2, label="smoothed loss")
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("training loss")
    axis.grid(alpha=0.3, which="both")
    if len(test.smoothed):
        low = min(float(np.min(test.smoothed)), float(np.min(test.losses)))
        high = float(np.max(test.smoothed))
        span = max(high - low, 1e-8)
        axis.set_ylim(low - 0.1 * span, high + 0.3 * span)
    for name, value in test.suggestions.items():
        if math.isfinite(value):
            at = float(np.interp(np.log(value), np.log(test.lrs), test.smoothed)) if len(test.lrs) else 0.0
            color = _COLORS.get(name, "gray")
            axis.axvline(value, color=color, linestyle="--", linewidth=1)
            axis.plot([value], [at], "o", color=color, label=f"{LABELS[name]}: {value:.2g}")
    if math.isfinite(test.minimum_lr):
        at = float(np.interp(np.log(test.minimum_lr), np.log(test.lrs), test.smoothed))
        axis.plot(
            [test.minimum_lr],
            [at],
            "v",
            color=_COLORS["minimum_over_10"],
            label=f"lowest smoothed loss: {test.minimum_lr:.2g}",
        )
    if len(test.lrs):
        axis.plot(
            [test.lrs[-1]],
            [test.smoothed[-1]],
            "x",
            color="tab:red",
            markersize=9,
            label=f"stopped ({test.stop}) at {test.stop_lr:.2g}",
        )
    axis.legend(loc="upper left")
    axis.set_title(title or "LR range test", fontsize=10)
    return figure
