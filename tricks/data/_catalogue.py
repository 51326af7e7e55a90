"""The registered datasets: this project's builders, and any prepared TFDS catalogue dataset."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import pathlib
import re
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
import tensorflow_datasets as tfds

import registry
from tricks.data._builders import BUILDERS, FASHION_MNIST_DIR
from tricks.data._cache import CachedSource
from tricks.data._dataset import Dataset
from tricks.data._split import validation_size


def _check_fraction(validation_fraction: float, validation_seed: int) -> None:
    if not 0.0 <= validation_fraction < 1.0:
        raise registry.RegistryError(
            f"must be in [0, 1), got {validation_fraction}", argument="validation_fraction"
        )
    if validation_seed < 0:
        raise registry.RegistryError(f"must be >= 0, got {validation_seed}", argument="validation_seed")


def _sources(
    tfds_name: str,
    splits: tuple[str, str],
    data_dir: str | None,
    download: bool,
    builder_kwargs: dict[str, Any],
    feature_key: str,
    label_key: str = "label",
) -> tuple[Any, list[CachedSource]]:
    """(DatasetInfo, [train source, test source]) through `tfds.data_source`, cached once decoded.

    Whether the data are there is TFDS's to say: `tfds.data_source` is asked first, and
    only when it fails on a dataset that is not prepared does the error say how to
    prepare it. So ``tfds.testing.mock_data`` (which serves random examples for any
    catalogue dataset, prepared or not, as flax's example tests use it) works here too.
    """
    try:
        builder = tfds.builder(tfds_name, data_dir=data_dir, **builder_kwargs)
    except tfds.core.registered.DatasetNotFoundError:
        base = tfds_name.split(":")[0].split("/")[0]
        raise registry.RegistryError(
            f"TFDS has no dataset {base!r}{registry.suggest(base, _tfds_names())}; "
            f"`tfds.list_builders()` lists them",
            argument="name",
        ) from None
    lock = _preparation_lock(builder) if download else contextlib.nullcontext()
    try:
        with lock, contextlib.redirect_stdout(sys.stderr):  # TFDS prints its preparation notices to stdout
            sources = tfds.data_source(tfds_name, split=list(splits), data_dir=data_dir, download=download,
                                       builder_kwargs=builder_kwargs)
    except Exception:  # unprepared, TFDS says "`splits` is empty" (KeyError) or "file format is not set"
        if download or builder.is_prepared():
            raise
        raise registry.RegistryError(
            f"TFDS dataset {tfds_name!r} is not prepared in {builder.data_path}; "
            f"prepare it with `tfds build {tfds_name} --file_format=array_record` (the data_dir "
            f"option of that command or $TFDS_DATA_DIR sets where), or pass download=True",
            argument="name",
        ) from None
    keys = {"feature_key": feature_key, "label_key": label_key}
    cache = _cache_dir(builder)
    if cache is None:
        sources = [_OneByOne(source) for source in sources]
    names = [re.sub(r"[^\w.-]+", "_", f"{split}-{feature_key}-{label_key}") for split in splits]
    return builder.info, [CachedSource(source, cache, name, **keys) for source, name in zip(sources, names)]


def _cache_dir(builder) -> pathlib.Path | None:
    """Where the decoded arrays of `builder`'s splits are kept: beside its prepared files.

    None where there are no such files, so nothing is cached: TFDS then serves records
    of no file (``tfds.testing.mock_data``'s random examples, which change with its
    arguments), and the data folder may be inside TFDS's own package (the mock's).
    """
    folder = pathlib.Path(os.fspath(builder.data_path))
    return folder / "arrays" if any(folder.glob(f"{builder.name}-*-of-*")) else None


class _OneByOne(Sequence):
    """`source` read one record at a time, for TFDS sources of no file (`_cache_dir`).

    ``tfds.testing.mock_data``'s sources fail on batch reads in tensorflow_datasets
    4.9.10: the mock sets ``__getitems__`` as a plain instance attribute, which Python
    calls without the source (``_getitems() missing ... 'record_keys'``). Without a
    ``__getitems__`` here, `CachedSource` and Grain read item by item.
    """

    def __init__(self, source: Sequence[Any]):
        self._source = source

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index):
        return self._source[index]


@functools.cache
def _tfds_names() -> frozenset[str]:
    """The names of TFDS's catalogue datasets (from the installed package, no network)."""
    return frozenset(tfds.list_builders(with_community_datasets=False))


@registry.alternatives("dataset")
def _in_tfds_catalogue(name: str) -> list[str]:
    """``tfds(name=...)`` for a dataset name the registry lacks but TFDS's catalogue has.

    Examples:
        >>> _in_tfds_catalogue("cifar10"), _in_tfds_catalogue("CIFAR10"), _in_tfds_catalogue("digitz")
        (["tfds(name='cifar10')"], ["tfds(name='cifar10')"], [])
    """
    found = [n for n in (name, name.lower()) if n in _tfds_names()]
    return [f"tfds(name={found[0]!r})"] if found else []


@contextlib.contextmanager
def _preparation_lock(builder):
    """One preparation at a time per dataset folder: processes that start together (several
    processes of one host) would otherwise race to rename their finished copies."""
    folder = os.path.dirname(os.fspath(builder.data_path))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".prepare.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ours(
    name: str, validation_fraction: float, validation_seed: int, data_dir: str | None, **builder_kwargs: Any
) -> Dataset:
    _check_fraction(validation_fraction, validation_seed)
    builder_cls = BUILDERS[name]
    _, (train, test) = _sources(
        builder_cls.name, ("train", "test"), data_dir, True, {"file_format": "array_record", **builder_kwargs},
        builder_cls.FEATURE_KEY,
    )
    validation_size(len(train), validation_fraction)
    return Dataset(
        name,
        {"train": train, "test": test},
        feature_key=builder_cls.FEATURE_KEY,
        class_names=builder_cls.CLASSES,
        input_shape=builder_cls.SHAPE,
        dtype=builder_cls.DTYPE,
        scale={"digits": 1 / 16, "mnist1d": 1.0, "fashion_mnist": 1 / 255}[name],
        validation_fraction=validation_fraction,
        validation_seed=validation_seed,
    )


@registry.register("dataset", "digits")
def digits(
    validation_fraction: float = 0.1, validation_seed: int = 0, data_dir: str | None = None
) -> Dataset:
    """scikit-learn's 8x8 digits: 1437 train / 360 test (stratified, random_state=0), 10 classes.

    The embedded default dataset. Input shape (8, 8, 1); `Dataset.arrays` scales the
    pixels (0..16) to [0, 1].

    Args:
        validation_fraction: share of the train split carved out as "validation" (in [0, 1)).
        validation_seed: which validation carve (see `tricks.data.carve_validation`).
        data_dir: where TFDS keeps prepared data (default ``$TFDS_DATA_DIR`` or
            ``~/tensorflow_datasets``); prepared once, then reused.

    Examples:
        >>> import registry, tempfile, tricks
        >>> ds = registry.build("dataset", {"name": "digits", "data_dir": tempfile.mkdtemp()})
        >>> ds.input_shape, ds.split_sizes
        ((8, 8, 1), {'train': 1293, 'validation': 144, 'test': 360})
    """
    return _ours("digits", validation_fraction, validation_seed, data_dir)


@registry.register("dataset", "mnist1d")
def mnist1d(
    validation_fraction: float = 0.1, validation_seed: int = 0, data_dir: str | None = None
) -> Dataset:
    """MNIST-1D, generated offline with the mnist1d package's standard arguments.

    4000 train / 1000 test signals of length 40 (input shape (40,)), 10 classes, values
    standardized over the whole dataset (mean 0, std 1) as the package generates them.

    Args:
        validation_fraction: share of the train split carved out as "validation" (in [0, 1)).
        validation_seed: which validation carve (see `tricks.data.carve_validation`).
        data_dir: where TFDS keeps prepared data (default ``$TFDS_DATA_DIR`` or
            ``~/tensorflow_datasets``); prepared once (a few seconds), then reused.

    Examples:
        >>> import registry, tricks
        >>> registry.describe("dataset", "mnist1d").summary
        "MNIST-1D, generated offline with the mnist1d package's standard arguments."
    """
    return _ours("mnist1d", validation_fraction, validation_seed, data_dir)


@registry.register("dataset", "fashion_mnist")
def fashion_mnist(
    validation_fraction: float = 0.1,
    validation_seed: int = 0,
    data_dir: str | None = None,
    source_dir: str = FASHION_MNIST_DIR,
) -> Dataset:
    """Fashion-MNIST from its four IDX files: 60000 train / 10000 test, 28x28x1, 10 classes.

    The files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or ``.gz``) are
    read from `source_dir`: by default where Debian's package puts them
    (``sudo apt-get install dataset-fashion-mnist``). When they are missing the error
    says how to get them; a truncated or corrupt file is named. Pixels scaled to [0, 1].

    Args:
        validation_fraction: share of the train split carved out as "validation" (in [0, 1)).
        validation_seed: which validation carve (see `tricks.data.carve_validation`).
        data_dir: where TFDS keeps prepared data (default ``$TFDS_DATA_DIR`` or
            ``~/tensorflow_datasets``); prepared once (about 12 s), then reused.
        source_dir: the folder holding the IDX files (only read while preparing).

    Examples:
        >>> import registry, tempfile, tricks
        >>> registry.build("dataset", {"name": "fashion_mnist", "data_dir": tempfile.mkdtemp(),
        ...                            "source_dir": "/nonexistent"})
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: dataset 'fashion_mnist': ...not found in /nonexistent. Install Debian's package ...
    """
    try:
        return _ours("fashion_mnist", validation_fraction, validation_seed, data_dir, source_dir=source_dir)
    except FileNotFoundError as exc:
        raise registry.RegistryError(str(exc), argument="source_dir") from None


@registry.register("dataset", "tfds")
def tfds_catalogue(
    name: str,
    data_dir: str | None = None,
    feature_key: str = "image",
    label_key: str = "label",
    train_split: str = "train",
    test_split: str = "test",
    validation_fraction: float = 0.1,
    validation_seed: int = 0,
    download: bool = False,
) -> Dataset:
    """Any TFDS catalogue dataset already prepared as array_record (e.g. ``tfds(name='mnist')``).

    Unknown registry names do not fall back to TFDS: a catalogue dataset is named
    explicitly with this component (``dataset="cifar10"`` is refused with "did you mean
    tfds(name='cifar10')?"). Its features must have a fixed shape and its label
    must be a ``ClassLabel``; uint8 features are scaled by 1/255, others kept as stored.
    Preparing most catalogue datasets needs TensorFlow (``tfds build NAME
    --file_format=array_record``, once, anywhere); reading them here does not. Under
    ``tfds.testing.mock_data(num_examples=n)`` every split is n random examples (not
    cached), nothing prepared or downloaded: how a test runs a config on a catalogue dataset.

    Args:
        name: the TFDS name, optionally with config and version (``"cifar10:3.0.2"``).
        data_dir: where the prepared data are (default ``$TFDS_DATA_DIR`` or
            ``~/tensorflow_datasets``).
        feature_key: the input feature.
        label_key: the class-label feature.
        train_split: the TFDS split used as "train" (and carved for "validation").
        test_split: the TFDS split used as "test".
        validation_fraction: share of the train split carved out as "validation" (in [0, 1)).
        validation_seed: which validation carve (see `tricks.data.carve_validation`).
        download: let TFDS download and prepare the data when missing.

    Examples:
        >>> import registry, tricks
        >>> import tensorflow_datasets as tfds
        >>> with tfds.testing.mock_data(num_examples=8):
        ...     ds = registry.build("dataset", "tfds(name='mnist', validation_fraction=0.25)")
        >>> ds.input_shape, ds.split_sizes
        ((28, 28, 1), {'train': 6, 'validation': 2, 'test': 8})
        >>> registry.build("dataset", "tfds(name='mnistt')")
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: dataset 'tfds': ...: TFDS has no dataset 'mnistt' (did you mean 'mnist'...
    """
    _check_fraction(validation_fraction, validation_seed)
    info, (train, test) = _sources(
        name, (train_split, test_split), data_dir, download, {"file_format": "array_record"}, feature_key, label_key
    )
    features = info.features
    for key in (feature_key, label_key):
        if key not in features:
            raise registry.RegistryError(
                f"{name} has no feature {key!r}; its features: {', '.join(features)}",
                argument="feature_key" if key == feature_key else "label_key",
            )
    label = features[label_key]
    if not isinstance(label, tfds.features.ClassLabel):
        raise registry.RegistryError(
            f"{name}'s {label_key!r} is a {type(label).__name__}, not a ClassLabel", argument="label_key"
        )
    shape = features[feature_key].shape
    if any(d is None for d in shape):
        raise registry.RegistryError(
            f"{name}'s {feature_key!r} has no fixed shape ({shape})", argument="feature_key"
        )
    dtype = np.dtype(features[feature_key].np_dtype)
    validation_size(len(train), validation_fraction)
    return Dataset(
        f"tfds:{name}",
        {"train": train, "test": test},
        feature_key=feature_key,
        label_key=label_key,
        class_names=label.names,
        input_shape=shape,
        dtype=dtype,
        scale=1 / 255 if dtype == np.uint8 else 1.0,
        validation_fraction=validation_fraction,
        validation_seed=validation_seed,
    )


@registry.register("dataset", "subset")
def subset(
    dataset: Annotated[str | Dataset, registry.Kind("dataset")],
    classes: Sequence[int | str] | None = None,
    train_per_class: int | Sequence[int] = 0,
    validation_per_class: int | Sequence[int] = 0,
    seed: int = 0,
) -> Dataset:
    """Some classes of a dataset, relabelled 0..k-1, optionally with few labels per class.

    For transfer experiments: pretrain on some classes, fine-tune on the others with a
    few labelled examples each; for class imbalance: a count per class. The test split
    keeps every example of the kept classes.

    Args:
        dataset: the full dataset (a spec or a `Dataset`).
        classes: kept classes by index or name, in their new order; None keeps all.
        train_per_class: > 0: this many training examples per class, drawn with `seed`;
            a list: one count per kept class, in their order (0: all of that class).
        validation_per_class: > 0 or a list: the same for the validation split.
        seed: which examples are drawn (the same on every machine).

    Examples:
        >>> import registry, tempfile, tricks
        >>> ds = registry.build("dataset", {"name": "subset", "dataset": {"name": "digits",
        ...     "data_dir": tempfile.mkdtemp()}, "classes": [7, "1"], "train_per_class": 5})
        >>> ds.num_classes, ds.class_names, ds.split_sizes
        (2, ('7', '1'), {'train': 10, 'validation': 26, 'test': 72})
        >>> registry.build("dataset", {"name": "subset", "dataset": ds, "classes": ["9"]})
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: dataset 'subset': argument 'classes': no class '9'; classes: '7', '1'
    """
    if isinstance(dataset, str):
        dataset = registry.build("dataset", dataset)
    indices = None
    if classes is not None:
        indices = []
        for c in classes:
            if isinstance(c, str):
                if c not in dataset.class_names:
                    names = ", ".join(repr(n) for n in dataset.class_names)
                    raise registry.RegistryError(
                        f"no class {c!r}{registry.suggest(c, dataset.class_names)}; classes: {names}",
                        argument="classes",
                    )
                c = dataset.class_names.index(c)
            indices.append(c)
    try:
        return dataset.subset(indices, train_per_class, validation_per_class, seed)
    except ValueError as exc:
        field = next((f for f in ("validation_per_class", "train_per_class") if f in str(exc)), "classes")
        raise registry.RegistryError(str(exc), argument=field) from None
