"""Shared data for the data tests: prepared datasets (once per session) and IDX writers."""

from __future__ import annotations

import contextlib
import gzip
import socket
import struct
from pathlib import Path

import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the datasets)
from tricks.data import Dataset


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Writes `array` (uint8) as an IDX file, gzipped when `compress` (adds ``.gz``)."""
    array = np.asarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)
    return path


def write_fashion(directory: Path, num_train: int = 60, num_test: int = 20, seed: int = 0) -> dict:
    """Small synthetic Fashion-MNIST IDX files (train gzipped, test plain); returns the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {}
    directory.mkdir(parents=True, exist_ok=True)
    for split, n, compress, (images_name, labels_name) in [
        ("train", num_train, True, ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")),
        ("test", num_test, False, ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")),
    ]:
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(directory / images_name, images, compress=compress)
        write_idx(directory / labels_name, labels, compress=compress)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("tfds"))


@contextlib.contextmanager
def no_network():
    """Any attempt to open a network connection inside the block fails loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    original = socket.socket.connect
    socket.socket.connect = refuse
    try:
        yield
    finally:
        socket.socket.connect = original


def build_offline(spec) -> Dataset:
    with no_network():
        return registry.build("dataset", spec)


@pytest.fixture(scope="session")
def digits(data_dir) -> Dataset:
    return build_offline({"name": "digits", "data_dir": data_dir})


@pytest.fixture(scope="session")
def mnist1d(data_dir) -> Dataset:
    return build_offline({"name": "mnist1d", "data_dir": data_dir})


@pytest.fixture(scope="session")
def fashion_source(tmp_path_factory) -> tuple[Path, dict]:
    directory = tmp_path_factory.mktemp("fashion_idx")
    return directory, write_fashion(directory)


@pytest.fixture(scope="session")
def fashion(data_dir, fashion_source) -> Dataset:
    directory, _ = fashion_source
    return build_offline(
        {
            "name": "fashion_mnist",
            "data_dir": data_dir,
            "source_dir": str(directory),
            "validation_fraction": 0.25,
        }
    )


def toy_dataset(num_train: int = 50, num_test: int = 23, weights=(0.7, 0.2, 0.1), validation_fraction=0.0):
    """An in-memory Dataset whose single feature is the example's index (to track examples)."""
    rng = np.random.default_rng(0)

    def rows(n, offset):
        labels = rng.choice(len(weights), size=n, p=weights)
        return [{"x": np.array([offset + i], np.float32), "label": int(c)} for i, c in enumerate(labels)]

    return Dataset(
        "toy",
        {"train": rows(num_train, 0), "test": rows(num_test, 1000)},
        feature_key="x",
        class_names=[f"c{i}" for i in range(len(weights))],
        input_shape=(1,),
        dtype=np.float32,
        scale=1.0,
        validation_fraction=validation_fraction,
    )


@pytest.fixture
def toy() -> Dataset:
    return toy_dataset()
