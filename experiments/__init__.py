"""Experiments: one module per claim, registered by `experiment`, run by `tricks experiments run NAME`.

Each experiment states its claim and source, trains its arms over seeds side by side
(`train_arms`), and returns a `Result` (the table with mean ± std over seeds, divergences
marked, the reading and the verdict), which `save` writes under
``experiments/results/NAME/`` with its curves.
"""

from experiments._registry import VERDICTS, Experiment, experiment, experiments, find
from experiments._report import RESULTS, machine, save, saved_verdict
from experiments._study import (MODES, Options, Panels, Points, Result, Runs, best, cell, diverged, mean, reuse, spread,
                                train_arms)

__all__ = [
    "MODES",
    "RESULTS",
    "VERDICTS",
    "Experiment",
    "Options",
    "Panels",
    "Points",
    "Result",
    "Runs",
    "best",
    "cell",
    "diverged",
    "experiment",
    "experiments",
    "find",
    "machine",
    "mean",
    "reuse",
    "save",
    "saved_verdict",
    "spread",
    "train_arms",
]
