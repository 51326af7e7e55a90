"""Fine-tuning: a run's initial weights from another run's checkpoint (``init_from``)."""

from __future__ import annotations

import dataclasses
import pathlib
import re
import types
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import traverse_util

import registry
from tricks.config import ConfigError
from tricks.optimizers import is_schedule_free, leaves_by_path, path_name
from tricks.train._checkpoint import Checkpoints
from tricks.train._state import TrainState

COLLECTIONS = ("params", "batch_stats")
"""The parts of a train state that fine-tuning loads; the optimizer state, step and
random key start afresh."""


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """What `load_pretrained` did, path by path (``collection/module/.../leaf``).

    Attributes:
        directory: the source run's workdir.
        step: the checkpoint's step.
        loaded: paths whose arrays came from the checkpoint.
        fresh: paths left at their fresh initialization because `fresh` patterns matched.
        unused: checkpoint paths the model does not have (e.g. a dropped layer).
        source_config: the source run's config, as saved with its checkpoint.
        schedule_free: whether the parameters are a schedule-free run's x, computed from
            its checkpoint (`load_pretrained`).
        ema: whether they are the source's moving average of its weights.
    """

    directory: str
    step: int
    loaded: tuple[str, ...]
    fresh: tuple[str, ...]
    unused: tuple[str, ...]
    source_config: dict
    schedule_free: bool = False
    ema: bool = False

    def __str__(self) -> str:
        lines = [f"init_from {self.directory} step {self.step}: {len(self.loaded)} arrays loaded"
                 + (" (the parameters at x, where the schedule-free run was evaluated)" if self.schedule_free else "")
                 + (" (the moving average of the weights)" if self.ema else "")]
        if self.fresh:
            lines.append(f"  freshly initialized (init_fresh): {', '.join(self.fresh)}")
        if self.unused:
            lines.append(f"  in the checkpoint, not in the model (ignored): {', '.join(self.unused)}")
        return "\n".join(lines)


def parse_source(text: str) -> tuple[pathlib.Path, int | None]:
    """``"DIR"`` or ``"DIR:STEP"`` as (directory, step or None for the latest).

    Examples:
        >>> parse_source("runs/pre:1500")
        (PosixPath('runs/pre'), 1500)
        >>> parse_source("runs/pre")
        (PosixPath('runs/pre'), None)
    """
    match = re.fullmatch(r"(.+):(\d+)", text)
    if match:
        return pathlib.Path(match.group(1)), int(match.group(2))
    return pathlib.Path(text), None


def load_pretrained(
    state: TrainState,
    optimizer: optax.GradientTransformation,
    source: str,
    fresh: Sequence[str] = (),
    ema: bool = False,
) -> tuple[TrainState, Pretrained]:
    """`state` with parameters and batch statistics taken from a checkpoint of another run.

    Arrays are matched by path. Paths matching a regex of `fresh` (``re.search`` over
    the path inside its collection, e.g. ``"head"`` or ``"Dense_1/kernel"``, the same
    paths as the ``freeze`` and ``group_lr`` optimizer wrappers) keep the model's fresh
    initialization: a new head for new classes. Every other path must be in the
    checkpoint with the same shape. The optimizer state is initialized anew from the
    loaded parameters; step and random key stay those of `state`. The parameters loaded
    are those the source run was evaluated at (`tricks.train.evaluation_params`): from a
    run with a schedule-free optimizer, x = (y - (1 - b1) z) / b1, computed from the
    checkpoint's y, z and b1 (the report says so); with `ema`, the source's moving
    average of them (a run trained with ``ema_decay`` > 0) instead.

    Args:
        state: the new run's freshly initialized state.
        optimizer: the new run's optimizer (its state is re-initialized).
        source: ``"DIR"`` (the latest checkpoint of the run in workdir DIR) or ``"DIR:STEP"``.
        fresh: regexes of paths not to load.
        ema: load the source's moving average of the weights and statistics (config
            ``init_from_ema``).

    Returns:
        (the new state, a `Pretrained` report of what was loaded, left fresh and ignored).

    Raises:
        ConfigError: no checkpoint at `source` (listing the steps there), `ema` from a run
            that kept no moving average, model paths
            missing from the checkpoint or of another shape (each path with both shapes,
            and the ``init_fresh`` hint), or a `fresh` regex that matches nothing.

    Examples:
        >>> import tempfile, jax.numpy as jnp, optax
        >>> from tricks.train import Checkpoints, TrainState
        >>> def make(classes):
        ...     params = {"body": {"kernel": jnp.full((4, 8), float(classes))},
        ...               "head": {"kernel": jnp.zeros((8, classes))}}
        ...     return TrainState(step=jnp.zeros((), jnp.int32), params=params, batch_stats={},
        ...                       opt_state=optax.adam(1e-3).init(params), rng=jnp.zeros(2, jnp.uint32))
        >>> workdir = tempfile.mkdtemp()
        >>> ckpts = Checkpoints(workdir); ckpts.save(7, make(5), {"config": {}}); ckpts.close()
        >>> state, report = load_pretrained(make(3), optax.adam(1e-3), workdir, fresh=["head"])
        >>> float(state.params["body"]["kernel"][0, 0]), state.params["head"]["kernel"].shape
        (5.0, (8, 3))
        >>> print(report)  # doctest: +ELLIPSIS
        init_from ... step 7: 1 arrays loaded
          freshly initialized (init_fresh): params/head/kernel
        >>> load_pretrained(make(3), optax.adam(1e-3), workdir)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: init_from ...: the checkpoint does not fit the model:
          params/head/kernel: checkpoint (8, 5), model (8, 3)
        to start these from a fresh initialization (e.g. a new head), set init_fresh, e.g. --config.init_fresh="['head']"
    """
    directory, step = parse_source(source)
    ckpts = _open(directory, source)
    try:
        steps = ckpts.steps()
        if step is None:
            step = steps[-1] if steps else None
        if step not in steps:
            found = ", ".join(map(str, steps)) or "none"
            raise ConfigError(f"init_from {source!r}: no checkpoint at step {step} in {directory}; steps: {found}")
        saved = ckpts.item_metadata(step)
        source_config = ckpts.meta(step).get("config", {})
    finally:
        ckpts.close()
    if ema and not saved.get("ema"):
        raise ConfigError(f"init_from {source!r} with init_from_ema: that run kept no moving average of its weights "
                          f"(it was trained with ema_decay 0); drop init_from_ema to load its weights")
    patterns = [re.compile(p) for p in fresh]
    model = {c: leaves_by_path(getattr(state, c)) for c in COLLECTIONS}
    stored = {c: leaves_by_path((saved["ema"] if ema else saved).get(c) or {}) for c in COLLECTIONS}
    _check_patterns(patterns, model)
    wanted, fresh_paths, problems = {c: {} for c in COLLECTIONS}, [], []
    for c in COLLECTIONS:
        for path, leaf in model[c].items():
            have = stored[c].get(path)
            if any(p.search(path) for p in patterns):
                fresh_paths.append(f"{c}/{path}")
            elif have is None or tuple(have.shape) != tuple(leaf.shape):
                shape = "absent" if have is None else tuple(have.shape)
                problems.append(f"{c}/{path}: checkpoint {shape}, model {tuple(leaf.shape)}")
            else:
                wanted[c][path] = jax.ShapeDtypeStruct(leaf.shape, leaf.dtype)
    if problems:
        raise ConfigError(
            f"init_from {source!r}: the checkpoint does not fit the model:\n  " + "\n  ".join(problems)
            + "\nto start these from a fresh initialization (e.g. a new head), set init_fresh, "
            "e.g. --config.init_fresh=\"['head']\""
        )
    prefix = None
    if not ema and _schedule_free(source_config.get("optimizer"), state.params):  # (the average is of x already)
        prefix = _schedule_free_prefix(leaves_by_path(saved.get("opt_state") or {}))
        if prefix is None:  # (a state laid out as no optimizer of this version lays it out)
            warnings.warn(f"init_from {source!r}: that run's optimizer is schedule-free, but its checkpoint's "
                          f"optimizer state holds no single b1 and z to compute x from; y, the point its "
                          f"gradients were taken at, is loaded", stacklevel=2)
        else:
            wanted["opt_state"] = {f"{prefix}b1": jax.ShapeDtypeStruct((), np.float32),
                                   **{f"{prefix}z/{path}": leaf for path, leaf in wanted["params"].items()}}
    if ema:  # the same paths under the checkpoint's "ema"
        found = _restore(directory / "checkpoints" / str(step) / "state",
                         {"ema": {f"{c}/{path}": leaf for c in COLLECTIONS for path, leaf in wanted[c].items()}})
        arrays = {c: {path[len(c) + 1:]: value for path, value in found.get("ema", {}).items()
                      if path.startswith(f"{c}/")} for c in COLLECTIONS}
    else:
        arrays = _restore(directory / "checkpoints" / str(step) / "state", wanted)
    if prefix is not None:
        arrays["params"] = _schedule_free_x(arrays.get("params", {}), arrays.pop("opt_state"), prefix)
    collections = {c: _replace(getattr(state, c), arrays.get(c, {})) for c in COLLECTIONS}
    params = collections["params"]
    new_state = state.replace(params=params, batch_stats=collections["batch_stats"],
                              opt_state=optimizer.init(params))
    unused = [f"{c}/{p}" for c in COLLECTIONS for p in stored[c] if p not in model[c]]
    loaded = [f"{c}/{p}" for c in COLLECTIONS for p in wanted[c]]
    return new_state, Pretrained(str(directory), step, tuple(loaded), tuple(fresh_paths), tuple(unused),
                                 source_config, schedule_free=prefix is not None, ema=ema)


def _schedule_free(spec: Any, params: Any) -> bool:
    """Whether the optimizer `spec` (a source run's, as saved) keeps a schedule-free state;
    False where it no longer builds (a plugin gone): nothing to warn of then."""
    try:
        optimizer = registry.build("optimizer", spec)
    except (registry.RegistryError, TypeError, ValueError):
        return False
    return is_schedule_free(jax.eval_shape(optimizer.init, params))


def _schedule_free_prefix(opt_state: dict[str, Any]) -> str | None:
    """Where a schedule-free state lies among a checkpoint's optimizer-state paths: the
    prefix of its ``b1`` and ``z/...`` (``""`` at the top), or None unless exactly one.

    Examples:
        >>> _schedule_free_prefix({"count": 0, "inner_state/b1": 0, "inner_state/z/w": 0})
        'inner_state/'
        >>> _schedule_free_prefix({"count": 0, "mu/w": 0}) is None
        True
    """
    prefixes = [path[:-2] for path in opt_state if path == "b1" or path.endswith("/b1")]
    prefixes = [p for p in prefixes if any(path.startswith(f"{p}z/") for path in opt_state)]
    return prefixes[0] if len(prefixes) == 1 else None


def _schedule_free_x(params: dict[str, Any], opt_state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """x of each of `params` (y, by path) from the checkpoint's b1 and z under `prefix`, by
    `optax.contrib.schedule_free_eval_params` itself."""
    saved = types.SimpleNamespace(b1=np.float32(opt_state[f"{prefix}b1"]),
                                  z={path: opt_state[f"{prefix}z/{path}"] for path in params})
    return {path: np.asarray(x) for path, x in optax.contrib.schedule_free_eval_params(saved, params).items()}


def _open(directory: pathlib.Path, source: str) -> Checkpoints:
    if not (directory / "checkpoints").is_dir():
        raise ConfigError(
            f"init_from {source!r}: {directory} holds no checkpoints (expected {directory}/checkpoints/<step>/, "
            f"as `tricks train --workdir {directory}` writes)"
        )
    return Checkpoints(directory, read_only=True)


def _check_patterns(patterns: list[re.Pattern], model: dict[str, dict[str, Any]]) -> None:
    paths = [p for c in COLLECTIONS for p in model[c]]
    for pattern in patterns:
        if not any(pattern.search(p) for p in paths):
            raise ConfigError(
                f"init_fresh: regex {pattern.pattern!r} matches no path of the model; paths: {', '.join(paths)}"
            )


def _restore(directory: pathlib.Path, wanted: dict[str, dict[str, jax.ShapeDtypeStruct]]) -> dict[str, Any]:
    """Only the `wanted` arrays of a saved state (numpy, on the host): a partial restore."""
    target = {c: traverse_util.unflatten_dict(paths, sep="/") for c, paths in wanted.items() if paths}
    if not target:
        return {}
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), target)
    with ocp.PyTreeCheckpointer() as checkpointer:
        restored = checkpointer.restore(
            directory, args=ocp.args.PyTreeRestore(item=target, restore_args=restore_args, partial_restore=True)
        )
    return {c: leaves_by_path(tree) for c, tree in restored.items()}


def _replace(tree: Any, arrays: dict[str, Any]) -> Any:
    """`tree` with the leaves at the paths of `arrays` replaced (dtype kept)."""
    return jax.tree_util.tree_map_with_path(
        lambda p, x: np.asarray(arrays[path_name(p)], x.dtype) if path_name(p) in arrays else x, tree
    )
