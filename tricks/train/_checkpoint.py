"""Orbax checkpoints of the train state under ``WORKDIR/checkpoints/<step>/``.

Each checkpoint holds the state (arrays only: saved and restored without pickling) and
a JSON ``meta`` item (the config, the code version, the data position). Saves are
asynchronous; `wait` blocks until they are on disk.
"""

from __future__ import annotations

import pathlib
import shutil
import time
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import AnyPreservationPolicy, CustomSteps, LatestN

from tricks.optimizers import leaves_by_path


class Checkpoints:
    """Saves and restores train states in a workdir.

    Args:
        workdir: the run's folder; checkpoints go to ``workdir/checkpoints``.
        keep: how many recent checkpoints to keep (older ones are deleted).
        keep_steps: steps whose checkpoints are never deleted (snapshots).
        read_only: only read (e.g. to evaluate a run that another process is writing).

    Examples:
        >>> import tempfile, jax.numpy as jnp
        >>> ckpts = Checkpoints(tempfile.mkdtemp(), keep=2)
        >>> ckpts.save(5, {"w": jnp.ones(3)}, {"note": "hi"})
        >>> ckpts.wait()
        >>> ckpts.steps()
        [5]
        >>> state, meta = ckpts.restore(5, {"w": jnp.zeros(3)})
        >>> float(state["w"].sum()), meta["note"]
        (3.0, 'hi')
        >>> ckpts.close()
    """

    def __init__(self, workdir: str | pathlib.Path, keep: int | None = 3, keep_steps: Iterable[int] = (),
                 read_only: bool = False):
        self.directory = pathlib.Path(workdir).absolute() / "checkpoints"
        policy = None
        if not read_only:
            policy = AnyPreservationPolicy([LatestN(keep), CustomSteps(sorted({int(s) for s in keep_steps}))])
        options = ocp.CheckpointManagerOptions(
            preservation_policy=policy,
            save_interval_steps=0 if read_only else 1,
            create=not read_only,
            read_only=read_only,
            enable_async_checkpointing=not read_only,
        )
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=options,
            item_handlers={"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()},
        )

    def steps(self) -> list[int]:
        """The steps that have a finished checkpoint, ascending."""
        return sorted(self._manager.all_steps())

    def latest(self) -> int | None:
        """The newest finished checkpoint's step, or None."""
        return self._manager.latest_step()

    def save(self, step: int, state: Any, meta: Mapping[str, Any]) -> None:
        """Starts saving `state` and `meta` at `step` (asynchronously)."""
        self._manager.save(
            int(step),
            args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(dict(meta))),
            force=True,
        )

    def restore(self, step: int, target: Any) -> tuple[Any, dict]:
        """The state saved at `step`, shaped and sharded like `target`, and its meta."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        restored = self._manager.restore(
            int(step), args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
        )
        return restored.state, restored.meta

    def meta(self, step: int) -> dict:
        """Only the JSON meta of the checkpoint at `step`."""
        return self._manager.restore(int(step), args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

    def item_metadata(self, step: int) -> Any:
        """The saved state's tree at `step`, with array metadata (shape, dtype) as leaves."""
        return self._manager.item_metadata(int(step))["state"].tree

    def snapshots(self) -> list[int]:
        """The steps of the finished checkpoints saved as snapshots (``meta["snapshot"]``)."""
        return [step for step in self.steps() if self.meta(step).get("snapshot", False)]

    def mismatches(self, step: int, target: Any) -> list[str]:
        """How the arrays saved at `step` differ from `target`'s (paths and shapes); [] if alike.

        Parameters and batch statistics are compared path by path; the rest of the state
        by its leaves' count and shapes.
        """
        saved = self.item_metadata(step)
        lines = []
        for part in ("params", "batch_stats"):
            have, want = _shapes(saved.get(part) or {}), _shapes(getattr(target, part, None) or {})
            for path in sorted(have.keys() | want.keys()):
                if have.get(path) != want.get(path):
                    lines.append(f"{part}/{path}: checkpoint {_shape_text(have.get(path))}, "
                                 f"model {_shape_text(want.get(path))}")
        if not lines:
            have = sorted(tuple(m.shape) for m in jax.tree.leaves(saved))  # orders may differ
            want = sorted(tuple(x.shape) for x in jax.tree.leaves(target))
            if have != want:
                lines.append(f"the optimizer state differs: {len(have)} arrays saved, {len(want)} expected")
        return lines

    def restore_latest_valid(self, target: Any) -> tuple[int, Any, dict] | None:
        """The newest checkpoint that restores, as (step, state, meta); None if there is none.

        A checkpoint that cannot be read (a truncated or missing file) is moved aside to
        ``checkpoints_corrupt/<step>-<time>`` with a warning naming its step, so it is never
        mistaken for a good one and never counted among the ones to keep.

        Raises:
            ValueError: a readable checkpoint saved by a different model (mismatching
                paths and shapes listed).
        """
        for step in reversed(self.steps()):
            try:
                lines = self.mismatches(step, target)
            except Exception as exc:  # unreadable metadata: a damaged checkpoint
                self._set_aside(step, exc)
                continue
            if lines:
                raise ValueError(f"checkpoint {self.directory / str(step)} was saved by a different model:\n  "
                                 + "\n  ".join(lines))
            try:
                state, meta = self.restore(step, target)
            except Exception as exc:  # truncated or missing array files
                self._set_aside(step, exc)
                continue
            return step, state, meta
        return None

    def _set_aside(self, step: int, error: Exception) -> None:
        aside = self.directory.parent / "checkpoints_corrupt" / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.directory / str(step)), str(aside))
        self._manager.reload()
        warnings.warn(
            f"checkpoint at step {step} is damaged and was moved to {aside} "
            f"({type(error).__name__}: {str(error)[:200]}); resuming from an earlier one",
            RuntimeWarning,
            stacklevel=3,
        )

    def wait(self) -> None:
        """Blocks until every started save is on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Waits for pending saves and releases the manager."""
        self._manager.close()


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    return {path: tuple(leaf.shape) for path, leaf in leaves_by_path(tree).items()}


def _shape_text(shape: tuple[int, ...] | None) -> str:
    return "absent" if shape is None else str(shape)
