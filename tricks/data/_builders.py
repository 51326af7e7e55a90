"""The TFDS builders of this project's datasets: digits, MNIST-1D and Fashion-MNIST.

Each is a `tfds.core.GeneratorBasedBuilder` registered in TFDS under a ``tricks_`` name
(``tricks_digits``, ``tricks_mnist1d``, ``tricks_fashion_mnist``: the catalogue already
owns ``fashion_mnist``). They generate from local data only, never from the network,
write array_record files, and are read back with `tfds.data_source`; no TensorFlow.
Examples keep the order they were generated in (``disable_shuffling``), so example i of
a split is example i of the source.
"""

from __future__ import annotations

import abc
import os
import random
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds

from tricks.data._idx import IdxError, read_idx

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Where Debian's ``dataset-fashion-mnist`` package puts the four IDX files."""

FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
DIGIT_CLASSES = tuple(str(i) for i in range(10))

DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


def _examples(features: np.ndarray, labels: np.ndarray, key: str):
    for i, (x, y) in enumerate(zip(features, labels)):
        yield i, {key: x, "label": int(y)}


class _Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared by the builders below: an in-memory (features, labels) pair per split."""

    # Nothing is downloaded, so no checksums file; this also spares TFDS the search for
    # one beside the code (which needs the optional `importlib_resources` package).
    url_infos = None
    FEATURE_KEY = "image"
    SHAPE: tuple[int, ...] = ()
    DTYPE = np.uint8
    CLASSES: tuple[str, ...] = ()
    DESCRIPTION = ""
    HOMEPAGE = ""
    CITATION = ""

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    self.FEATURE_KEY: tfds.features.Tensor(shape=self.SHAPE, dtype=self.DTYPE),
                    "label": tfds.features.ClassLabel(names=list(self.CLASSES)),
                }
            ),
            supervised_keys=(self.FEATURE_KEY, "label"),
            disable_shuffling=True,
            homepage=self.HOMEPAGE,
            citation=self.CITATION,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing is downloaded
        return {
            split: self._generate_examples(features, labels)
            for split, (features, labels) in self._arrays().items()
        }

    def _generate_examples(self, features, labels):
        return _examples(features.astype(self.DTYPE), labels, self.FEATURE_KEY)

    @abc.abstractmethod
    def _arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The (features, labels) arrays of each split, from local data."""


class TricksDigits(_Builder):
    """scikit-learn's 8x8 handwritten digits (1797 examples, values 0..16), split 80/20.

    The test split is a stratified 20% (`sklearn.model_selection.train_test_split`
    with ``random_state=0``): 1437 train, 360 test examples.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        "1.0.0": "load_digits, stratified 80/20 train/test split with random_state=0."
    }
    SHAPE = (8, 8, 1)
    CLASSES = DIGIT_CLASSES
    DESCRIPTION = "Optical recognition of handwritten digits (UCI), 8x8 images with values 0..16."
    HOMEPAGE = "https://archive.ics.uci.edu/dataset/80"

    def _arrays(self):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        x = x.reshape(-1, *self.SHAPE)
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=DIGITS_TEST_FRACTION, stratify=y, random_state=DIGITS_SPLIT_SEED
        )
        return {"train": (x_train, y_train), "test": (x_test, y_test)}


class TricksMnist1d(_Builder):
    """MNIST-1D (Greydanus & Kobak): 1-D signals of length 40, generated offline.

    ``mnist1d.data.make_dataset(get_dataset_args())``, the package's standard
    arguments (5000 examples, seed 42, 80/20 split: 4000 train, 1000 test), standardized
    over the whole dataset as the package does. Nothing is downloaded.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        "1.0.0": "mnist1d make_dataset with get_dataset_args() defaults."
    }
    FEATURE_KEY = "signal"
    SHAPE = (40,)
    DTYPE = np.float32
    CLASSES = DIGIT_CLASSES
    DESCRIPTION = "MNIST-1D: a procedurally generated 1-D analogue of MNIST."
    HOMEPAGE = "https://github.com/greydanus/mnist1d"
    CITATION = "Greydanus & Kobak, Scaling Down Deep Learning with MNIST-1D, ICML 2024."

    def _arrays(self):
        from mnist1d.data import get_dataset_args, make_dataset

        # make_dataset reseeds the global `random` and `np.random` states: put them back.
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            data = make_dataset(get_dataset_args())
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
        return {"train": (data["x"], data["y"]), "test": (data["x_test"], data["y_test"])}


class TricksFashionMnist(_Builder):
    """Fashion-MNIST (Zalando): 28x28 grayscale clothes, 60000 train / 10000 test.

    Prepared from the four IDX files (plain or gzipped) in ``source_dir``, by default
    the Debian package's folder ``/usr/share/datasets/fashion-mnist``.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        "1.0.0": "From the four IDX files of the Fashion-MNIST release."
    }
    SHAPE = (28, 28, 1)
    CLASSES = FASHION_MNIST_CLASSES
    DESCRIPTION = "Fashion-MNIST: Zalando article images, a drop-in replacement for MNIST."
    HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"
    CITATION = "Xiao, Rasul & Vollgraf, Fashion-MNIST, arXiv:1708.07747, 2017."

    def __init__(self, *, source_dir: str | os.PathLike | None = None, **kwargs):
        self.source_dir = os.fspath(source_dir) if source_dir is not None else FASHION_MNIST_DIR
        super().__init__(**kwargs)

    def _arrays(self):
        paths = {
            split: [find_idx(self.source_dir, name) for name in names]
            for split, names in FASHION_MNIST_FILES.items()
        }
        arrays = {}
        for split, (images_path, labels_path) in paths.items():
            images, labels = read_idx(images_path), read_idx(labels_path)
            if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
                raise IdxError(
                    f"{images_path}: expected uint8 images of shape (N, 28, 28), "
                    f"got {images.dtype.name} {images.shape}"
                )
            if labels.ndim != 1 or len(labels) != len(images):
                raise IdxError(
                    f"{labels_path}: expected {len(images)} labels (one per image), got shape {labels.shape}"
                )
            if labels.size and labels.max() >= len(self.CLASSES):
                raise IdxError(f"{labels_path}: labels must be < {len(self.CLASSES)}, found {labels.max()}")
            arrays[split] = (images[..., None], labels)
        return arrays


def find_idx(directory: str, name: str) -> str:
    """The path of IDX file `name` (or `name`.gz) in `directory`; says how to get it if missing.

    Examples:
        >>> find_idx("/nonexistent", "t10k-labels-idx1-ubyte")
        Traceback (most recent call last):
        ...
        FileNotFoundError: Fashion-MNIST file t10k-labels-idx1-ubyte(.gz) not found in /nonexistent. ...
    """
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    names = ", ".join(f"{a}, {b}" for a, b in FASHION_MNIST_FILES.values())
    raise FileNotFoundError(
        f"Fashion-MNIST file {name}(.gz) not found in {directory}. Install Debian's package "
        f"(`sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist`, which puts "
        f"the files in {FASHION_MNIST_DIR}), or put the four IDX files ({names}; plain or "
        f".gz, from https://github.com/zalandoresearch/fashion-mnist) in one folder and "
        f"pass it as source_dir."
    )


BUILDERS = {"digits": TricksDigits, "mnist1d": TricksMnist1d, "fashion_mnist": TricksFashionMnist}
"""This project's builders by registry name."""
