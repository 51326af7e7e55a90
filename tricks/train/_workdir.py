"""A run's folder: its config, the code version, the refusal to mix two configs or two
incompatible states, and the one-line errors of a folder that cannot be written."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import re
import subprocess
from typing import Any

import ml_collections
import numpy as np

from tricks.config import ConfigError

IGNORED_FIELDS = ("progress", "compilation_cache")
"""Fields that do not change results, so a workdir may be resumed with them changed."""

DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""The errors of a write that found no room (a full disk, a quota, a file size limit)."""


class WorkdirError(OSError):
    """A workdir that cannot be written: another run holds it, or a write to it failed
    (a full disk); the message is one line, and says which checkpoint is left to resume."""


def write_error(what: str, error: BaseException, last_good: pathlib.Path | None) -> WorkdirError:
    """The one-line error of `what` that could not be written, for `error`; `last_good` is
    the newest checkpoint that was saved whole (None: none was).

    Examples:
        >>> write_error("runs/a/metrics.jsonl", OSError(errno.ENOSPC, "No space left on device"),
        ...             pathlib.Path("runs/a/checkpoints/100"))
        WorkdirError('could not write runs/a/metrics.jsonl (No space left on device); the last good checkpoint is step 100 (runs/a/checkpoints/100)')
        >>> str(write_error("the checkpoint", ValueError("RESOURCE_EXHAUSTED: ... [os_error_code='28']"), None))
        'could not write the checkpoint (No space left on device); no checkpoint was saved'
    """
    if isinstance(error, OSError) and error.strerror:
        reason = error.strerror
    elif code := re.search(r"os_error_code='?(\d+)", str(error)):  # TensorStore's text of an OS error
        reason = os.strerror(int(code.group(1)))
    else:
        reason = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"
    kept = f"the last good checkpoint is step {last_good.name} ({last_good})" if last_good else "no checkpoint was saved"
    return WorkdirError(f"could not write {what} ({reason}); {kept}")


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


def prepare(workdir: pathlib.Path, config: ml_collections.ConfigDict, force: bool, state: Any) -> None:
    """Creates `workdir` and writes ``config.json``; refuses a workdir of another config,
    or one whose newest checkpoint does not hold a state like `state` (see `check_state`).

    A workdir whose earlier run saved no checkpoint holds nothing to resume: a different
    config starts afresh there (its ``metrics.jsonl`` is kept as ``metrics.jsonl.old``).
    Nothing is written before both checks pass. A standard field that the workdir's
    config lacks (a field added since it was written, such as ``ema_decay``) counts as
    its default, which does what the code did before the field existed.

    Args:
        state: the new run's initial state.

    Raises:
        ConfigError: `workdir` holds checkpoints of a run whose config differs (the
            differences are listed), unless `force`; or checkpoints of another state; or
            a ``config.json`` that is not a JSON object (one line naming it).

    Examples:
        >>> import tempfile
        >>> workdir, state = pathlib.Path(tempfile.mkdtemp()), {"w": np.zeros(3)}
        >>> prepare(workdir, ml_collections.ConfigDict({"seed": 0}), force=False, state=state)
        >>> prepare(workdir, ml_collections.ConfigDict({"seed": 1}), force=False, state=state)  # nothing saved yet
        workdir ... held no checkpoint of its earlier config (seed: 0 -> 1): starting afresh
        >>> (workdir / "checkpoints" / "10").mkdir(parents=True)
        >>> prepare(workdir, ml_collections.ConfigDict({"seed": 2}), force=False, state=state)
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
        try:
            old = json.loads(path.read_text())
            if not isinstance(old, dict):
                raise ValueError(f"a JSON {type(old).__name__}, not an object")
        except ValueError as exc:  # not UTF-8 text, not JSON, or not a JSON object
            raise ConfigError(f"{path} is not a readable config ({exc}); remove it to continue this run with "
                              "the new config, or use another --workdir") from None
        changes = differences(_with_new_fields(old, new), new)
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
        if saved:
            check_state(workdir, state, old, new)
    partial = path.with_name(path.name + ".partial")  # a full disk leaves the old config.json whole
    partial.write_text(json.dumps(new, indent=2, sort_keys=True) + "\n")
    partial.replace(path)


def check_state(workdir: pathlib.Path, state: Any, old: dict, new: dict) -> None:
    """Refuses to continue in `workdir` with `state` unless its newest readable checkpoint
    holds the same arrays (paths, shapes and dtypes); `old` and `new` are the config
    records of the saved run and of this one (what changed is named).

    Raises:
        ConfigError: one line: which part differs (the model, path by path; the
            optimizer state or the train state's step and key, counted), and the
            component change that made it.

    Examples:
        >>> import tempfile
        >>> from tricks.train import Checkpoints
        >>> workdir = pathlib.Path(tempfile.mkdtemp())
        >>> saved = Checkpoints(workdir)
        >>> saved.save(10, {"params": {"w": np.zeros(3)}, "opt_state": [np.zeros(3), np.zeros(3)]}, {})
        >>> saved.close()
        >>> check_state(workdir, {"params": {"w": np.zeros(3)}, "opt_state": [np.zeros(3)]},
        ...             {"optimizer": "adam()"}, {"optimizer": "sgd()"})
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: --force cannot continue this run: the optimizer state differs (adam -> sgd): 1 leaf missing; use another --workdir
    """
    from tricks.optimizers import leaves_by_path
    from tricks.train._checkpoint import Checkpoints

    checkpoints = Checkpoints(workdir, read_only=True)
    for step in reversed(checkpoints.steps()):
        try:
            have = leaves_by_path(checkpoints.item_metadata(step))
        except Exception:  # a damaged checkpoint, which restoring sets aside
            continue
        break
    else:
        return
    want = leaves_by_path(state)
    parts = []
    for part, field in _PARTS.items():
        a = {p: _leaf(x) for p, x in have.items() if _part(p) == part}
        b = {p: _leaf(x) for p, x in want.items() if _part(p) == part}
        differ = [f"{p} {a.get(p, 'absent')} -> {b.get(p, 'absent')}" for p in sorted(a.keys() | b.keys())
                  if a.get(p) != b.get(p)]
        if not differ:
            continue
        if part == "model":  # its paths name the layers
            how = ", ".join(differ[:4]) + (f", and {len(differ) - 4} more" if len(differ) > 4 else "")
        else:
            missing, added = len(a.keys() - b.keys()), len(b.keys() - a.keys())
            how = ", ".join(text for count, text in ((missing, f"{missing} {'leaf' if missing == 1 else 'leaves'} missing"),
                                                     (added, f"{added} new"),
                                                     (len(differ) - missing - added, f"{len(differ) - missing - added} changed"))
                            if count)
        names = _name(old.get(field)), _name(new.get(field))
        parts.append(f"the {part} differs{f' ({names[0]} -> {names[1]})' if names[0] != names[1] else ''}: {how}")
    if parts:
        lead = "--force cannot continue this run" if differences(old, new) else f"cannot resume {workdir}"
        raise ConfigError(f"{lead}: {'; '.join(parts)}; use another --workdir")


_PARTS = {"model": "model", "optimizer state": "optimizer", "train state": None}
"""The parts of a train state that `check_state` names, with the config field that makes each."""


def _part(path: str) -> str:
    top = path.split("/")[0]
    return "model" if top in ("params", "batch_stats") else "optimizer state" if top == "opt_state" else "train state"


def _leaf(array: Any) -> str:
    return f"{np.dtype(array.dtype).name}{list(array.shape)}"


def _name(spec: Any) -> str | None:
    """A component spec's name: ``sgd`` for ``"sgd(learning_rate=0.1)"`` or ``{"name": "sgd", ...}``."""
    if spec is None or isinstance(spec, dict):
        return spec and spec.get("name")
    return str(spec).split("(")[0]


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


def _with_new_fields(old: dict, new: dict) -> dict:
    """`old` with the standard top-level fields that `new` has and it lacks set to their defaults."""
    from tricks.train._defaults import default_config

    defaults = config_record(default_config())
    return {**{k: v for k, v in defaults.items() if k in new and k not in old}, **old}


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
