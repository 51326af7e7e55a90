"""Evaluation over whole splits: every example exactly once, metrics merged on the device."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import jax
import ml_collections
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
                     splits: Sequence[str] | None = None) -> dict[str, Any]:
    """Evaluates a run's checkpoint (the newest by default) on its evaluation splits.

    Works on a finished run or one still training (only finished checkpoints are read).

    Args:
        workdir: a folder written by `train_and_evaluate`.
        step: which checkpoint; the newest if None.
        splits: which splits; the config's ``eval_splits`` if None, skipping those the
            dataset lacks (as training does).

    Returns:
        ``{"step": ..., "splits": {split: {"loss", "accuracy", "examples"}}}``

    Raises:
        FileNotFoundError: no config or no checkpoint in `workdir`, or no checkpoint at `step`.
        ValueError: a split named in `splits` that the dataset lacks, or none of the
            config's splits present.
    """
    from tricks.train._checkpoint import Checkpoints
    from tricks.train._setup import setup

    workdir = pathlib.Path(workdir)
    config_path = workdir / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{workdir} holds no run: {config_path} is missing")
    config = ml_collections.ConfigDict(json.loads(config_path.read_text()), type_safe=False)
    if splits is not None:
        config.eval_splits = list(splits)
    checkpoints = Checkpoints(workdir, read_only=True)
    available = checkpoints.steps()
    if not available:
        raise FileNotFoundError(f"{workdir} has no finished checkpoint yet")
    step = available[-1] if step is None else int(step)
    if step not in available:
        raise FileNotFoundError(f"{workdir} has no checkpoint at step {step}; available: {available}")
    run = setup(config)
    state, _ = checkpoints.restore(step, run.state)
    checkpoints.close()
    missing = [s for s in config.eval_splits if s not in run.eval_loaders]
    if (missing and splits is not None) or not run.eval_loaders:
        available = sorted(run.components.dataset.splits)
        raise ValueError(f"dataset {run.components.dataset.name} has no split {', '.join(missing)}; it has: "
                         f"{', '.join(available)}")
    return {"step": step, "splits": {split: evaluate(run.eval_step, state, loader.eval_batches())
                                     for split, loader in run.eval_loaders.items()}}
