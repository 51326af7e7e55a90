"""Where metrics go: console progress, JSON lines, TensorBoard; one interface for all."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import math
import os
import pathlib
import socket
import struct
import sys
import time
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tricks.metrics import tensorboard_histogram


class Writer:
    """Receives scalars at log and eval steps. Subclasses override what they need."""

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        """Records `scalars` (names like ``train/loss``, ``eval/accuracy``) at `step`."""

    def histograms(self, step: int, histograms: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Records value distributions (e.g. per-layer gradients) at `step`, each counted
        into `tricks.metrics.TENSORBOARD_BUCKETS` (`tricks.metrics.histogram_counts`)."""

    def describe(self, config: Mapping[str, Any], metric_tags: Sequence[str]) -> None:
        """Records the run's config (once, at its start) and the tags that measure it."""

    def close(self) -> None:
        """Flushes and releases files."""


class JsonlWriter(Writer):
    """Appends one JSON object per step to ``WORKDIR/metrics.jsonl``.

    Records of the same step (training's, then evaluation's) are one object: a write at
    the step just written rewrites that line with both, so a line is on disk as soon as
    it is written (nothing is lost to a kill) and ``pandas.read_json(path, lines=True)``
    gets one row per step.

    Args:
        workdir: the run's folder.
        clock: if given, each record gets ``wall_time_s``, the run's wall time when it
            was written (the training loop passes its `Stopwatch`).

    Examples:
        >>> import tempfile, pathlib
        >>> workdir = pathlib.Path(tempfile.mkdtemp())
        >>> writer = JsonlWriter(workdir, clock=lambda: 1.25)
        >>> writer.write(10, {"train/loss": np.float32(0.5)})
        >>> writer.write(10, {"eval/test/accuracy": 0.75})
        >>> writer.close()
        >>> (workdir / "metrics.jsonl").read_text().strip()
        '{"step": 10, "wall_time_s": 1.25, "train/loss": 0.5, "eval/test/accuracy": 0.75}'
    """

    def __init__(self, workdir: str | pathlib.Path, clock: Callable[[], float] | None = None):
        self._file = open(pathlib.Path(workdir) / "metrics.jsonl", "a", encoding="utf-8")
        self._clock = clock
        self._last: tuple[int, dict] | None = None  # the last line's step and record, and where it starts
        self._offset = self._file.tell()

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        values = {k: _number(v) for k, v in scalars.items()}
        try:
            if self._last is not None and self._last[0] == int(step):
                record = self._last[1] | values
                self._file.truncate(self._offset)  # the line of this step, rewritten with both
            else:
                record = {"step": int(step)} | ({"wall_time_s": round(self._clock(), 6)} if self._clock else {}) | values
                self._offset = self._file.tell()
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        except OSError as exc:
            raise _unwritten(self._file, exc) from exc
        self._last = (int(step), record)

    def close(self) -> None:
        self._file.close()


@functools.cache
def tensorboardx_parts() -> types.SimpleNamespace:
    """The parts of tensorboardX the writer uses (``Event``, ``Summary``, ``masked_crc32c``,
    ``hparams``, ``text``, ``histogram_raw``), loaded without running its package ``__init__``.

    That ``__init__`` imports ``tensorboardX.writer``, which imports torch whenever torch is
    installed: 1.13 s of every run's start on 2 CPU cores, against 0.14 s for these modules.
    While they load, a bare package module stands in for ``tensorboardX`` in ``sys.modules``;
    it is removed afterwards, so a later ``import tensorboardX`` runs the real ``__init__``
    (and reuses the submodules loaded here). If tensorboardX is already imported, its
    modules are used as they are.

    Examples:
        >>> tensorboardx_parts().Summary.__name__
        'Summary'
    """
    stand_in = None
    if "tensorboardX" not in sys.modules:
        spec = importlib.util.find_spec("tensorboardX")
        stand_in = types.ModuleType("tensorboardX")
        stand_in.__path__, stand_in.__spec__ = list(spec.submodule_search_locations), spec
        sys.modules["tensorboardX"] = stand_in
    try:
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.record_writer import masked_crc32c
        from tensorboardX.summary import histogram_raw, hparams, text
    finally:
        if stand_in is not None and sys.modules.get("tensorboardX") is stand_in:
            del sys.modules["tensorboardX"]
    return types.SimpleNamespace(Event=Event, Summary=Summary, masked_crc32c=masked_crc32c,
                                 histogram_raw=histogram_raw, hparams=hparams, text=text)


class TensorBoardWriter(Writer):
    """TensorBoard event files in ``WORKDIR/tensorboard`` (tensorboardX; no TensorFlow).

    Each `write` and each `histograms` is one event holding all its values: tensorboardX's
    ``add_scalar`` writes an event per scalar, 1.45 ms for the 14 training scalars of a
    log step on 2 CPU cores, against 0.07 ms as one event (that time is taken from the
    training step's computation, which shares the cores). Histograms arrive counted
    in TensorBoard's default buckets (on the device, `tricks.metrics.histogram_counts`;
    tensorboardX's own ``add_histogram`` took 17-29 ms for the default MLP's 85k
    gradients) and are written as tensorboardX's ``add_histogram_raw`` would. The
    ``crc32c`` dependency gives tensorboardX its record checksums in C: with its
    pure-Python fallback, writing three histograms took 10.5 ms, with it 2.7 ms.

    tensorboardX's parts come from `tensorboardx_parts`, without its package ``__init__``.

    Events are written and flushed at once, as ``metrics.jsonl``'s lines are, to a file of
    this process's own (tensorboardX's ``FileWriter`` queues them for a thread that
    flushes every two minutes: a killed run lost the events of steps its checkpoints had
    already passed; and it names files by the second, so a run resumed within the same
    second would overwrite the file it had written).

    Examples:
        >>> import tempfile
        >>> writer = TensorBoardWriter(tempfile.mkdtemp())
        >>> writer.write(10, {"train/loss": 0.5, "train/accuracy": 0.75})
        >>> from tricks.metrics import histogram_counts
        >>> writer.histograms(10, {"train/grads/Dense_0": histogram_counts(np.array([-0.1, 0.0, 0.2]))})
        >>> writer.close()
    """

    def __init__(self, workdir: str | pathlib.Path):
        folder = pathlib.Path(workdir) / "tensorboard"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
        self._file = open(folder / name, "ab")  # noqa: SIM115  (closed by `close`)
        self._event(file_version="brain.Event:2")

    def _event(self, **fields) -> None:
        """One event record (TFRecord framing), flushed: a kill loses nothing written."""
        tbx = tensorboardx_parts()
        Event, masked_crc32c = tbx.Event, tbx.masked_crc32c

        data = Event(wall_time=time.time(), **fields).SerializeToString()
        header = struct.pack("<Q", len(data))
        try:
            self._file.write(header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data)))
            self._file.flush()
        except OSError as exc:
            raise _unwritten(self._file, exc) from exc

    def _add(self, summary, step: int) -> None:
        self._event(step=int(step), summary=summary)

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        Summary = tensorboardx_parts().Summary

        values = [Summary.Value(tag=name, simple_value=float(value)) for name, value in scalars.items()
                  if not isinstance(value, list)]  # (a confusion matrix stays in metrics.jsonl)
        if values:  # NaN and inf are kept
            self._add(Summary(value=values), step)

    def describe(self, config: Mapping[str, Any], metric_tags: Sequence[str]) -> None:
        """The config as text (``config``) and as hyperparameters, with `metric_tags` as the
        HParams tab's metrics, so the runs of a sweep line up there."""
        hparams, text = tensorboardx_parts().hparams, tensorboardx_parts().text

        flat = {k: v if isinstance(v, (bool, int, float, str)) else json.dumps(v)
                for k, v in _flatten(config).items()}
        self._add(text("config", "```\n" + json.dumps(config, indent=2) + "\n```"), 0)
        for summary in hparams(flat, {tag: 0.0 for tag in metric_tags}):
            self._add(summary, 0)

    def histograms(self, step: int, histograms: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        Summary, histogram_raw = tensorboardx_parts().Summary, tensorboardx_parts().histogram_raw

        values = []
        for name, counted in histograms.items():
            found = tensorboard_histogram(counted)
            if found is not None:
                values.extend(histogram_raw(name, **found).value)
        if values:
            self._add(Summary(value=values), step)

    def close(self) -> None:
        self._file.close()


class ConsoleWriter(Writer):
    """A progress bar with steps/s, loss, learning rate and ETA; eval results as lines."""

    def __init__(self, total_steps: int, start_step: int = 0, enabled: bool = True):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total_steps, initial=start_step, disable=not enabled, unit="step",
                         dynamic_ncols=True, smoothing=0.1)
        self._step, self._enabled = start_step, enabled

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        if not self._enabled and not any(k.startswith("eval/") for k in scalars):
            return  # no bar to update (0.36 ms a log step otherwise); evaluations are still printed
        self._bar.update(max(int(step) - self._step, 0))
        self._step = int(step)
        shown = {k.split("/", 1)[1]: v for k, v in scalars.items() if k.startswith("train/") and k.count("/") == 1}
        keys = [k for k in ("loss", "accuracy", "learning_rate") if k in shown]
        if keys:
            self._bar.set_postfix({k: _text(shown[k]) for k in keys}, refresh=False)
        evals = {k: v for k, v in scalars.items() if k.startswith("eval/") and not isinstance(v, list)}
        if evals:
            self._bar.write(f"step {step}: " + ", ".join(f"{k} {_text(v)}" for k, v in sorted(evals.items())))

    def close(self) -> None:
        self._bar.close()


class MultiWriter(Writer):
    """Sends everything to several writers."""

    def __init__(self, writers: Sequence[Writer]):
        self._writers = list(writers)

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        for w in self._writers:
            w.write(step, scalars)

    def histograms(self, step: int, histograms: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        for w in self._writers:
            w.histograms(step, histograms)

    def describe(self, config: Mapping[str, Any], metric_tags: Sequence[str]) -> None:
        for w in self._writers:
            w.describe(config, metric_tags)

    def close(self) -> None:
        for w in self._writers:
            w.close()


def trim_records(workdir: str | pathlib.Path, step: int) -> None:
    """Leaves the run's records as they stood at `step`, the checkpoint a run resumes from.

    ``metrics.jsonl`` keeps its lines of steps up to `step` (a line cut short by a kill
    goes too), and each TensorBoard event file its events up to `step` (the step-0
    config and hyperparameters included), both rewritten whole and then renamed over the
    old file; with `step` 0 (a run starting afresh) nothing is kept. What the run wrote
    past `step` before it stopped is written again as it resumes, so the records equal
    an uninterrupted run's.

    Examples:
        >>> import tempfile
        >>> workdir = pathlib.Path(tempfile.mkdtemp())
        >>> writer = JsonlWriter(workdir)
        >>> for step in (10, 20, 30):
        ...     writer.write(step, {"train/loss": 1.0})
        >>> writer.close()
        >>> trim_records(workdir, 20)
        >>> [json.loads(line)["step"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]
        [10, 20]
    """
    workdir = pathlib.Path(workdir)
    path = workdir / "metrics.jsonl"
    if path.exists():
        kept = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
                kept.append(line + "\n")
        _replace(path, "".join(kept).encode())
    for events in sorted((workdir / "tensorboard").glob("events.out.tfevents.*")):
        records = _tfrecords(events.read_bytes())
        if step <= 0:
            events.unlink()
        else:
            _replace(events, b"".join(raw for raw, event in records if event.step <= step))


def _tfrecords(data: bytes) -> list:
    """The (raw bytes, `Event`) of each whole record of a TensorBoard event file (TFRecord
    framing: length, its checksum, the data, its checksum); a record cut short ends it."""
    from google.protobuf.message import DecodeError
    from tensorboardX.proto.event_pb2 import Event

    found, offset = [], 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        end = offset + 12 + length + 4
        if end > len(data):
            break
        try:
            found.append((data[offset:end], Event.FromString(data[offset + 12 : end - 4])))
        except DecodeError:  # a damaged record ends the file
            break
        offset = end
    return found


def _unwritten(file, error: OSError) -> OSError:
    """`error` (a full disk) with `file`'s path, `file` closed: what it could not write
    is dropped, so closing it again (the loop's ``finally``) raises nothing more."""
    with contextlib.suppress(OSError):
        file.close()
    return OSError(error.errno, error.strerror, file.name)


def _replace(path: pathlib.Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


class Stopwatch:
    """Wall time since start, excluding nothing: the figure reported as ``wall_time_s``."""

    def __init__(self, already: float = 0.0):
        self._start = time.perf_counter() - already

    def elapsed(self) -> float:
        return time.perf_counter() - self._start


def _text(value) -> str:
    number = float(value)
    return f"{number:.4g}" if math.isfinite(number) else str(number)


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested plain sub-dicts as dotted keys; a spec (a dict with ``name``) stays one value.

    Examples:
        >>> _flatten({"a": 1, "distributed": {"auto": False}, "optimizer": {"name": "sgd", "momentum": 0.9}})
        {'a': 1, 'distributed.auto': False, 'optimizer': {'name': 'sgd', 'momentum': 0.9}}
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and "name" not in value:
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _number(value) -> float | list | None:
    """A JSON value: a finite float, None for NaN and inf, a list of them for an array record."""
    if isinstance(value, list):
        return [_number(v) for v in value]
    value = float(value)
    return value if math.isfinite(value) else None
