"""A run's folder: its config, the code version, and the refusal to mix two configs."""

from __future__ import annotations

import json
import pathlib
import subprocess
from typing import Any

import ml_collections

from tricks.config import ConfigError

IGNORED_FIELDS = ("progress",)
"""Fields that do not change results, so a workdir may be resumed with them changed."""


def code_version() -> str:
    """The package version, plus the git commit (and ``+dirty``) when run from a checkout.

    Examples:
        >>> code_version().startswith("tricks ")
        True
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = f"tricks {version('tricks')}"
    except PackageNotFoundError:
        text = "tricks (not installed)"
    here = pathlib.Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return text
    return f"{text} (git {commit}{'+dirty' if dirty else ''})"


def prepare(workdir: pathlib.Path, config: ml_collections.ConfigDict, force: bool) -> None:
    """Creates `workdir` and writes ``config.json``; refuses a workdir of another config.

    A workdir whose earlier run saved no checkpoint holds nothing to resume: a different
    config starts afresh there (its ``metrics.jsonl`` is kept as ``metrics.jsonl.old``).

    Raises:
        ConfigError: `workdir` holds checkpoints of a run whose config differs (the
            differences are listed), unless `force`.

    Examples:
        >>> import tempfile
        >>> workdir = pathlib.Path(tempfile.mkdtemp())
        >>> prepare(workdir, ml_collections.ConfigDict({"seed": 0}), force=False)
        >>> prepare(workdir, ml_collections.ConfigDict({"seed": 1}), force=False)  # nothing saved yet
        workdir ... held no checkpoint of its earlier config (seed: 0 -> 1): starting afresh
        >>> (workdir / "checkpoints" / "10").mkdir(parents=True)
        >>> prepare(workdir, ml_collections.ConfigDict({"seed": 2}), force=False)
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: ... holds a run of a different config:
          seed: 1 -> 2
        use another --workdir, or --force to continue this run with the new config
    """
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.json"
    new = config_record(config)
    if path.exists():
        old = json.loads(path.read_text())
        changes = differences(old, new)
        folder = workdir / "checkpoints"
        saved = folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir())
        if changes and not saved:
            print(f"workdir {workdir} held no checkpoint of its earlier config ({'; '.join(changes)}): starting afresh")
            if (workdir / "metrics.jsonl").exists():
                (workdir / "metrics.jsonl").replace(workdir / "metrics.jsonl.old")
        elif changes and not force:
            listed = "\n  ".join(changes)
            raise ConfigError(
                f"{workdir} holds a run of a different config:\n  {listed}\n"
                "use another --workdir, or --force to continue this run with the new config"
            )
    path.write_text(json.dumps(new, indent=2, sort_keys=True) + "\n")


def config_record(config: ml_collections.ConfigDict) -> dict:
    """The config as JSON data (``config.json``, checkpoints, TensorBoard); a dataset given
    in memory (`tricks.data.from_arrays`) is recorded by what it is, not by its arrays.

    Examples:
        >>> import numpy as np
        >>> from tricks.data import from_arrays
        >>> x, y = np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1])
        >>> config_record(ml_collections.ConfigDict({"dataset": from_arrays((x, y), (x, y))}))["dataset"]
        {'name': 'in_memory', 'dataset': 'in_memory', 'input_shape': [2], 'split_sizes': {'train': 4, 'validation': 0, 'test': 4}}
    """
    from tricks import data as data_lib

    dataset = config.get("dataset")
    if not isinstance(dataset, data_lib.Dataset):
        return json.loads(config.to_json())
    plain = ml_collections.ConfigDict({k: v for k, v in config.items() if k != "dataset"}, type_safe=False)
    return json.loads(plain.to_json()) | {"dataset": {
        "name": data_lib.IN_MEMORY, "dataset": dataset.name, "input_shape": list(dataset.input_shape),
        "split_sizes": dict(dataset.split_sizes)}}


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Lines ``key: old -> new`` for every field that differs (nested keys dotted).

    Examples:
        >>> differences({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}, "d": 4})
        ['b.c: 2 -> 3', 'd: (absent) -> 4']
    """
    lines = []
    for key in sorted(set(old) | set(new)):
        if not prefix and key in IGNORED_FIELDS:
            continue
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if isinstance(a, dict) and isinstance(b, dict):
            lines += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            lines.append(f"{prefix}{key}: {_show(a)} -> {_show(b)}")
    return lines


_ABSENT = object()


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value)
