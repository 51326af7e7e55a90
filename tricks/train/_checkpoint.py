"""Orbax checkpoints of the train state under ``WORKDIR/checkpoints/<step>/``.

Each checkpoint holds the state (arrays only: saved and restored without pickling), a
JSON ``meta`` item (the config, the code version, the data position) and a JSON
``checksums`` item: the CRC32C of every array's bytes and of the meta, verified on every
restore. Orbax's files check no stored value (a flipped bit in an array file was read
back silently), so a checkpoint that differs from its checksums is damaged, as one with a
missing or truncated file is. The arrays are checksummed on the host, from this process's
copy of the replicated state. Measured on the default digits run (a state of 1.0 MB in 25
arrays, 2 CPU cores): the checksums take 0.25 ms at each save and each restore; the
blocking part of a save grows from 9 to 11 ms (the third item), while a whole save (about
60 ms) and a restore (about 28 ms) do not change measurably. Checkpoints saved before
checksums were stored are restored unverified.

Saves are asynchronous; `wait` blocks until they are on disk, and `check` says at once
whether the one in progress failed. A save that fails (a full disk) is raised as a one-line
`WorkdirError` naming the checkpoint left whole.
"""

from __future__ import annotations

import json
import logging
import pathlib
import re
import shutil
import sys
import time
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import crc32c
import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import AnyPreservationPolicy, CustomSteps, LatestN

from tricks.optimizers import leaves_by_path
from tricks.train._workdir import WorkdirError, write_error


class DamagedCheckpointError(ValueError):
    """A checkpoint that cannot be read whole, or whose arrays or meta differ from their
    checksums; the message is one line naming its step and the cause."""


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
            item_handlers={"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler(),
                           "checksums": ocp.JsonCheckpointHandler()},
        )
        self.read_only = read_only
        self._saving: int | None = None  # the step of the save in progress

    def steps(self) -> list[int]:
        """The steps that have a finished checkpoint, ascending."""
        return sorted(self._manager.all_steps())

    def latest(self) -> int | None:
        """The newest finished checkpoint's step, or None."""
        return self._manager.latest_step()

    def save(self, step: int, state: Any, meta: Mapping[str, Any]) -> None:
        """Starts saving `state` and `meta` at `step` (asynchronously), with their
        checksums, once the save before it is on disk.

        Raises:
            WorkdirError: the save before it, or the start of this one, failed.
        """
        self.wait()
        meta = json.loads(json.dumps(dict(meta)))  # as it will be read back
        checksums = {"state": array_checksums(state), "meta": _meta_checksum(meta)}
        try:
            self._manager.save(
                int(step),
                args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta),
                                        checksums=ocp.args.JsonSave(checksums)),
                force=True,
            )
        except Exception as exc:  # a full disk, as any other failure to write
            raise self._failed(int(step), exc) from exc
        self._saving = int(step)

    def check(self) -> None:
        """Returns at once, unless the save in progress has ended in a failure.

        Raises:
            WorkdirError: the save failed (OSError, or TensorStore's error, from Orbax's
                threads); the message names its step and the newest checkpoint left whole.

        Examples:
            >>> import tempfile, jax.numpy as jnp
            >>> ckpts = Checkpoints(tempfile.mkdtemp())
            >>> ckpts.save(5, {"w": jnp.ones(3)}, {})
            >>> ckpts.check()  # still saving, or saved
            >>> ckpts.close()
        """
        if self._saving is not None and not self._manager.is_saving_in_progress():
            self.wait()

    def restore(self, step: int, target: Any) -> tuple[Any, dict]:
        """The state saved at `step`, shaped and sharded like `target`, and its meta, both
        verified against their checksums.

        Raises:
            DamagedCheckpointError: the checkpoint cannot be read whole, or differs from its
                checksums.
            FileNotFoundError: there is no checkpoint at `step` (or it was deleted while read).
        """
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        restored = self._read(step, state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
        return restored.state, restored.meta

    def meta(self, step: int) -> dict:
        """Only the JSON meta of the checkpoint at `step`, verified against its checksum.

        Raises:
            DamagedCheckpointError, FileNotFoundError: as `restore`.
        """
        return self._read(step, meta=ocp.args.JsonRestore()).meta

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
        """The newest checkpoint that restores whole, as (step, state, meta); None if there is none.

        A damaged checkpoint (`DamagedCheckpointError`: a missing or truncated file, or
        an array or meta that differs from its checksum) is set aside with a one-line
        warning on stderr naming its step, the cause and what became of it: it is moved to
        ``checkpoints_corrupt/<step>-<time>``, so it is never mistaken for a good one nor
        counted among the ones to keep, or, when `read_only`, left where it is. When every
        checkpoint was damaged, a last line says that training starts from step 0. The
        steps are listed afresh before each try, so a checkpoint deleted while it is read
        (by the run that writes it, still training) gives way to the newest one left.

        Raises:
            ValueError: a readable checkpoint saved by a different model (mismatching
                paths and shapes listed).
        """
        tried, damaged = set(), 0
        while True:
            self._manager.reload()
            left = [step for step in self.steps() if step not in tried]
            if not left:
                break
            step = left[-1]
            tried.add(step)
            try:
                self._check_items(step, ("state", "meta"))
                lines = self._attempt(step, lambda: self.mismatches(step, target))
                if lines:
                    raise ValueError(f"checkpoint {self.directory / str(step)} was saved by a different "
                                     "model:\n  " + "\n  ".join(lines))
                state, meta = self.restore(step, target)
            except DamagedCheckpointError as exc:
                self._set_aside(step, exc)
                damaged += 1
            except FileNotFoundError as exc:  # deleted by the run that writes it
                print(f"note: {exc}; trying the newest one left", file=sys.stderr)
            else:
                return step, state, meta
        if damaged and not self.read_only:
            print(f"warning: no usable checkpoint in {self.directory} ({damaged} set aside in "
                  f"{self._corrupt}): starting from step 0", file=sys.stderr)
        return None

    @property
    def _corrupt(self) -> pathlib.Path:
        return self.directory.parent / "checkpoints_corrupt"

    def _set_aside(self, step: int, error: DamagedCheckpointError) -> None:
        if self.read_only:
            print(f"warning: {error}: skipped, left in {self.directory / str(step)}", file=sys.stderr)
            return
        aside = self._corrupt / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.directory / str(step)), str(aside))
        print(f"warning: {error}: moved to {aside}", file=sys.stderr)

    def _read(self, step: int, **items: Any) -> Any:
        """The `items` of the checkpoint at `step` (Orbax `Composite` arguments), verified
        against the checkpoint's ``checksums`` item when it has one."""
        self._check_items(step, items)
        checked = (self.directory / str(step) / "checksums").is_dir()
        args = ocp.args.Composite(**items, **({"checksums": ocp.args.JsonRestore()} if checked else {}))
        restored = self._attempt(step, lambda: self._manager.restore(int(step), args=args))
        if checked:
            problem = _differences(restored.checksums, restored.get("state"), restored.get("meta"))
            if problem:
                raise DamagedCheckpointError(f"checkpoint at step {step} is damaged ({problem})")
        return restored

    def _check_items(self, step: int, names: Iterable[str]) -> None:
        folder = self.directory / str(step)
        if not folder.is_dir():
            raise FileNotFoundError(f"no checkpoint at step {step} in {self.directory}")
        missing = [name for name in names if not (folder / name).is_dir()]
        if missing:
            raise DamagedCheckpointError(f"checkpoint at step {step} is damaged (no {' or '.join(missing)} "
                                         "saved)")

    def _attempt(self, step: int, read: Callable[[], Any]) -> Any:
        """What `read` returns; its failure to read the checkpoint at `step` as a one-line
        error: `FileNotFoundError` when the checkpoint's folder is gone, else
        `DamagedCheckpointError`."""
        _drop_leftovers()
        try:
            return read()
        except Exception as exc:  # Orbax's and TensorStore's errors for a file missing, cut short, garbled
            message = _first_line(exc)
        if not (self.directory / str(step)).exists():
            raise FileNotFoundError(f"checkpoint at step {step} was deleted while it was read")
        raise DamagedCheckpointError(f"checkpoint at step {step} is damaged ({message})")

    def wait(self) -> None:
        """Blocks until every started save is on disk.

        Raises:
            WorkdirError: the save in progress failed (see `check`).
        """
        step, self._saving = self._saving, None
        try:
            self._manager.wait_until_finished()
        except Exception as exc:  # raised once: Orbax forgets the failure it raised
            raise self._failed(step, exc) from exc

    def close(self) -> None:
        """Waits for pending saves and releases the manager.

        Raises:
            WorkdirError: the save in progress failed (see `check`).
        """
        try:
            self.wait()
        finally:
            self._manager.close()

    def _failed(self, step: int | None, error: Exception) -> WorkdirError:
        good = [s for s in self.steps() if step is None or s < step]
        return write_error(f"the checkpoint of step {step} to {self.directory / str(step)}", error,
                           self.directory / str(good[-1]) if good else None)


def array_checksums(tree: Any) -> dict[str, int]:
    """The CRC32C of each array's bytes in `tree`, by path, computed on the host.

    A replicated array that this process does not address whole (several hosts) is
    read from this process's copy.

    Examples:
        >>> import jax.numpy as jnp
        >>> array_checksums({"w": jnp.zeros(2), "b": jnp.ones((), jnp.int32)})
        {'b': 2502091135, 'w': 2351477386}
    """
    leaves = leaves_by_path(tree)
    arrays = jax.device_get([x if not isinstance(x, jax.Array) or x.is_fully_addressable
                             else x.addressable_shards[0].data for x in leaves.values()])
    return {path: crc32c.crc32c(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
            for path, a in zip(leaves, arrays)}


def _meta_checksum(meta: Mapping[str, Any]) -> int:
    return crc32c.crc32c(json.dumps(meta, sort_keys=True).encode())


def _differences(checksums: Any, state: Any, meta: Any) -> str | None:
    """What of the restored `state` and `meta` (None: not restored) differs from `checksums`."""
    if not isinstance(checksums, dict):
        return "its checksums are unreadable"
    if meta is not None and checksums.get("meta") != _meta_checksum(meta):
        return "its meta differs from its checksum"
    if state is not None:
        saved, found = checksums.get("state"), array_checksums(state)
        if not isinstance(saved, dict):
            return "its checksums are unreadable"
        for path in sorted(found.keys() | saved.keys()):
            if found.get(path) != saved.get(path):
                return f"array {path} differs from its checksum"
    return None


def _first_line(error: BaseException) -> str:
    """The root cause of `error` as one short line: its first line, without file paths
    (the checkpoint is named already), after its type unless it starts with TensorStore's
    status code.

    Examples:
        >>> try:
        ...     raise RuntimeError("reading failed") from ValueError(
        ...         'OUT_OF_RANGE: Error reading "w/0" in OCDBT database at local file "/c/5/state/": '
        ...         'Requested byte range [0, 8) is not valid for value of size 4\\n  more detail')
        ... except RuntimeError as exc:
        ...     _first_line(exc)
        'OUT_OF_RANGE: Error reading "w/0": Requested byte range [0, 8) is not valid for value of size 4'
    """
    while error.__cause__ is not None:
        error = error.__cause__
    text = next(iter(str(error).strip().splitlines()), "")
    text = re.sub(r' (?:in OCDBT database at |of )?local file "[^"]*"', "", text)
    if not re.match(r"[A-Z_]+: ", text):  # TensorStore's status codes say enough
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= 160 else f"{text[:157]}..."


def _drop_leftovers() -> None:
    """From now on, drops the reports of what a failed Orbax restore leaves behind.

    Orbax reads the arrays in concurrent tasks and, on the first error, closes its event
    loop with the other tasks still waiting for TensorStore. When their reads end, each
    reports on stderr, after the error and for as long as their reads take: a traceback
    of TensorStore's callback into the closed loop, then an "Exception ignored in
    coroutine" traceback with TensorStore's spec dump as the task is collected, or
    asyncio's "Future exception was never retrieved". The error itself is reported once, as
    `DamagedCheckpointError`; these echoes of it are dropped, and nothing else.
    """
    if not isinstance(sys.unraisablehook, _DropLeftovers):
        sys.unraisablehook = _DropLeftovers(sys.unraisablehook)
    logging.getLogger("asyncio").addFilter(_not_a_leftover_task)  # (added once)


class _DropLeftovers:
    """An unraisable-error hook that drops the leftovers of Orbax's reads and passes the
    rest to the hook it replaced."""

    def __init__(self, hook: Callable[[Any], None]):
        self.hook = hook

    def __call__(self, unraisable: Any) -> None:
        if isinstance(unraisable.object, types.CoroutineType):  # one of Orbax's read tasks, collected
            leftover = "/orbax/" in unraisable.object.cr_code.co_filename
        else:  # TensorStore's callback into the event loop that Orbax closed
            frame = unraisable.exc_traceback.tb_frame if unraisable.exc_traceback else None
            leftover = isinstance(unraisable.exc_value, RuntimeError) and frame is not None and (
                frame.f_code.co_name == "call_soon_threadsafe")
        if not leftover:
            self.hook(unraisable)


def _not_a_leftover_task(record: logging.LogRecord) -> bool:
    """False for asyncio's report of one of Orbax's reading tasks (or their futures)
    collected unfinished or with its error unread."""
    message = record.getMessage()
    return not (("was never retrieved" in message or "destroyed but it is pending" in message)
                and any(mark in message for mark in ("/orbax/", "TensorStore", "OCDBT")))


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    return {path: tuple(leaf.shape) for path, leaf in leaves_by_path(tree).items()}


def _shape_text(shape: tuple[int, ...] | None) -> str:
    return "absent" if shape is None else str(shape)
