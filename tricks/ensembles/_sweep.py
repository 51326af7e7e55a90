"""Hyper-parameter sweeps: one config, a grid or list of overrides, each run in its own workdir.

`sweep` trains each variant into ``ROOT/<name>`` (resuming one already there) and
writes ``ROOT/sweep.json``: the runs, their validation and test results, and their
ranking by validation accuracy (ties by validation NLL). ``load_members([ROOT],
"best:K")`` then takes the K best runs in that order as an ensemble (Caruana et al.
2004: the best few of a sweep ensemble well).
"""

from __future__ import annotations

import itertools
import json
import math
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections
import yaml

from tricks.config import ConfigError
from tricks._text import aligned


def split_values(text: str) -> list[str]:
    """The items of ``[a, b, ...]`` (commas inside brackets or quotes do not split); a bare value is one item.

    Examples:
        >>> split_values("[0.1, 0.03]")
        ['0.1', '0.03']
        >>> split_values("[adamw(learning_rate=0.1, b1=0.9), 'sgd(learning_rate=0.3)']")
        ['adamw(learning_rate=0.1, b1=0.9)', 'sgd(learning_rate=0.3)']
        >>> split_values("7")
        ['7']
    """
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return [text]
    items, depth, quote, current = [], 0, None, ""
    for char in text[1:-1]:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        current += char
    items.append(current)
    items = [_unquote(item.strip()) for item in items]
    if any(not item for item in items):
        raise ConfigError(f"grid values {text!r}: an empty value")
    return items


def _unquote(item: str) -> str:
    if len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"":
        return item[1:-1]
    return item


def grid(assignments: Sequence[str]) -> list[list[str]]:
    """Every combination of ``key=[v1, v2, ...]`` assignments, as lists of ``key=value`` overrides.

    The first assignment varies slowest.

    Raises:
        ConfigError: an assignment without ``=``.

    Examples:
        >>> grid(["optimizer.learning_rate=[0.1,0.03]", "seed=[0,1]"])
        [['optimizer.learning_rate=0.1', 'seed=0'], ['optimizer.learning_rate=0.1', 'seed=1'],
         ['optimizer.learning_rate=0.03', 'seed=0'], ['optimizer.learning_rate=0.03', 'seed=1']]
    """
    axes = []
    for assignment in assignments:
        key, sep, values = assignment.removeprefix("--").removeprefix("config.").partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"grid {assignment!r} must look like key=[value1, value2, ...]")
        axes.append([f"{key.strip()}={value}" for value in split_values(values)])
    return [list(combo) for combo in itertools.product(*axes)] if axes else []


def read_overrides(path: str | pathlib.Path) -> list[list[str]]:
    """The runs of an overrides file: a JSON or YAML list of ``{key: value}`` or ``["key=value", ...]``.

    Raises:
        ConfigError: a missing file, or not a list of mappings or lists of strings.

    Examples:
        >>> import tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "runs.yaml"
        >>> _ = path.write_text("- {seed: 0, optimizer: 'sgd(learning_rate=0.1)'}\\n- [seed=1]\\n")
        >>> read_overrides(path)
        [['seed=0', 'optimizer=sgd(learning_rate=0.1)'], ['seed=1']]
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"overrides file {str(path)!r} does not exist")
    try:
        items = yaml.safe_load(path.read_text())  # JSON is YAML
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid JSON or YAML: {exc}") from None
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected a non-empty list of runs, got {type(items).__name__}")
    runs = []
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            runs.append(
                [f"{key}={value if isinstance(value, str) else repr(value)}" for key, value in item.items()]
            )
        elif isinstance(item, list) and all(isinstance(x, str) for x in item):
            runs.append(list(item))
        else:
            raise ConfigError(
                f"{path}: run {i} must be a mapping {{key: value}} or a list of 'key=value', got {item!r}"
            )
    return runs


def run_name(index: int, overrides: Sequence[str]) -> str:
    """A folder name for a run: its index and overrides, with unsafe characters replaced.

    Examples:
        >>> run_name(3, ["optimizer.learning_rate=0.1", "model=mlp(widths=(64,))"])
        '03_optimizer.learning_rate=0.1,model=mlp_widths=_64,__'
    """
    text = ",".join(o.removeprefix("--").removeprefix("config.") for o in overrides) or "base"
    return f"{index:02d}_" + re.sub(r"[^A-Za-z0-9._=,+-]", "_", text)[:120]


def sweep(
    config: ml_collections.ConfigDict,
    root: str | pathlib.Path,
    runs: Sequence[Sequence[str]],
    *,
    force: bool = False,
    vectorize: bool = False,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Trains `config` once per override list in `runs`, each into ``root/<run_name>``.

    Every override list is applied before any training starts, so an unknown field
    fails at once (a bad argument inside a component spec fails when its run is built).
    ``root/sweep.json`` is rewritten after each run (or group), so an interrupted sweep
    keeps what it finished; a second call resumes, reusing the summaries of finished runs.

    With `vectorize`, runs that differ only in their seed and in numbers of their
    optimizer and loss specs (`vector_groups`) form a group trained side by side in one
    program (`tricks.train.train_population`), each into its own workdir as before;
    groups run one after another, and the grouping is printed. A group whose numbers
    cannot be traced (a warmup length) trains in groups that agree in those numbers, and one too
    large for the device's memory in smaller groups, saying why.

    Args:
        config: the base training config.
        root: the sweep's folder.
        runs: one list of ``key=value`` overrides per run (`grid`, `read_overrides`).
        force: passed to `train_and_evaluate` (train over a workdir of another config).
        vectorize: train each group of runs that can share one program together.
        names: the runs' folder names, one per run (default: `run_name`, which numbers
            them in order, so a run's folder changes when runs are added before it; the
            experiments name runs by their overrides instead, so that a grown grid
            reuses what it trained before).

    Returns:
        The content of ``sweep.json``: ``{"config", "runs": [{"name", "overrides",
        "step", "validation", "test", "wall_time_s"}, ...], "ranking": [names by
        validation accuracy, best first, ties by validation NLL; runs without one
        last]}``; a run stopped by a non-finite loss has ``"error"`` (and is reused as it is
        by a later sweep in `root`: `finished_summary`).

    Raises:
        ConfigError: no runs, an override that does not apply to `config`, or `names`
            not one distinct name per run.

    Examples:
        >>> import tempfile
        >>> from tricks import train
        >>> cfg = train.default_config()
        >>> cfg.dataset = f"digits(data_dir={tempfile.mkdtemp()!r})"
        >>> cfg.optimizer = "adam(learning_rate=0.01)"
        >>> cfg.num_steps, cfg.eval_every, cfg.progress = 4, 4, False
        >>> result = sweep(cfg, tempfile.mkdtemp(), grid(["optimizer.learning_rate=[0.003]"]))
        sweep run 00_optimizer.learning_rate=0.003
        step 4: ...
        >>> result["ranking"], result["runs"][0]["step"]
        (['00_optimizer.learning_rate=0.003'], 4)
        >>> sweep(cfg, tempfile.mkdtemp(), [["seed=1"], ["sede=2"]])   # nothing trains
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: sede=2: unknown key 'sede' in the config (did you mean 'seed'?); ...
    """
    from tricks import config as config_lib

    if not runs:
        raise ConfigError("a sweep needs at least one run (give --grid or --overrides-file)")
    root = pathlib.Path(root)
    names = [run_name(i, overrides) for i, overrides in enumerate(runs)] if names is None else list(names)
    if len(names) != len(runs) or len(set(names)) != len(names):
        raise ConfigError(f"a sweep needs one distinct folder name per run: {len(runs)} runs, {len(names)} names, "
                          f"{len(set(names))} distinct")
    configs = [(name, list(overrides), config_lib.apply_overrides(config, overrides))
               for name, overrides in zip(names, runs, strict=True)]
    result: dict[str, Any] = {"config": json.loads(config.to_json()), "runs": [], "ranking": []}
    root.mkdir(parents=True, exist_ok=True)
    groups = vector_groups(configs) if vectorize else [[run] for run in configs]
    if vectorize:
        print(grouping(groups), flush=True)
    summaries: dict[str, dict] = {}
    for group in groups:
        todo = []
        for name, _, run_config in group:
            summary = finished_summary(run_config, root / name)
            if summary is None:
                todo.append((name, run_config))
            else:
                print(f"sweep run {name}: finished before, summary reused", flush=True)
                summaries[name] = summary
        if todo:
            trained = _train_group(todo, root, force)
            for name, summary in trained.items():
                if "error" in summary:  # an outcome too: a rerun reuses it instead of training it again
                    (root / name / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            summaries.update(trained)
        result["runs"] = [_entry(name, overrides, summaries[name]) for name, overrides, _ in configs
                          if name in summaries]
        result["ranking"] = [run["name"] for run in ranked(result["runs"])]
        (root / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _entry(name: str, overrides: list[str], summary: Mapping[str, Any]) -> dict[str, Any]:
    """A run's line in ``sweep.json``."""
    splits = summary.get("splits", {})
    entry = {"name": name, "overrides": overrides, "step": summary["step"], "validation": splits.get("validation"),
             "test": splits.get("test"), "wall_time_s": summary.get("wall_time_s", 0.0)}
    if "error" in summary:
        entry["error"] = summary["error"]
    return entry


def vector_groups(configs: Sequence[tuple[str, list[str], ml_collections.ConfigDict]],
                  numbers: bool = True) -> list[list[tuple]]:
    """`configs` (``(name, overrides, config)``) in groups that may train side by side
    (equal `tricks.train.vector_key`: they differ in their seed and, with `numbers`, in
    numbers of their optimizer and loss specs), in order of first appearance.

    Examples:
        >>> from tricks import train
        >>> from tricks.config import apply_overrides
        >>> base = train.default_config()
        >>> runs = [(f"r{i}", o, apply_overrides(base, o)) for i, o in enumerate(
        ...     grid(["batch_size=[64,128]", "optimizer.weight_decay=[0.1,0.01]", "seed=[0,1]"]))]
        >>> [[name for name, _, _ in group] for group in vector_groups(runs)]
        [['r0', 'r1', 'r2', 'r3'], ['r4', 'r5', 'r6', 'r7']]
        >>> [len(group) for group in vector_groups(runs, numbers=False)]
        [2, 2, 2, 2]
    """
    from tricks import train

    groups: dict[str, list[tuple]] = {}
    for run in configs:
        groups.setdefault(train.vector_key(run[2], numbers), []).append(run)
    return list(groups.values())


def grouping(groups: Sequence[Sequence[tuple]]) -> str:
    """What `sweep` says about its vectorized groups: their runs, and the fields that split them."""
    from tricks import train

    lines = [f"--vectorize: {sum(map(len, groups))} runs in {len(groups)} group(s) trained one after another; the runs "
             f"of a group differ only in their seed and numbers of their optimizer and loss, and train side by side"]
    if len(groups) > 1:
        split = train.differing_fields([group[0][2] for group in groups])
        lines.append(f"  groups differ in {', '.join(split)}")
    for i, group in enumerate(groups, 1):
        lines.append(f"  group {i}: {', '.join(name for name, _, _ in group)}")
    return "\n".join(lines)


def _train_group(todo: list[tuple[str, ml_collections.ConfigDict]], root: pathlib.Path,
                 force: bool) -> dict[str, dict]:
    """Trains `todo` (``(name, config)``) side by side; a group that cannot share one
    program (`tricks.train.NotVectorizable`) trains in subgroups of the runs that differ
    only in their seed."""
    from tricks import train

    if len(todo) == 1:
        name, config = todo[0]
        print(f"sweep run {name}", flush=True)
        try:
            return {name: train.train_and_evaluate(config, root / name, force=force)}
        except train.NonFiniteLossError as exc:
            good = train.Checkpoints(root / name, read_only=True).steps()
            print(f"sweep run {name}: {exc}", flush=True)
            return {name: {"error": str(exc), "step": good[-1] if good else 0}}
    print(f"sweep runs {todo[0][0]} .. {todo[-1][0]} ({len(todo)}): side by side", flush=True)
    try:
        trained = train.train_population([c for _, c in todo], [root / name for name, _ in todo], force=force)
    except train.TooManyMembers as exc:
        chunks = [todo[i:i + exc.fits] for i in range(0, len(todo), exc.fits)]
        print(f"  {exc}: in {len(chunks)} groups", flush=True)
        return {name: summary for chunk in chunks for name, summary in _train_group(chunk, root, force).items()}
    except train.NotVectorizable as exc:
        if exc.groups:  # runs that agree in the numbers that must be concrete
            subgroups = [[todo[i] for i in group] for group in exc.groups]
            how = f"groups that agree in {', '.join(exc.fields)}"
        else:
            subgroups = [[(name, config) for name, _, config in group]
                         for group in vector_groups([(name, [], config) for name, config in todo], numbers=False)]
            how = "groups of seeds"
        if len(subgroups) == 1:
            raise
        print(f"  {exc}; these runs train in {len(subgroups)} {how} instead", flush=True)
        found: dict[str, dict] = {}
        for group in subgroups:
            found.update(_train_group(group, root, force))
        return found
    return {name: summary for (name, _), summary in zip(todo, trained, strict=True)}


def finished_summary(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict | None:
    """The summary of a finished run of `config` in `workdir`, or None (not run, unfinished, another config).

    ``summary.json`` is written when a run ends; training a finished run again would
    only evaluate nothing and overwrite it, so sweeps and experiments reuse it instead.
    A sweep's run stopped by a non-finite loss has one too, with its ``error``: training
    it again would stop again (or, near the edge of stability, not, by float rounding
    alone), so it is reused as it is.
    Fields that do not change results (``progress``) are ignored in the comparison.

    Examples:
        >>> import tempfile
        >>> from tricks import train
        >>> print(finished_summary(train.default_config(), tempfile.mkdtemp()))
        None
    """
    from tricks import train

    workdir = pathlib.Path(workdir)
    if not (workdir / "summary.json").is_file() or not (workdir / "config.json").is_file():
        return None
    saved = json.loads((workdir / "config.json").read_text())
    wanted = json.loads(train.complete(config).to_json())
    if {k: v for k, v in saved.items() if k != "progress"} != {
        k: v for k, v in wanted.items() if k != "progress"
    }:
        return None
    summary = json.loads((workdir / "summary.json").read_text())
    return summary if summary.get("splits") or "error" in summary else None


def ranked(runs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """`runs` sorted by validation accuracy, best first; ties by validation NLL, lower first.

    Runs without a validation result come last, in the order given (as do runs tied on
    both, which are rare: the NLL is a float average over the split).

    Examples:
        >>> runs = [{"name": "a", "validation": {"accuracy": 0.8, "loss": 0.5}},
        ...         {"name": "b", "validation": None},
        ...         {"name": "c", "validation": {"accuracy": 0.9, "loss": 0.4}},
        ...         {"name": "d", "validation": {"accuracy": 0.9, "loss": 0.3}}]
        >>> [r["name"] for r in ranked(runs)]
        ['d', 'c', 'a', 'b']
    """
    return sorted(runs, key=_rank_key)


def _rank_key(run: Mapping[str, Any]) -> tuple[float, float]:
    validation = run.get("validation")
    if not validation:
        return (math.inf, math.inf)
    return (-validation["accuracy"], validation.get("loss", math.inf))


def sweep_table(result: Mapping[str, Any]) -> str:
    """A sweep's runs ranked (`ranked`), as a text table whose columns are as wide as their cells.

    Examples:
        >>> print(sweep_table({"runs": [{"name": "00_seed=0", "validation": {"accuracy": 0.9, "loss": 0.3},
        ...                              "test": {"accuracy": 0.88}, "wall_time_s": 12.0}]}))
        rank  run        val acc (%)  val NLL  test acc (%)  time (s)
           1  00_seed=0        90.00   0.3000         88.00        12
    """
    rows = [["rank", "run", "val acc (%)", "val NLL", "test acc (%)", "time (s)"]]
    for i, run in enumerate(ranked(result["runs"]), 1):
        val, test = run.get("validation") or {}, run.get("test") or {}
        rows.append(
            [
                str(i),
                run["name"],
                f"{100 * val['accuracy']:.2f}" if val else "-",
                f"{val['loss']:.4f}" if val else "-",
                f"{100 * test['accuracy']:.2f}" if test else "-",
                f"{run['wall_time_s']:.0f}",
            ]
        )
    return "\n".join(aligned(rows, "><>>>>"))
