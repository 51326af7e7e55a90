"""What every experiment shares: its options, its arms trained over seeds side by side, the
cells of its table (mean ± std, divergences marked) and its result.

An arm is one setting (a list of config overrides); its seeds, and the arms that differ
from it only in numbers of the optimizer and loss specs, train side by side in one
program (`tricks.ensembles.sweep` with ``vectorize``: `tricks.train.train_population`),
each into its own workdir, and a finished run is reused when the experiment runs again.

A diverged run under cross-entropy often ends as a constant prediction (training loss
near ln C, test accuracy at chance) rather than a NaN: `diverged` marks those, and the
cells leave them out of the mean, saying how many.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ml_collections

MODES = ("smoke", "default", "full")
"""An experiment's modes: seconds for the tests, its default budget, its full scale."""


@dataclasses.dataclass(frozen=True)
class Options:
    """How an experiment runs.

    Attributes:
        mode: ``smoke`` (seconds, for the tests), ``default`` (at most 15 minutes on 2 CPU
            cores), or ``full`` (where the claim needs a larger scale).
        seeds: how many seeds per arm (0: the experiment's own number; 2 in smoke mode).
        workdir: where the runs train (finished runs found there are reused).
    """

    mode: str = "default"
    seeds: int = 0
    workdir: pathlib.Path = pathlib.Path("runs/experiments")

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.seeds < 0:
            raise ValueError(f"seeds must be at least 1 (or 0 for the experiment's own), got {self.seeds}")

    @property
    def smoke(self) -> bool:
        return self.mode == "smoke"

    def seed_list(self, default: int) -> list[int]:
        """The seeds to run: `seeds`, else 2 in smoke mode, else `default`.

        Examples:
            >>> Options(mode="smoke").seed_list(5), Options(seeds=3).seed_list(5)
            ([0, 1], [0, 1, 2])
        """
        return list(range(self.seeds or (2 if self.smoke else default)))


@dataclasses.dataclass
class Runs:
    """One arm's runs, one per seed.

    Attributes:
        workdirs: the runs' folders.
        summaries: the sweep's entries (``test``, ``validation``, ``step``, or ``error``).
        records: each run's ``metrics.jsonl`` records.
        num_classes: the dataset's classes (for `diverged`).
        reused: which runs had finished before (in an earlier run of the experiment).
    """

    workdirs: list[pathlib.Path]
    summaries: list[dict]
    records: list[list[dict]]
    num_classes: int
    reused: list[bool] = dataclasses.field(default_factory=list)

    @property
    def diverged(self) -> list[bool]:
        return [diverged(s, r, self.num_classes) for s, r in zip(self.summaries, self.records, strict=True)]

    def final(self, split: str = "test", metric: str = "accuracy") -> list[float]:
        """Each run's final `metric` on `split` (NaN where the run has none). The sweep's
        entries hold the validation and test splits; another evaluated split (``train``,
        with ``eval_splits`` naming it) is read from the run's ``summary.json``."""
        return [float((s.get(split) or _evaluated(workdir, split) or {}).get(metric, math.nan))
                for s, workdir in zip(self.summaries, self.workdirs, strict=True)]

    def surviving(self, split: str = "test", metric: str = "accuracy") -> list[float]:
        """The final `metric` on `split` of the runs that did not diverge (and have one)."""
        return [v for v, bad in zip(self.final(split, metric), self.diverged, strict=True)
                if not bad and math.isfinite(v)]

    def first_below(self, target: float, key: str = "train/loss") -> list[int | None]:
        """Each run's first logged step where `key` is at most `target` (None: never, or
        diverged)."""
        return self._first(key, lambda value: value <= target)

    def first_above(self, target: float, key: str = "train/accuracy") -> list[int | None]:
        """Each run's first logged step where `key` is at least `target` (None: never, or
        diverged)."""
        return self._first(key, lambda value: value >= target)

    def _first(self, key: str, reached: Callable[[float], bool]) -> list[int | None]:
        found = []
        for records, bad in zip(self.records, self.diverged, strict=True):
            steps = [r["step"] for r in records if key in r and reached(r[key])]
            found.append(None if bad or not steps else min(steps))
        return found

    def wall_times(self) -> list[float]:
        """Each run's wall time in seconds, from its first training call (compiling
        included) through its last evaluation (NaN: the run has none)."""
        return [float(s.get("wall_time_s", math.nan)) for s in self.summaries]

    def step_seconds(self) -> list[float]:
        """Each run's time per training step once compiled: the median, over consecutive
        log records, of the wall time between them per step (NaN: fewer than two
        records). Records that also carry an evaluation add its time to one interval,
        which the median leaves out."""
        found = []
        for records in self.records:
            timed = [(r["step"], r["wall_time_s"]) for r in records if "wall_time_s" in r and "train/loss" in r]
            pace = [(t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in zip(timed, timed[1:], strict=False)
                    if s1 > s0]
            found.append(statistics.median(pace) if pace else math.nan)
        return found

    def at(self, step: int, key: str = "train/loss") -> list[float]:
        """Each run's `key` at its last record at or before `step` (NaN: none, or diverged)."""
        found = []
        for records, bad in zip(self.records, self.diverged, strict=True):
            values = [r[key] for r in records if key in r and r["step"] <= step]
            found.append(math.nan if bad or not values else float(values[-1]))
        return found

    def curve(self, key: str = "train/loss") -> tuple[list[int], list[list[float]]]:
        """The steps where any run logged `key`, and each run's values there (NaN where a
        run has none: it stopped earlier)."""
        per_run = [{r["step"]: r[key] for r in records if key in r} for records in self.records]
        steps = sorted(set().union(*per_run)) if per_run else []
        return steps, [[run.get(step, math.nan) for step in steps] for run in per_run]


def diverged(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]], num_classes: int) -> bool:
    """Whether a run diverged: it stopped on a non-finite loss, or it ends as a constant
    prediction (last training loss at least 0.95 ln C and test accuracy at most 1.5 / C).

    A run that collapsed within its first log interval looks like one that never left
    chance; both count as diverged (a run of a full budget at a sane rate is far from
    chance at its end).

    Examples:
        >>> at_chance = {"test": {"accuracy": 0.1}}
        >>> diverged(at_chance, [{"train/loss": 5.0}, {"train/loss": 2.31}], 10)
        True
        >>> diverged({"test": {"accuracy": 0.9}}, [{"train/loss": 2.0}, {"train/loss": 0.3}], 10)
        False
        >>> diverged({"error": "non-finite loss at step 7"}, [], 10)
        True
    """
    if "error" in summary:
        return True
    losses = [r["train/loss"] for r in records if "train/loss" in r]
    if not losses:
        return False
    if not all(math.isfinite(x) for x in losses):
        return True
    accuracy = float((summary.get("test") or {}).get("accuracy", 1.0))
    return losses[-1] >= 0.95 * math.log(num_classes) and accuracy <= 1.5 / num_classes


def mean(values: Sequence[float | None]) -> float:
    """The mean of the finite values (NaN if none).

    Examples:
        >>> mean([1.0, None, float("nan"), 3.0]), mean([None])
        (2.0, nan)
    """
    return spread(values)[0]


def spread(values: Sequence[float | None], scale: float = 1.0) -> tuple[float, float]:
    """``(mean, std)`` of the finite values times `scale` (NaN and 0 if none; std 0 for one).

    Examples:
        >>> spread([0.5, None, 0.7, float("nan")], scale=100)
        (60.0, 14.142135623730951)
        >>> spread([])
        (nan, 0.0)
    """
    kept = [scale * v for v in values if v is not None and math.isfinite(v)]
    return (statistics.mean(kept) if kept else math.nan), (statistics.stdev(kept) if len(kept) > 1 else 0.0)


def best(found: Mapping[str, Runs], names: Sequence[str], split: str = "validation") -> str:
    """Of the arms `names`, the one whose surviving runs have the best mean accuracy on
    `split` (an arm with a diverged run ranks below every arm without one): how each
    optimizer's or schedule's own best rate is chosen, on held-out data, never on the
    test split that the table reports.

    Examples:
        >>> def runs(*accuracies):
        ...     return Runs([pathlib.Path("nowhere")] * len(accuracies), [{"validation": {"accuracy": a}}
        ...                 for a in accuracies], [[]] * len(accuracies), 10)
        >>> best({"a": runs(0.8, 0.9), "b": runs(0.95, 0.97), "c": runs(0.99, 0.05)}, ["a", "b", "c"])
        'b'
    """
    def score(name: str) -> tuple[int, float]:
        runs = found[name]
        value = mean(runs.surviving(split))
        return -sum(runs.diverged), value if math.isfinite(value) else -math.inf

    return max(names, key=score)


def cell(values: Sequence[float], failed: Sequence[bool] = (), digits: int = 2, scale: float = 1.0) -> str:
    """``mean ± std`` of `values` times `scale`, leaving out the `failed` ones (NaNs too) and
    saying how many of them there were.

    Examples:
        >>> cell([0.91, 0.93, 0.2], [False, False, True], scale=100)
        '92.00 ± 1.41 (1 of 3 diverged)'
        >>> cell([0.5, 0.5], [True, True])
        'diverged (2 of 2)'
        >>> cell([3.0])
        '3.00'
    """
    failed = list(failed) or [False] * len(values)
    kept = [v * scale for v, bad in zip(values, failed, strict=True) if not bad and math.isfinite(v)]
    bad = sum(failed)
    missing = len(values) - bad - len(kept)
    if not kept:
        return f"diverged ({bad} of {len(values)})" if bad else "none"
    text = f"{statistics.mean(kept):.{digits}f}"
    if len(kept) > 1:
        text += f" ± {statistics.stdev(kept):.{digits}f}"
    notes = ([f"{bad} of {len(values)} diverged"] if bad else []) + ([f"{missing} never"] if missing else [])
    return text + (f" ({', '.join(notes)})" if notes else "")


def reached_cell(reached: Sequence[int | None], with_std: bool = False) -> str:
    """A table cell for the steps at which runs reached a target (`Runs.first_below`,
    `Runs.first_above`): the mean over the runs that did (with `with_std`, ± their std),
    and how many never did.

    Examples:
        >>> reached_cell([100, 300, None]), reached_cell([None, None])
        ('200 (1 of 3 never)', 'never')
        >>> reached_cell([100, 300, None], with_std=True)
        '200 ± 141 (1 of 3 never)'
    """
    kept = [step for step in reached if step is not None]
    if not kept:
        return "never"
    missing = len(reached) - len(kept)
    text = cell([float(step) for step in kept], digits=0) if with_std else f"{statistics.mean(kept):.0f}"
    return text + (f" ({missing} of {len(reached)} never)" if missing else "")


def median_reached(reached: Sequence[int | None], budget: int) -> float:
    """The median step at which runs reached a target, a run that never did counting as
    twice the `budget` (so a cell where most never do compares as slower than any that do).

    Examples:
        >>> median_reached([100, None, 300], budget=1000)
        300
    """
    return statistics.median([step if step is not None else 2 * budget for step in reached])


def train_arms(base: ml_collections.ConfigDict, arms: Mapping[str, Sequence[str]], seeds: Sequence[int],
               root: pathlib.Path, *, vectorize: bool = True) -> dict[str, Runs]:
    """Trains every arm (``name: overrides``) for every seed, as one sweep in ``root``
    (`tricks.ensembles.sweep`, vectorized: runs that can share one program train side by
    side; with `vectorize` false, one after another, so that each run's wall time is its
    own); runs finished there before are reused.

    Returns:
        ``{arm: Runs}``, in the order of `arms`.
    """
    import registry
    from tricks import ensembles, train

    from tricks import config as config_lib

    base = train.complete(base)
    runs = [[*overrides, f"seed={seed}"] for overrides in arms.values() for seed in seeds]
    names = [run_folder(run) for run in runs]
    reused = [ensembles.finished_summary(config_lib.apply_overrides(base, run), pathlib.Path(root) / name)
              is not None for name, run in zip(names, runs, strict=True)]
    result = ensembles.sweep(base, root, runs, vectorize=vectorize, names=names)
    by_name = {entry["name"]: entry for entry in result["runs"]}
    num_classes = int(registry.build("dataset", base.dataset).num_classes)
    found: dict[str, Runs] = {}
    for a, arm in enumerate(arms):
        span = range(a * len(seeds), (a + 1) * len(seeds))
        arm_names = [names[i] for i in span]
        workdirs = [pathlib.Path(root) / name for name in arm_names]
        found[arm] = Runs(workdirs, [by_name.get(name, {"error": "not run"}) for name in arm_names],
                          [_records(workdir) for workdir in workdirs], num_classes, [reused[i] for i in span])
    return found


def run_folder(overrides: Sequence[str]) -> str:
    """A run's folder name, from its overrides alone (not its place in the grid, so a
    grown grid finds the runs it trained before): the overrides made safe and cut to 100
    characters, then a hash of them in full.

    Examples:
        >>> run_folder(["optimizer=adam(learning_rate=0.01)", "seed=0"])
        'optimizer=adam_learning_rate=0.01_,seed=0_...'
    """
    import hashlib

    text = ",".join(overrides)
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", text)[:100] + "_" + hashlib.sha256(text.encode()).hexdigest()[:8]


def _evaluated(workdir: pathlib.Path, split: str) -> dict | None:
    """The final evaluation of `split` in a run's ``summary.json`` (None: no such file or split)."""
    path = pathlib.Path(workdir) / "summary.json"
    if not path.is_file():
        return None
    return (json.loads(path.read_text()).get("splits") or {}).get(split)


def _records(workdir: pathlib.Path) -> list[dict]:
    path = workdir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclasses.dataclass
class Result:
    """What an experiment found.

    Attributes:
        columns: the table's header (the first column names the arm).
        rows: the table's rows, cells as text (`cell`).
        verdict: one of `experiments.VERDICTS`, decided from the numbers by the experiment's
            stated rule.
        reading: what the table says, in a few sentences (computed from the numbers).
        published: the source's figure for comparison.
        numbers: the raw numbers behind the cells (saved in ``result.json``).
        curves: ``{panel: (steps, [values per seed])}``, plotted one panel per arm with the
            seeds' spread as a band.
        curve_label: what the curves show (their y axis).
        log_y: whether the curves' y axis is logarithmic.
        reused: ``(runs reused, runs in all)``: how many had finished in an earlier run of
            the experiment (`reuse`), so its run time covers only the others.
        plots: more figures beside ``curves.png``: ``{file stem: Panels or Points}``.
    """

    columns: list[str]
    rows: list[list[str]]
    verdict: str
    reading: str
    published: str
    numbers: dict = dataclasses.field(default_factory=dict)
    curves: dict[str, tuple[list[int], list[list[float]]]] = dataclasses.field(default_factory=dict)
    curve_label: str = "training loss"
    log_y: bool = False
    reused: tuple[int, int] = (0, 0)
    plots: dict[str, Panels | Points] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Panels:
    """A figure of curves, one panel per name (`Result.plots`).

    Attributes:
        curves: ``{panel: (steps, [values per seed])}``.
        label: what the curves show (their y axis).
        log_y: whether the y axis is logarithmic.
        x_label: what their x axis counts.
        log_x: whether the x axis is logarithmic (batch sizes, budgets).
        symlog: above 0, a y axis logarithmic on both sides of zero and linear within
            ±`symlog` (for values of both signs, such as eigenvalues).
    """

    curves: dict[str, tuple[list[float], list[list[float]]]]
    label: str
    log_y: bool = False
    x_label: str = "step"
    log_x: bool = False
    symlog: float = 0.0


@dataclasses.dataclass
class Points:
    """A figure of labelled points, one panel per measure (`Result.plots`): each arm at its
    own x (a cost), its seeds' mean with their spread (min to max) as an error bar.

    Attributes:
        points: ``{panel: {arm: (x, [values per seed])}}``.
        x_label: what the x axis counts.
        log_x: whether the x axis is logarithmic.
    """

    points: dict[str, dict[str, tuple[float, list[float]]]]
    x_label: str
    log_x: bool = False


def reuse(found: Mapping[str, Runs]) -> tuple[int, int]:
    """``(runs reused, runs in all)`` over the arms `found` (`Result.reused`)."""
    flags = [flag for runs in found.values() for flag in runs.reused]
    return sum(flags), len(flags)
