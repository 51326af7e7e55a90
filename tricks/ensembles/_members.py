"""Ensemble members from Orbax checkpoints: a run's snapshots, runs' last steps, a sweep's best runs.

A selection names which checkpoints become members:

- ``last``: the newest checkpoint of each run (e.g. runs that differ by seed);
- ``cycle_ends``: every snapshot of each run (``snapshots: "cycle_ends"`` with an
  ``sgdr`` or ``cyclic`` rate, or ``snapshot_every``), all the run's config asks for;
  ``cycle_ends:K``: the last K of them;
- ``best:K``: the newest checkpoints of the K runs with the highest validation
  accuracy, ties broken by the lower validation NLL (from each run's ``summary.json``;
  the order of `tricks.ensembles.ranked`).

A workdir is a run (it holds ``config.json``) or a sweep's root (it holds
``sweep.json``, written by `tricks.ensembles.sweep`), which stands for all its runs.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import ml_collections

from tricks import data as data_lib
from tricks.ensembles._errors import EnsembleError
from tricks.ensembles._evaluate import Member
from tricks.ensembles._sweep import ranked

SELECTIONS = ("last", "cycle_ends", "cycle_ends:K", "best:K")
"""The forms of a member selection."""


@dataclasses.dataclass(frozen=True)
class Members(Sequence):
    """The members of an ensemble, and the dataset they were all trained on.

    Attributes:
        members: the models, in order.
        dataset: the `tricks.data.Dataset` (splits to evaluate on, training data for SWA).
        config: the first member's run config (batch sizes, seed).

    Examples:
        >>> import jax, jax.numpy as jnp, registry, tempfile, tricks
        >>> from tricks import train
        >>> model = registry.build("model", "mlp(widths=(16,), num_classes=10)")
        >>> inits = [model.init(jax.random.key(i), jnp.zeros((1, 8, 8, 1))) for i in range(2)]
        >>> dataset = registry.build("dataset", {"name": "digits", "data_dir": tempfile.mkdtemp()})
        >>> members = Members(tuple(Member(f"init{i}", model, v, "mlp") for i, v in enumerate(inits)),
        ...                   dataset, train.default_config())
        >>> len(members), [m.name for m in members]
        (2, ['init0', 'init1'])
        >>> sum(int(b["mask"].sum()) for b in members.batches("test"))
        360
    """

    members: tuple[Member, ...]
    dataset: Any
    config: ml_collections.ConfigDict

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, index):
        return self.members[index]

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    def batches(self, split: str) -> Iterator[dict]:
        """One in-order pass over `split` (the run's eval batch size; padding masked).

        Raises:
            EnsembleError: the dataset has no such split, or it is empty.
        """
        if split not in self.dataset.splits:
            raise EnsembleError(
                f"dataset {self.dataset.name} has no (non-empty) split {split!r}; available: "
                f"{', '.join(self.dataset.splits)}"
            )
        loader = data_lib.make_loader(self.dataset, split, self.config.eval_batch_size, self.config.seed)
        return loader.eval_batches()

    def train_batches(self, count: int = 0) -> Iterator[dict]:
        """`count` training batches of the first run's loader (0: one epoch)."""
        loader = data_lib.make_loader(self.dataset, "train", self.config.batch_size, self.config.seed)
        count = count or loader.steps_per_epoch
        return (loader.batch(step) for step in range(count))


def parse_selection(selection: str) -> tuple[str, int | None]:
    """``"best:3" -> ("best", 3)``; checks the form.

    Raises:
        EnsembleError: not one of `SELECTIONS`, or K < 1.

    Examples:
        >>> parse_selection("best:3"), parse_selection("cycle_ends"), parse_selection("last")
        (('best', 3), ('cycle_ends', None), ('last', None))
        >>> parse_selection("best")
        Traceback (most recent call last):
        ...
        tricks.ensembles._errors.EnsembleError: unknown member selection 'best'; valid: last, cycle_ends, ...
    """
    match = re.fullmatch(r"(last|cycle_ends)|(cycle_ends|best):(\d+)", selection.strip())
    if match is None or (match.group(3) is not None and int(match.group(3)) < 1):
        raise EnsembleError(
            f"unknown member selection {selection!r}; valid: {', '.join(SELECTIONS)} (K >= 1)"
        )
    if match.group(1):
        return match.group(1), None
    return match.group(2), int(match.group(3))


def run_dirs(workdirs: Sequence[str | pathlib.Path]) -> list[pathlib.Path]:
    """The runs that `workdirs` stand for: each run itself, each sweep root its runs.

    Raises:
        EnsembleError: a folder that is neither a run nor a sweep.

    Examples:
        >>> import tempfile
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "sweep.json").write_text(json.dumps({"runs": [{"name": "a"}, {"name": "b"}]}))
        >>> [p.name for p in run_dirs([root])]
        ['a', 'b']
    """
    found = []
    for workdir in map(pathlib.Path, workdirs):
        if (workdir / "config.json").is_file():
            found.append(workdir)
        elif (workdir / "sweep.json").is_file():
            found += [
                workdir / run["name"] for run in json.loads((workdir / "sweep.json").read_text())["runs"]
            ]
        elif not workdir.exists():
            raise EnsembleError(f"{workdir} does not exist")
        else:
            raise EnsembleError(f"{workdir} holds no run (no config.json) and no sweep (no sweep.json)")
    return found


def validation_accuracy(workdir: pathlib.Path) -> float | None:
    """The run's validation accuracy from its ``summary.json``, or None if it has none.

    Examples:
        >>> import tempfile
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (run / "summary.json").write_text('{"splits": {"validation": {"accuracy": 0.9}}}')
        >>> validation_accuracy(run)
        0.9
    """
    validation = _validation(workdir)
    return None if not validation else float(validation["accuracy"])


def _validation(workdir: pathlib.Path) -> dict[str, float] | None:
    """The run's validation results from its ``summary.json``, or None if it has none."""
    path = pathlib.Path(workdir) / "summary.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("splits", {}).get("validation") or None


def load_members(workdirs: Sequence[str | pathlib.Path], selection: str = "last", ema: bool = False) -> Members:
    """Restores the checkpoints that `selection` names from `workdirs` as ensemble members.

    Args:
        workdirs: runs written by `tricks.train.train_and_evaluate`, or sweep roots.
        selection: ``last``, ``cycle_ends``, ``cycle_ends:K`` or ``best:K`` (module doc).
        ema: each checkpoint's moving average of the weights (runs trained with
            ``ema_decay`` > 0). Otherwise the parameters evaluation uses
            (`tricks.train.evaluation_params`: a schedule-free optimizer's x).

    Returns:
        The members (named ``<run folder>@<step>``), with the dataset they share.

    Raises:
        EnsembleError: a folder without a run or without a finished checkpoint; fewer
            snapshots than the run's config (or K) asks for; ``best:K`` with fewer than K
            runs that have a validation accuracy; runs trained on different datasets;
            with `ema`, a run trained without a moving average.

    Examples:
        >>> import tempfile
        >>> load_members([tempfile.mkdtemp()], "cycle_ends")
        Traceback (most recent call last):
        ...
        tricks.ensembles._errors.EnsembleError: /... holds no run (no config.json) and no sweep ...

        A whole run's snapshots: see the example of `tricks.ensembles`.
    """
    from tricks import train

    kind, count = parse_selection(selection)
    runs = run_dirs(workdirs)
    if not runs:
        raise EnsembleError("no runs given")
    if kind == "best":
        runs = _best(runs, count)
    members, setups, dataset_spec, first = [], {}, None, None
    for run in runs:
        config = ml_collections.ConfigDict(json.loads((run / "config.json").read_text()), type_safe=False)
        config = train.complete(config)
        if ema and not config.ema_decay:
            raise EnsembleError(f"{run} was trained without a moving average of its weights (ema_decay 0): "
                                f"there are no averaged weights to ensemble")
        spec = json.dumps(_plain(config.dataset), sort_keys=True)
        if dataset_spec is None:
            dataset_spec = spec
        elif spec != dataset_spec:
            raise EnsembleError(
                f"members must share a dataset, but {runs[0]} used {dataset_spec} and {run} {spec}"
            )
        key = json.dumps(
            {k: _plain(config[k]) for k in ("dataset", "model", "optimizer", "loss", "augment")},
            sort_keys=True,
        )
        if key not in setups:
            setups[key] = train.setup(config)
        setup = setups[key]
        if first is None:
            first = setup
        checkpoints = train.Checkpoints(run, read_only=True)
        try:
            steps = _steps(run, checkpoints, config, setup.num_steps, kind, count)
            architecture = json.dumps({k: _plain(config[k]) for k in ("model", "augment")}, sort_keys=True)
            for step in steps:
                state, _ = checkpoints.restore(step, setup.state)
                members.append(
                    Member(
                        name=f"{run.name}@{step}",
                        model=setup.components.model,
                        variables=train.evaluated(state, ema).variables(),
                        architecture=architecture,
                        augment=setup.components.augment,
                        num_classes=setup.components.num_classes,
                        workdir=run,
                        step=step,
                    )
                )
        finally:
            checkpoints.close()
    return Members(tuple(members), first.components.dataset, first.config)


def _plain(value: Any) -> Any:
    return value.to_dict() if hasattr(value, "to_dict") else value


def _best(runs: list[pathlib.Path], count: int) -> list[pathlib.Path]:
    scored = [{"run": run, "validation": _validation(run)} for run in runs]
    usable = [item for item in scored if item["validation"]]
    if len(usable) < count:
        missing = [str(item["run"]) for item in scored if not item["validation"]]
        raise EnsembleError(
            f"best:{count} needs {count} runs with a validation accuracy, found {len(usable)}"
            + (
                f" (none in the summary of {', '.join(missing)}: train with 'validation' in eval_splits)"
                if missing
                else ""
            )
        )
    return [item["run"] for item in ranked(usable)[:count]]


def _steps(run: pathlib.Path, checkpoints, config, num_steps: int, kind: str, count: int | None) -> list[int]:
    from tricks import train

    available = checkpoints.steps()
    if not available:
        raise EnsembleError(
            f"{run} has no finished checkpoint; train it first ('tricks train --workdir {run}')"
        )
    if kind in ("last", "best"):
        return [available[-1]]
    snapshots = checkpoints.snapshots()
    if count is not None:
        if len(snapshots) < count:
            raise EnsembleError(
                f"{run} has {len(snapshots)} snapshots (steps {snapshots}), fewer than the {count} asked for"
            )
        return snapshots[-count:]
    expected = train.snapshot_steps(config, num_steps)
    if not expected:
        raise EnsembleError(
            f"{run} takes no snapshots: train with snapshots='cycle_ends' and an sgdr or cyclic "
            "learning rate "
            "(or snapshot_every=N)"
        )
    missing = [step for step in expected if step not in snapshots]
    if missing:
        raise EnsembleError(
            f"{run} has {len(snapshots)} snapshots (steps {snapshots}), fewer than the {len(expected)} "
            f"its config asks for (steps {expected}; missing {missing}); finish the run ('tricks train' "
            "resumes it) or ask "
            f"for cycle_ends:K"
        )
    return expected
