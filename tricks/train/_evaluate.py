"""Evaluation over whole splits: every example exactly once, metrics merged on the device."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import jax
import numpy as np

from tricks import metrics as metrics_lib


def evaluate(eval_step: Callable, state, batches: Iterable[dict]) -> dict[str, Any]:
    """The evaluation metrics of `state` over `batches` (padded rows masked), and ``examples``.

    `eval_step` is `make_eval_step`'s (jitted): the run's ``eval_metrics``, by default
    ``loss`` (mean NLL) and ``accuracy``. The batches' metrics are merged on the device
    until the end: one host transfer per evaluation.
    """
    merged = count = None
    for batch in batches:
        metrics, examples = eval_step(state, batch)
        merged = metrics_lib.Metrics.merge(merged, metrics)
        count = examples if count is None else count + examples
    if merged is None:
        raise ValueError("evaluation got no batches: the split is empty")
    merged, count = jax.device_get((merged, count))
    return metrics_lib.Metrics.compute(merged) | {"examples": int(np.rint(count))}


def evaluate_workdir(workdir: str | pathlib.Path, step: int | None = None,
                     splits: Sequence[str] | None = None, ema: bool = False) -> dict[str, Any]:
    """Evaluates a run's checkpoint (the newest by default) on its evaluation splits.

    Works on a finished run or one still training (only finished checkpoints are read).
    Without `step`, the newest checkpoint that restores whole is evaluated: damaged ones
    are passed over with a warning each, and nothing in `workdir` is moved (`load`).

    Args:
        workdir: a folder written by `train_and_evaluate`.
        step: which checkpoint; the newest if None.
        splits: which splits; the config's ``eval_splits`` if None, skipping those the
            dataset lacks (as training does).
        ema: evaluate the moving average of the weights (``ema_decay`` > 0), not the
            weights; either way at the parameters evaluation uses (`load`).

    Returns:
        ``{"step": ..., "splits": {split: {"loss", "accuracy", "examples"}}}``

    Raises:
        FileNotFoundError: no config or no usable checkpoint in `workdir`, or no checkpoint
            at `step`.
        ValueError: a split named in `splits` that the dataset lacks, or none of the
            config's splits present; an unreadable ``config.json``; a damaged checkpoint
            at `step`; `ema` for a run without a moving average.
    """
    from tricks.train._load import load

    run = load(workdir, step, splits=splits, ema=ema)
    missing = [s for s in (run.config.eval_splits if splits is None else splits) if s not in run.eval_loaders]
    if (missing and splits is not None) or not run.eval_loaders:
        available = sorted(run.components.dataset.splits)
        raise ValueError(f"dataset {run.components.dataset.name} has no split {', '.join(missing)}; it has: "
                         f"{', '.join(available)}")
    return {"step": run.step, "splits": run.evaluate_splits()}
