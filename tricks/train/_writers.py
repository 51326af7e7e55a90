"""Where metrics go: console progress, JSON lines, TensorBoard; one interface for all."""

from __future__ import annotations

import json
import math
import pathlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


class Writer:
    """Receives scalars at log and eval steps. Subclasses override what they need."""

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        """Records `scalars` (names like ``train/loss``, ``eval/accuracy``) at `step`."""

    def histograms(self, step: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Records value distributions (e.g. per-layer gradients) at `step`."""

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
        if self._last is not None and self._last[0] == int(step):
            record = self._last[1] | values
            self._file.truncate(self._offset)  # the line of this step, rewritten with both
        else:
            record = {"step": int(step)} | ({"wall_time_s": round(self._clock(), 6)} if self._clock else {}) | values
            self._offset = self._file.tell()
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self._last = (int(step), record)

    def close(self) -> None:
        self._file.close()


class TensorBoardWriter(Writer):
    """TensorBoard event files in ``WORKDIR/tensorboard`` (tensorboardX; no TensorFlow).

    Each `write` and each `histograms` is one event holding all its values: tensorboardX's
    ``add_scalar`` writes an event per scalar, 1.45 ms for the 14 training scalars of a
    log step on 2 CPU cores, against 0.07 ms as one event (that time is taken from the
    training step's computation, which shares the cores). Histograms use TensorBoard's
    default buckets, counted by `histogram` (tensorboardX's own ``add_histogram`` took
    17-29 ms for the default MLP's 85k gradients). The ``crc32c`` dependency gives
    tensorboardX its record checksums in C: with its pure-Python fallback, writing those
    three histograms took 10.5 ms, with it 2.7 ms.

    Examples:
        >>> import tempfile
        >>> writer = TensorBoardWriter(tempfile.mkdtemp())
        >>> writer.write(10, {"train/loss": 0.5, "train/accuracy": 0.75})
        >>> writer.histograms(10, {"train/grads/Dense_0": np.array([-0.1, 0.0, 0.2])})
        >>> writer.close()
    """

    def __init__(self, workdir: str | pathlib.Path):
        from tensorboardX import FileWriter

        self._writer = FileWriter(str(pathlib.Path(workdir) / "tensorboard"), max_queue=1000)

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        from tensorboardX.proto.summary_pb2 import Summary

        values = [Summary.Value(tag=name, simple_value=float(value)) for name, value in scalars.items()
                  if not isinstance(value, list)]  # (a confusion matrix stays in metrics.jsonl)
        if values:  # NaN and inf are kept
            self._writer.add_summary(Summary(value=values), int(step))

    def describe(self, config: Mapping[str, Any], metric_tags: Sequence[str]) -> None:
        """The config as text (``config``) and as hyperparameters, with `metric_tags` as the
        HParams tab's metrics, so the runs of a sweep line up there."""
        from tensorboardX.summary import hparams, text

        flat = {k: v if isinstance(v, (bool, int, float, str)) else json.dumps(v)
                for k, v in _flatten(config).items()}
        self._writer.add_summary(text("config", "```\n" + json.dumps(config, indent=2) + "\n```"), 0)
        for summary in hparams(flat, {tag: 0.0 for tag in metric_tags}):
            self._writer.add_summary(summary, 0)

    def histograms(self, step: int, arrays: Mapping[str, np.ndarray]) -> None:
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.summary import histogram_raw

        values = []
        for name, array in arrays.items():
            found = histogram(array, TENSORBOARD_BUCKETS)
            if found is not None:
                values.extend(histogram_raw(name, **found).value)
        if values:
            self._writer.add_summary(Summary(value=values), int(step))

    def close(self) -> None:
        self._writer.close()


def _tensorboard_buckets() -> np.ndarray:
    positive = 1e-12 * 1.1 ** np.arange(np.ceil(np.log(1e32) / np.log(1.1)))
    positive = positive[positive < 1e20]
    return np.concatenate([-positive[::-1], [0.0], positive])


TENSORBOARD_BUCKETS = _tensorboard_buckets()
"""TensorBoard's default histogram bucket edges: 0 and +-1e-12 * 1.1**k below 1e20."""


def histogram(values: np.ndarray, edges: np.ndarray) -> dict | None:
    """The finite `values` counted into buckets [edges[i], edges[i+1]), as TensorBoard stores them.

    The counts are `np.histogram`'s (the last bucket closed), found from one float32 sort;
    only the span of non-empty buckets is kept, each bucket named by its upper limit, with
    one empty bucket in front (what tensorboardX's ``add_histogram`` writes). NaN and inf
    have no bucket and are left out (the scalars still show them).

    Returns:
        The keyword arguments of tensorboardX's ``add_histogram_raw`` (min, max, num, sum,
        sum_squares, bucket_limits, bucket_counts), or None when no value is finite and
        inside the edges.

    Examples:
        >>> found = histogram(np.array([0.5, 1.5, 1.5, np.nan]), np.array([0.0, 1.0, 2.0, 3.0]))
        >>> found["bucket_limits"], found["bucket_counts"], found["num"]
        ([0.0, 1.0, 2.0], [0, 1, 2], 3)
    """
    values = np.sort(np.asarray(values, np.float32).ravel())
    values = values[np.isfinite(values)]
    cum = np.concatenate([np.searchsorted(values, edges[:-1], "left"), np.searchsorted(values, edges[-1:], "right")])
    counts = np.diff(cum)
    if not values.size or not counts.any():
        return None
    nonempty = np.flatnonzero(counts)
    first, last = int(nonempty[0]), int(nonempty[-1]) + 1
    counts = np.concatenate([[0], counts[:last]]) if first == 0 else counts[first - 1 : last]
    wide = values.astype(np.float64)
    return {
        "min": float(values[0]),
        "max": float(values[-1]),
        "num": int(values.size),
        "sum": float(wide.sum()),
        "sum_squares": float(np.square(wide).sum()),  # not np.dot: BLAS threads cost ms here
        "bucket_limits": edges[first : last + 1].tolist(),
        "bucket_counts": counts.tolist(),
    }


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

    def histograms(self, step: int, arrays: Mapping[str, np.ndarray]) -> None:
        for w in self._writers:
            w.histograms(step, arrays)

    def describe(self, config: Mapping[str, Any], metric_tags: Sequence[str]) -> None:
        for w in self._writers:
            w.describe(config, metric_tags)

    def close(self) -> None:
        for w in self._writers:
            w.close()


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
