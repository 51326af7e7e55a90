"""Orbax checkpoints of the train state under ``WORKDIR/checkpoints/<step>/``.

Each checkpoint holds the state (arrays only: saved and restored without pickling) and
a JSON ``meta`` item (the config, the code version, the data position). Saves are
asynchronous; `wait` blocks until they are on disk.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import AnyPreservationPolicy, CustomSteps, LatestN


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
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))

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

    def snapshots(self) -> list[int]:
        """The steps of the finished checkpoints saved as snapshots (``meta["snapshot"]``)."""
        return [step for step in self.steps() if self.meta(step).get("snapshot", False)]

    def wait(self) -> None:
        """Blocks until every started save is on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Waits for pending saves and releases the manager."""
        self._manager.close()
