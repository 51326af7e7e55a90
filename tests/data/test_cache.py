"""Decoded splits cached as .npy next to the prepared data: reused, rebuilt when damaged."""

import pathlib

import numpy as np
import pytest

from tests.data.conftest import build_offline
from tricks.data._cache import CachedSource


class Counting(list):
    """Records that count how many were decoded."""

    decoded = 0

    def __getitem__(self, i):
        Counting.decoded += 1
        return super().__getitem__(i)


def records(n=9):
    return Counting({"x": np.full((2, 2), i, np.uint8), "label": i % 4} for i in range(n))


def cached(source, folder, **kwargs):
    return CachedSource(source, folder, "train", feature_key="x", label_key="label", **kwargs)


def test_second_reader_uses_the_cache(tmp_path):
    first = cached(records(), tmp_path).arrays()
    Counting.decoded = 0
    second = cached(records(), tmp_path).arrays()
    assert Counting.decoded == 0
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert second[0].dtype == np.uint8 and second[1].dtype == np.int32
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("damage", ["garbage", "short"])
def test_a_damaged_cache_is_rebuilt_with_a_warning(tmp_path, damage):
    cached(records(), tmp_path).arrays()
    path = tmp_path / "train.features.npy"
    if damage == "garbage":
        path.write_bytes(b"not an npy file")
    else:
        np.save(path, np.zeros((3, 2, 2), np.uint8))
    with pytest.warns(RuntimeWarning, match="decoding again"):
        features, labels = cached(records(), tmp_path).arrays()
    assert features[:, 0, 0].tolist() == list(range(9)) and labels.tolist() == [i % 4 for i in range(9)]
    assert np.load(path).shape == (9, 2, 2)  # rewritten


def test_an_unwritable_folder_only_skips_caching(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    features, labels = cached(records(), blocker / "arrays").arrays()
    assert features.shape == (9, 2, 2) and labels.shape == (9,)


def test_a_dataset_built_again_reads_the_cached_arrays(fashion, fashion_source, data_dir):
    first = fashion.arrays("train")
    cache = next(pathlib.Path(data_dir).glob("tricks_fashion_mnist/*/arrays"))
    assert {p.name for p in cache.glob("*.npy")} >= {"train-image-label.features.npy", "train-image-label.labels.npy"}
    again = build_offline({"name": "fashion_mnist", "data_dir": data_dir, "source_dir": str(fashion_source[0]),
                           "validation_fraction": 0.25})
    Counting.decoded = 0
    for a, b in zip(first, again.arrays("train")):
        np.testing.assert_array_equal(a, b)
    source = again.source("validation")  # random access still reads the records
    x, y = again.arrays("validation")
    np.testing.assert_array_equal(x[4], again.to_float(source[4]["image"]))
    assert y[4] == source[4]["label"]
