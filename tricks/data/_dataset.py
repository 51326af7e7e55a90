"""`Dataset`: a prepared TFDS dataset seen as train / validation / test splits."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tricks.data._cache import CachedSource
from tricks.data._split import carve_validation

SPLITS = ("train", "validation", "test")
"""The split names every `Dataset` answers to."""

_READ_CHUNK = 4096


def to_float(features: Any, scale: float) -> Any:
    """``features`` as float32 times `scale`, for numpy and jax arrays alike.

    Examples:
        >>> to_float(np.array([0, 8, 16], np.uint8), 1 / 16).tolist()
        [0.0, 0.5, 1.0]
    """
    return features.astype("float32") * np.float32(scale)


class SplitSource:
    """A random-access view of some examples of a TFDS data source (for Grain).

    ``len(view)`` examples; ``view[i]`` is ``{"image": features, "label": int}`` with the
    features as stored (e.g. uint8 pixels); `read` fetches many at once as two arrays.
    With `label_map`, a stored label ``c`` is reported as ``label_map[c]`` (a class subset).

    Examples:
        >>> import numpy as np
        >>> records = [{"pixels": np.full((2,), i, np.uint8), "label": i % 3} for i in range(6)]
        >>> view = SplitSource(records, np.array([1, 4]), feature_key="pixels", label_key="label")
        >>> len(view), view[1]["label"]
        (2, 1)
        >>> view.read([1, 0])[0].tolist()
        [[4, 4], [1, 1]]
    """

    def __init__(
        self,
        source: Sequence[Mapping[str, Any]],
        indices: np.ndarray | None,
        *,
        feature_key: str,
        label_key: str,
        label_map: np.ndarray | None = None,
    ):
        self._source = source
        self._indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self._feature_key = feature_key
        self._label_key = label_key
        self._label_map = None if label_map is None else np.asarray(label_map, dtype=np.int32)

    def view(self, positions: np.ndarray, label_map: np.ndarray | None = None) -> SplitSource:
        """The examples at `positions` of this view, labels mapped by `label_map` (stored -> new)."""
        positions = np.asarray(positions, dtype=np.int64)
        indices = positions if self._indices is None else self._indices[positions]
        if self._label_map is not None and label_map is not None:
            raise ValueError("a view of a relabelled view: relabel the original source once")
        return SplitSource(self._source, indices, feature_key=self._feature_key, label_key=self._label_key,
                           label_map=self._label_map if label_map is None else label_map)

    def _label(self, record: Mapping[str, Any]) -> int:
        label = int(record[self._label_key])
        return label if self._label_map is None else int(self._label_map[label])

    def __len__(self) -> int:
        return len(self._source) if self._indices is None else len(self._indices)

    def _source_index(self, index: int) -> int:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a split of {n} examples")
        index %= n
        return int(index if self._indices is None else self._indices[index])

    def _records(self, source_indices: list[int]) -> list[Mapping[str, Any]]:
        getitems = getattr(self._source, "__getitems__", None)
        if getitems is None:  # a plain sequence
            return [self._source[i] for i in source_indices]
        return list(getitems(source_indices))

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self._source[self._source_index(int(index))]
        return {"image": np.asarray(record[self._feature_key]), "label": self._label(record)}

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        records = self._records([self._source_index(int(i)) for i in indices])
        return [
            {"image": np.asarray(r[self._feature_key]), "label": self._label(r)} for r in records
        ]

    def read(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Examples `indices` as (features stacked as stored, labels int32)."""
        if isinstance(self._source, CachedSource):
            features, labels = self._source.arrays()
            rows = np.asarray(indices, dtype=np.int64).ravel()
            rows = rows if self._indices is None else self._indices[rows]
            labels = labels[rows]
            return features[rows], labels if self._label_map is None else self._label_map[labels]
        records = self._records([self._source_index(int(i)) for i in np.asarray(indices).ravel()])
        features = np.stack([np.asarray(r[self._feature_key]) for r in records])
        labels = np.array([r[self._label_key] for r in records], dtype=np.int32)
        if self._label_map is not None:
            labels = self._label_map[labels]
        return features, labels

    def _chunks(self):
        if isinstance(self._source, CachedSource):  # in memory already: one piece
            yield self.read(np.arange(len(self)))
            return
        for start in range(0, len(self), _READ_CHUNK):
            yield self.read(range(start, min(start + _READ_CHUNK, len(self))))

    def read_all(self) -> tuple[np.ndarray, np.ndarray]:
        """Every example, in order, read in chunks."""
        parts = list(self._chunks())
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def read_labels(self) -> np.ndarray:
        """Every label, in order (int32), keeping no features in memory."""
        return np.concatenate([np.zeros((0,), np.int32), *(labels for _, labels in self._chunks())])


class Dataset:
    """A prepared classification dataset: metadata, in-memory arrays and Grain sources.

    Splits: ``"train"`` (the source train split minus the validation carve),
    ``"validation"`` (carved from the source train split by `carve_validation`: a
    fixed-seed, machine-independent choice, disjoint from ``"train"``; empty when
    ``validation_fraction=0``) and ``"test"`` (the source test split).

    Values: features are stored as the builder wrote them (uint8 pixels for images,
    float32 for MNIST-1D); `arrays` returns them as float32 multiplied by `scale`
    (1/255 for uint8 images, 1/16 for digits, whose pixels run 0..16; 1 for MNIST-1D,
    which stays standardized as its package generates it).

    Build one through the registry (``registry.build("dataset", "digits")``), which
    prepares the data on first use.

    Attributes:
        name: the registry spec name (``"digits"``, ``"fashion_mnist"``, ``"tfds:mnist"``).
        num_classes: number of classes.
        input_shape: the shape of one example, e.g. ``(8, 8, 1)`` or ``(40,)``.
        class_names: one name per class.
        scale: multiplier from stored values to the float32 values of `arrays`.
        split_sizes: ``{"train": n, "validation": n, "test": n}``.
        splits: the split names with at least one example.
        dtype: the stored dtype of the features.

    Examples:
        >>> import numpy as np
        >>> rows = [{"x": np.full((2,), i, np.uint8), "label": i % 2} for i in range(10)]
        >>> ds = Dataset("toy", {"train": rows, "test": rows[:4]}, feature_key="x",
        ...              class_names=("even", "odd"), input_shape=(2,), dtype=np.uint8,
        ...              scale=1 / 255, validation_fraction=0.2)
        >>> ds.split_sizes, ds.splits
        ({'train': 8, 'validation': 2, 'test': 4}, ('train', 'validation', 'test'))
        >>> x, y = ds.arrays("validation")
        >>> x.dtype, y.tolist(), ds.class_counts("train").tolist()
        (dtype('float32'), [1, 0], [4, 4])
    """

    def __init__(
        self,
        name: str,
        sources: Mapping[str, Sequence[Mapping[str, Any]]],
        *,
        feature_key: str,
        class_names: Sequence[str],
        input_shape: Sequence[int],
        dtype: Any,
        scale: float,
        validation_fraction: float = 0.0,
        validation_seed: int = 0,
        label_key: str = "label",
    ):
        self.name = name
        self.class_names = tuple(str(c) for c in class_names)
        self.num_classes = len(self.class_names)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.dtype = np.dtype(dtype)
        self.scale = float(scale)
        self.validation_fraction = float(validation_fraction)
        self.validation_seed = int(validation_seed)
        keys = {"feature_key": feature_key, "label_key": label_key}
        if "validation" in sources:  # given, not carved from train
            self._sources = {split: SplitSource(sources[split], None, **keys) for split in SPLITS}
        else:
            train, validation = carve_validation(len(sources["train"]), validation_fraction, validation_seed)
            self._sources = {
                "train": SplitSource(sources["train"], train, **keys),
                "validation": SplitSource(sources["train"], validation, **keys),
                "test": SplitSource(sources["test"], None, **keys),
            }
        self.split_sizes = {split: len(self._sources[split]) for split in SPLITS}
        self._stored: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._labels: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, input_shape={self.input_shape}, num_classes={self.num_classes}, "
            f"split_sizes={self.split_sizes})"
        )

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits holding at least one example ("validation" drops out at fraction 0)."""
        return tuple(split for split in SPLITS if self.split_sizes[split])

    def _check(self, split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return split

    def source(self, split: str) -> SplitSource:
        """A random-access source of `split` for Grain: ``len`` and ``[i]`` -> ``{"image", "label"}``."""
        return self._sources[self._check(split)]

    def stored_arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The whole split as stored: (features in `dtype`, labels int32); read once, then cached."""
        if self._check(split) not in self._stored:
            if self.split_sizes[split] == 0:
                empty = np.zeros((0, *self.input_shape), self.dtype), np.zeros((0,), np.int32)
                self._stored[split] = empty
            else:
                self._stored[split] = self._sources[split].read_all()
            self._labels[split] = self._stored[split][1]
        return self._stored[split]

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The whole split in memory: (features float32 times `scale`, labels int32).

        The features have shape ``(n, *input_shape)``.
        """
        features, labels = self.stored_arrays(split)
        return self.to_float(features), labels

    def to_float(self, features: Any) -> Any:
        """Stored features to float32 times `scale` (works on numpy and jax arrays)."""
        return to_float(features, self.scale)

    def labels(self, split: str) -> np.ndarray:
        """The labels of `split` (int32), read once and cached."""
        if self._check(split) not in self._labels:
            self._labels[split] = self._sources[split].read_labels()
        return self._labels[split]

    def class_counts(self, split: str) -> np.ndarray:
        """How many examples of each class `split` holds (int64, length `num_classes`)."""
        return np.bincount(self.labels(split), minlength=self.num_classes).astype(np.int64)

    def nbytes(self, split: str) -> int:
        """Bytes the split's stored features take in memory (decides the loader's default path)."""
        return self.split_sizes[self._check(split)] * math.prod(self.input_shape) * self.dtype.itemsize

    def subset(
        self,
        classes: Sequence[int] | None = None,
        train_per_class: int | Sequence[int] = 0,
        validation_per_class: int | Sequence[int] = 0,
        seed: int = 0,
    ) -> Dataset:
        """This dataset restricted to some classes (relabelled 0..k-1), and few labels per class.

        Args:
            classes: the kept classes, in their new order (class ``classes[i]`` becomes
                label ``i`` in every split); None keeps all, in order.
            train_per_class: > 0: keep only this many training examples of each class,
                drawn with `seed` (few-label training); 0: all of them. A sequence gives
                each kept class its own count, in the order of `classes` (0: all of
                that class): a fixed imbalanced subset.
            validation_per_class: the same for the validation split.
            seed: the draw of the kept examples (the same on every machine).

        Returns:
            A `Dataset` whose ``name`` records the restriction (so loaders and run
            configs tell it apart); the test split keeps every example of the classes.

        Raises:
            ValueError: an unknown or repeated class, a negative count, a sequence of
                counts not one per kept class, or a class with fewer examples than asked
                for (named, with its count).

        Examples:
            >>> import numpy as np
            >>> rows = [{"x": np.full((1,), i, np.uint8), "label": i % 3} for i in range(30)]
            >>> ds = Dataset("toy", {"train": rows, "test": rows}, feature_key="x",
            ...              class_names=("a", "b", "c"), input_shape=(1,), dtype=np.uint8, scale=1.0)
            >>> few = ds.subset(classes=[2, 0], train_per_class=3)
            >>> few.name, few.class_names, few.split_sizes["train"], few.class_counts("train").tolist()
            ('toy[classes=2,0;train_per_class=3;seed=0]', ('c', 'a'), 6, [3, 3])
            >>> few.split_sizes["test"], sorted(set(few.labels("test").tolist()))
            (20, [0, 1])
            >>> ds.subset(classes=[0], train_per_class=11)
            Traceback (most recent call last):
            ...
            ValueError: train_per_class=11, but class 0 ('a') has 10 examples in split 'train'
            >>> ds.subset(train_per_class=[10, 1, 0]).class_counts("train").tolist()  # imbalanced
            [10, 1, 10]
        """
        kept = list(range(self.num_classes)) if classes is None else [int(c) for c in classes]
        bad = [c for c in kept if not 0 <= c < self.num_classes]
        if bad or not kept or len(set(kept)) != len(kept):
            raise ValueError(
                f"classes must be distinct integers in [0, {self.num_classes}), got {list(classes or [])}"
            )
        per_class = {"train": _counts("train_per_class", train_per_class, len(kept)),
                     "validation": _counts("validation_per_class", validation_per_class, len(kept)),
                     "test": [0] * len(kept)}
        label_map = np.full(self.num_classes, -1, np.int32)
        label_map[kept] = np.arange(len(kept), dtype=np.int32)
        rng = np.random.default_rng(seed)
        sources = {}
        for split in SPLITS:
            labels = self.labels(split)
            positions = np.flatnonzero(np.isin(labels, kept))
            if any(per_class[split]):
                positions = np.sort(np.concatenate([
                    self._draw(split, labels, c, count, rng) if count else np.flatnonzero(labels == c)
                    for c, count in zip(kept, per_class[split], strict=True)
                ]))
            sources[split] = self._sources[split].view(positions, label_map)
        parts = [f"classes={','.join(map(str, kept))}"] if classes is not None else []
        for split, field, given in (("train", "train_per_class", train_per_class),
                                    ("validation", "validation_per_class", validation_per_class)):
            if any(per_class[split]):
                parts.append(f"{field}={given}" if isinstance(given, int) else
                             f"{field}={','.join(map(str, per_class[split]))}")
        parts += [f"seed={seed}"] if any(per_class["train"]) or any(per_class["validation"]) else []
        derived = copy.copy(self)
        derived.name = f"{self.name}[{';'.join(parts)}]" if parts else self.name
        derived.class_names = tuple(self.class_names[c] for c in kept)
        derived.num_classes = len(kept)
        derived._sources = sources
        derived.split_sizes = {split: len(sources[split]) for split in SPLITS}
        derived._stored, derived._labels = {}, {}
        return derived

    def _draw(self, split: str, labels: np.ndarray, cls: int, count: int, rng: np.random.Generator) -> np.ndarray:
        members = np.flatnonzero(labels == cls)
        if len(members) < count:
            field = f"{split}_per_class"
            raise ValueError(
                f"{field}={count}, but class {cls} ({self.class_names[cls]!r}) has {len(members)} examples "
                f"in split {split!r}"
            )
        return rng.permutation(members)[:count]


def _counts(field: str, given: int | Sequence[int], classes: int) -> list[int]:
    """A per-class count field as one count per kept class (0: all of the class).

    Examples:
        >>> _counts("train_per_class", 5, 3), _counts("train_per_class", [1, 0], 2)
        ([5, 5, 5], [1, 0])
        >>> _counts("train_per_class", [1, 2], 3)
        Traceback (most recent call last):
        ...
        ValueError: train_per_class: 2 counts for 3 kept classes (one per class, in their order)
    """
    counts = [int(given)] * classes if isinstance(given, (int, np.integer)) else [int(c) for c in given]
    if len(counts) != classes:
        raise ValueError(f"{field}: {len(counts)} counts for {classes} kept classes (one per class, in their order)")
    if any(c < 0 for c in counts):
        raise ValueError(f"{field} must be >= 0, got {given}")
    return counts
