"""Stalled layers: a layer whose gradients stay far below the other layers' learns little
(vanishing gradients, dead units), which the per-layer gradient norms a run logs
(``train/grad_norm/<layer>``) show; `stalled_layers` names such layers by a fixed rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

STALL_RATIO = 1e-3
"""A layer whose gradient norm is typically below this share of the largest layer's stalls."""


def stalled_layers(norms: Mapping[str, Sequence[float]], ratio: float = STALL_RATIO) -> dict[str, float]:
    """The layers whose gradient norm is typically below `ratio` times the largest layer's.

    At each log step every layer's norm is divided by the largest of that step; a layer
    stalls when the median of its shares over the steps is below `ratio`. Steps where a
    norm is missing or non-finite are left out; a run whose gradients are all zero at
    every step has no largest layer, and nothing is named.

    Args:
        norms: layer -> its gradient norms at the run's log steps (the same steps for
            every layer, as `tools/plots/grads.py` reads them).
        ratio: the share of the largest layer's norm below which a layer stalls.

    Returns:
        Each stalled layer's median share, input layers first (the order of `norms`).

    Examples:
        >>> stalled_layers({"Dense_0": [1e-7, 2e-7], "Dense_1": [0.1, 0.2], "head": [1.0, 2.0]})
        {'Dense_0': 1e-07}
        >>> stalled_layers({"Dense_0": [0.5, 0.4], "head": [1.0, 1.0]})
        {}
    """
    names = list(norms)
    if not names:
        return {}
    lengths = [len(norms[name]) for name in names]
    if len(set(lengths)) != 1:
        raise ValueError(f"every layer needs the same number of log steps, got {lengths}")
    table = np.array([np.asarray(norms[name], np.float64) for name in names])  # (layers, steps)
    kept = np.all(np.isfinite(table), axis=0) & (table.max(axis=0, initial=0.0) > 0)
    if not kept.any():
        return {}
    shares = np.median(table[:, kept] / table[:, kept].max(axis=0), axis=1)
    return {name: float(share) for name, share in zip(names, shares, strict=True) if share < ratio}
