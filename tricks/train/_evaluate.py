"""Evaluation over whole splits: every example exactly once, metrics summed on the device."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax
import numpy as np


def evaluate(eval_step: Callable, state, batches: Iterable[dict]) -> dict[str, float]:
    """Mean NLL (``loss``) and ``accuracy`` of `state` over `batches` (padded rows masked).

    Sums stay on the device until the end: one host transfer per evaluation.
    """
    totals = None
    for batch in batches:
        sums = eval_step(state, batch)
        totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
    if totals is None:
        raise ValueError("evaluation got no batches: the split is empty")
    totals = jax.device_get(totals)
    count = float(totals["count"])
    return {"loss": float(totals["loss"]) / count, "accuracy": float(totals["accuracy"]) / count,
            "examples": int(np.rint(count))}
