"""Datasets from NumPy arrays: in memory (`from_arrays`), or from a ``.npz`` file (``arrays``)."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

import registry
from tricks.data._cache import CachedSource
from tricks.data._dataset import Dataset

IN_MEMORY = "in_memory"
"""The dataset name a config records for arrays given in memory (not saved with the run)."""


class ArraySource(CachedSource):
    """A split held as two arrays (features, labels): random access by example, and `arrays`."""

    def __init__(self, features: np.ndarray, labels: np.ndarray):
        super().__init__([], ".", "", feature_key="image", label_key="label", length=len(labels))
        self._arrays = (features, labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        features, labels = self._arrays
        return {"image": features[index], "label": int(labels[index])}


def from_arrays(
    train: tuple[Any, Any],
    test: tuple[Any, Any],
    validation: tuple[Any, Any] | None = None,
    class_names: Sequence[str] | None = None,
    *,
    validation_fraction: float = 0.0,
    scale: float = 1.0,
    name: str = IN_MEMORY,
) -> Dataset:
    """A dataset of arrays in memory, usable as ``config.dataset`` from Python.

    Features are kept as given (their dtype: uint8 pixels stay uint8 on the device) and
    multiplied by `scale` when batches are made (``1 / 255`` for 0-255 pixels). The
    arrays are not saved with a run: to evaluate or load the run afterwards, pass the
    same dataset again (``tricks.train.load(workdir, dataset=...)``); ``tricks eval`` on
    such a workdir says so. For the command line, save them with `numpy.savez` and use
    the ``arrays(path=...)`` dataset.

    Args:
        train: ``(x, y)``: features (N, ...) and integer labels (N,) in [0, classes).
        test: ``(x, y)`` likewise, the same feature shape.
        validation: ``(x, y)``, or None to carve `validation_fraction` of `train`.
        class_names: one name per class; default ``"0", "1", ...`` up to the largest label.
        validation_fraction: with no `validation`, the share of `train` held out.
        scale: what features are multiplied by (after converting them to float32).
        name: the dataset's name (messages, and the record of a run's config).

    Raises:
        ValueError: arrays of the wrong kind, mismatched lengths or feature shapes, labels
            that are not integers in range, an empty train split (the message names the
            split and what was expected).

    Examples:
        >>> x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
        >>> y = (x[:, 0] > 0).astype(np.int64)
        >>> ds = from_arrays(train=(x[:16], y[:16]), test=(x[16:], y[16:]), class_names=["neg", "pos"])
        >>> ds.input_shape, ds.split_sizes, ds.class_names
        ((3,), {'train': 16, 'validation': 0, 'test': 4}, ('neg', 'pos'))
        >>> from_arrays(train=(x, y[:5]), test=(x, y))
        Traceback (most recent call last):
        ...
        ValueError: train: 20 examples in x but 5 labels in y
    """
    given = {"train": train, "test": test} | ({"validation": validation} if validation is not None else {})
    checked = {split: _checked(split, pair) for split, pair in given.items()}
    shape = checked["train"][0].shape[1:]
    for split, (x, _) in checked.items():
        if x.shape[1:] != shape:
            raise ValueError(f"{split}: features of shape {x.shape[1:]} per example, but train's are {shape}")
    if len(checked["train"][1]) == 0:
        raise ValueError("train: no examples")
    largest = max(int(y.max()) for _, y in checked.values() if y.size)
    if class_names is None:
        class_names = [str(c) for c in range(largest + 1)]
    elif largest >= len(class_names):
        raise ValueError(f"labels go up to {largest}, but class_names names {len(class_names)} classes")
    if validation is not None and validation_fraction:
        raise ValueError("give validation arrays or a validation_fraction, not both")
    dtypes = {x.dtype for x, _ in checked.values()}
    if len(dtypes) > 1:
        raise ValueError(f"the splits' features have different dtypes: {sorted(map(str, dtypes))}")
    return Dataset(name, {split: ArraySource(*pair) for split, pair in checked.items()}, feature_key="image",
                   class_names=class_names, input_shape=shape, dtype=dtypes.pop(), scale=scale,
                   validation_fraction=validation_fraction)


def _checked(split: str, pair: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"{split}: expected a pair (x, y) of arrays, got {type(pair).__name__}")
    x, y = np.asarray(pair[0]), np.asarray(pair[1])
    if x.ndim < 2 or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{split}: x must be a numeric array of shape (N, features...), got {x.dtype} {x.shape}")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{split}: y must be one integer label per example (shape (N,)), got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{split}: {len(x)} examples in x but {len(y)} labels in y")
    if y.size and y.min() < 0:
        raise ValueError(f"{split}: labels must be >= 0, found {int(y.min())}")
    return x, y.astype(np.int32)


@registry.register("dataset", "arrays")
def arrays(path: str = "data.npz", scale: float = 1.0, class_names: Sequence[str] | None = None,
           validation_fraction: float = 0.0) -> Dataset:
    """Arrays from a ``.npz`` file: ``x_train``, ``y_train``, ``x_test``, ``y_test``, and
    optionally ``x_validation``, ``y_validation`` (`numpy.savez`); see `from_arrays`.

    Examples:
        >>> import registry, tempfile, tricks
        >>> path = f"{tempfile.mkdtemp()}/data.npz"
        >>> x = np.arange(40, dtype=np.uint8).reshape(10, 2, 2)
        >>> np.savez(path, x_train=x[:8], y_train=np.arange(8) % 2, x_test=x[8:], y_test=np.array([0, 1]))
        >>> registry.build("dataset", f"arrays(path={path!r}, scale=0.5)").split_sizes
        {'train': 8, 'validation': 0, 'test': 2}
    """
    file = pathlib.Path(path).expanduser()
    try:
        with np.load(file, allow_pickle=False) as found:
            data = {key: found[key] for key in found.files}
    except FileNotFoundError:
        raise ValueError(f"no such file: {file}") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{file} is not a .npz file of arrays ({exc})") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in data]
    if missing:
        raise ValueError(f"{file} lacks {', '.join(missing)}; it holds {', '.join(sorted(data)) or 'nothing'} "
                         "(expected x_train, y_train, x_test, y_test, optionally x_validation, y_validation)")
    validation = (data["x_validation"], data["y_validation"]) if "x_validation" in data else None
    return from_arrays((data["x_train"], data["y_train"]), (data["x_test"], data["y_test"]), validation,
                       class_names, validation_fraction=validation_fraction, scale=scale,
                       name=f"arrays({file.name})")
