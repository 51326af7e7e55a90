"""The datasets: TFDS builders without TensorFlow, splits, caching, the catalogue path, bad input."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

import registry
from tests.data.conftest import build_offline, write_fashion, write_idx
from tricks.data import IdxError, carve_validation, make_loader, read_idx

REAL_FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.fixture
def catalogue_mnist():
    """TFDS's MNIST as flax's example tests read it: 40 random examples per split, nothing prepared."""
    with tfds.testing.mock_data(num_examples=40):
        yield registry.build("dataset", "tfds(name='mnist', validation_fraction=0.25)")


# One entry per registered dataset: the fixture that builds it and what it must look like.
EXPECTED = {
    "digits": ("digits", (8, 8, 1), {"train": 1293, "validation": 144, "test": 360}),
    "mnist1d": ("mnist1d", (40,), {"train": 3600, "validation": 400, "test": 1000}),
    "fashion_mnist": ("fashion", (28, 28, 1), {"train": 45, "validation": 15, "test": 20}),
    "tfds": ("catalogue_mnist", (28, 28, 1), {"train": 30, "validation": 10, "test": 40}),
    "subset": ("digits_reversed", (8, 8, 1), {"train": 100, "validation": 144, "test": 360}),
    "arrays": ("npz_arrays", (6, 6, 1), {"train": 50, "validation": 20, "test": 30}),
}


@pytest.fixture
def npz_arrays(tmp_path):
    """uint8 'pixels' of 10 classes in a .npz, with a validation split of its own."""
    rng = np.random.default_rng(0)
    parts = {}
    for split, n in (("train", 50), ("validation", 20), ("test", 30)):
        parts[f"x_{split}"] = rng.integers(0, 256, (n, 6, 6, 1), dtype=np.uint8)
        parts[f"y_{split}"] = np.arange(n) % 10
    np.savez(tmp_path / "data.npz", **parts)
    return registry.build("dataset", f"arrays(path={str(tmp_path / 'data.npz')!r}, scale=0.00392156862745098)")


@pytest.fixture
def digits_reversed(digits):
    """Every digit class in reverse order, 10 training examples each (a relabelled subset)."""
    return registry.build("dataset", {"name": "subset", "dataset": digits, "classes": list(range(9, -1, -1)),
                                      "train_per_class": 10})


def test_every_registered_dataset_has_an_entry():
    assert set(EXPECTED) == set(registry.names("dataset"))


@pytest.mark.parametrize("name", registry.names("dataset"))
def test_dataset_contract(name, request):
    fixture, shape, sizes = EXPECTED[name]
    ds = request.getfixturevalue(fixture)
    assert ds.input_shape == shape and ds.split_sizes == sizes
    assert ds.num_classes == len(ds.class_names) == 10
    for split in ("train", "validation", "test"):
        x, y = ds.arrays(split)
        assert x.shape == (sizes[split], *shape) and x.dtype == np.float32
        assert y.shape == (sizes[split],) and y.dtype == np.int32 and 0 <= y.min() and y.max() < 10
        assert ds.class_counts(split).sum() == sizes[split]
        np.testing.assert_array_equal(ds.labels(split), y)
        source = ds.source(split)
        assert len(source) == sizes[split]
        np.testing.assert_allclose(ds.to_float(source[3]["image"]), x[3])
        assert source[3]["label"] == y[3]
    if ds.dtype == np.uint8:
        assert 0.0 <= x.min() and x.max() <= 1.0
    batch = make_loader(ds, "train", batch_size=8, seed=0).batch(0)
    assert batch["image"].shape == (8, *shape)


def test_no_tensorflow(digits):
    assert importlib.util.find_spec("tensorflow") is None
    assert "tensorflow" not in sys.modules


def test_digits_values_and_stratified_split(digits):
    from sklearn.datasets import load_digits

    x, _ = digits.arrays("test")
    assert x.max() == 1.0  # pixels 0..16 scaled by 1/16
    source_counts = np.bincount(load_digits().target)
    test_counts = digits.class_counts("test")
    np.testing.assert_allclose(test_counts / 360, source_counts / 1797, atol=0.005)


def test_mnist1d_is_the_standard_dataset(mnist1d):
    x = np.concatenate([mnist1d.arrays(s)[0] for s in ("train", "validation", "test")])
    y = np.concatenate([mnist1d.labels(s) for s in ("train", "validation", "test")])
    assert abs(x.mean()) < 1e-3 and abs(x.std() - 1.0) < 1e-3  # standardized as the package does
    assert np.bincount(y).tolist() == [500] * 10


def test_mnist1d_preparation_leaves_global_rngs_alone(tmp_path, monkeypatch):
    import random

    import mnist1d.data

    from tricks.data import TricksMnist1d

    def reseeding_make_dataset(args):  # what the package's make_dataset does to global state
        mnist1d.utils.set_seed(args.seed)
        return {"x": np.zeros((2, 40)), "y": np.zeros(2), "x_test": np.zeros((1, 40)), "y_test": np.zeros(1)}

    monkeypatch.setattr(mnist1d.data, "make_dataset", reseeding_make_dataset)
    np.random.seed(123)
    random.seed(123)
    expected = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    assert TricksMnist1d(data_dir=str(tmp_path))._arrays()["test"][0].shape == (1, 40)
    assert (np.random.random(), random.random()) == expected


def test_fashion_from_idx_files_keeps_order(fashion, fashion_source):
    _, arrays = fashion_source
    train_images, train_labels = arrays["train"]
    test_images, test_labels = arrays["test"]
    x, y = fashion.stored_arrays("test")
    np.testing.assert_array_equal(x[..., 0], test_images)
    np.testing.assert_array_equal(y, test_labels)
    train_idx, val_idx = carve_validation(60, 0.25, seed=0)
    np.testing.assert_array_equal(fashion.stored_arrays("validation")[0][..., 0], train_images[val_idx])
    np.testing.assert_array_equal(fashion.labels("train"), train_labels[train_idx])
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"


@pytest.mark.skipif(not os.path.isdir(REAL_FASHION), reason="Debian's dataset-fashion-mnist not installed")
def test_real_fashion_idx_files():
    images = read_idx(f"{REAL_FASHION}/t10k-images-idx3-ubyte.gz")
    labels = read_idx(f"{REAL_FASHION}/t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10


def test_preparation_is_reused(data_dir, fashion_source, monkeypatch):
    from tricks.data import TricksFashionMnist

    directory, _ = fashion_source
    spec = {"name": "fashion_mnist", "data_dir": data_dir, "source_dir": str(directory)}
    first = build_offline(spec)

    def fail(self):
        raise AssertionError("prepared again")

    monkeypatch.setattr(TricksFashionMnist, "_arrays", fail)
    again = build_offline({**spec, "source_dir": "/nonexistent"})  # the source is not read again
    np.testing.assert_array_equal(first.stored_arrays("test")[0], again.stored_arrays("test")[0])


def test_interrupted_preparation_is_not_taken_for_finished(tmp_path):
    source = tmp_path / "idx"
    arrays = write_fashion(source, num_train=30, num_test=10)
    # Corrupt the test labels: preparation fails after writing the train split.
    write_idx(source / "t10k-labels-idx1-ubyte", np.zeros(9, np.uint8))
    spec = {"name": "fashion_mnist", "data_dir": str(tmp_path / "tfds"), "source_dir": str(source)}
    with pytest.raises(registry.RegistryError, match="t10k-labels-idx1-ubyte: expected 10 labels"):
        build_offline(spec)
    assert not (tmp_path / "tfds" / "tricks_fashion_mnist" / "1.0.0").exists()
    # A preparation killed mid-way leaves an incomplete folder behind: it is ignored.
    stale = tmp_path / "tfds" / "tricks_fashion_mnist" / "incomplete.ABCDEF_1.0.0"
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "tricks_fashion_mnist-train.array_record-00000-of-00001").write_bytes(b"half")
    write_idx(source / "t10k-labels-idx1-ubyte", arrays["test"][1])
    ds = build_offline(spec)
    assert ds.split_sizes["test"] == 10
    np.testing.assert_array_equal(ds.labels("test"), arrays["test"][1])


def test_processes_preparing_together_all_succeed(tmp_path):
    """Several processes of one host build the same dataset at once (multi-process runs)."""
    script = (
        "import registry, tricks; "
        f"print(registry.build('dataset', {{'name': 'digits', 'data_dir': {str(tmp_path)!r}}}).split_sizes)"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err[-2000:]
        assert "'test': 360" in out
    assert sorted(os.listdir(tmp_path / "tricks_digits")) == [".prepare.lock", "1.0.0"]


def test_fashion_files_missing_says_how_to_get_them(tmp_path):
    with pytest.raises(registry.RegistryError) as info:
        registry.build(
            "dataset",
            {"name": "fashion_mnist", "data_dir": str(tmp_path), "source_dir": str(tmp_path / "empty")},
        )
    message = str(info.value)
    assert "argument 'source_dir'" in message and "apt-get install -y dataset-fashion-mnist" in message
    assert "t10k-images-idx3-ubyte" in message and "source_dir" in message


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda raw: raw[:-5], "header promises 15680 bytes of data .* truncated or corrupt"),
        (lambda raw: b"\x01" + raw[1:], "not an IDX file"),
        (lambda raw: raw[:2] + b"\x07" + raw[3:], "unknown IDX type code 0x07"),
    ],
)
def test_corrupt_idx_file(tmp_path, corrupt, match):
    source = tmp_path / "idx"
    write_fashion(source, num_train=60, num_test=20)
    path = source / "t10k-images-idx3-ubyte"
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(registry.RegistryError, match=match):
        build_offline(
            {"name": "fashion_mnist", "data_dir": str(tmp_path / "tfds"), "source_dir": str(source)}
        )


def test_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "labels", np.arange(100, dtype=np.uint8), compress=True)
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(IdxError, match="not a valid gzip file"):
        read_idx(path)


def test_idx_round_trip_plain_and_gzipped(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    for compress in (False, True):
        np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "x", images, compress=compress)), images)


def test_validation_carve_is_deterministic_disjoint_and_covering():
    train, val = carve_validation(1000, 0.1, seed=0)
    again_train, again_val = carve_validation(1000, 0.1, seed=0)
    np.testing.assert_array_equal(val, again_val)
    np.testing.assert_array_equal(train, again_train)
    assert len(val) == 100 and not set(train) & set(val)
    assert sorted([*train, *val]) == list(range(1000))
    assert set(carve_validation(1000, 0.1, seed=1)[1]) != set(val)
    # Pinned: the carve depends on nothing but (n, fraction, seed), on every machine.
    assert val[:5].tolist() == carve_validation(1000, 0.1, seed=0)[1][:5].tolist() == [1, 18, 25, 27, 43]


def test_validation_split_of_a_dataset(digits, data_dir):
    source = digits.source("train")
    train_ids = {source._source_index(i) for i in range(len(source))}
    val_source = digits.source("validation")
    val_ids = {val_source._source_index(i) for i in range(len(val_source))}
    assert not train_ids & val_ids and len(train_ids | val_ids) == 1437
    other = build_offline({"name": "digits", "data_dir": data_dir, "validation_seed": 1})
    assert not np.array_equal(other.arrays("validation")[0], digits.arrays("validation")[0])
    none = build_offline({"name": "digits", "data_dir": data_dir, "validation_fraction": 0.0})
    assert none.split_sizes["validation"] == 0 and none.arrays("validation")[0].shape == (0, 8, 8, 1)
    assert none.splits == ("train", "test") and digits.splits == ("train", "validation", "test")
    with pytest.raises(ValueError, match="split 'validation' of digits is empty"):
        make_loader(none, "validation", 8)


@pytest.mark.parametrize(
    "spec, match",
    [
        ("digits(validation_fraction=1.0)", "argument 'validation_fraction': must be in \\[0, 1\\), got 1.0"),
        ("digits(validation_fraction=-0.1)", "must be in \\[0, 1\\)"),
        ("digits(validation_fraction=0.0001)", "leaves 0 for validation"),
        ("digits(validation_seed=-1)", "argument 'validation_seed': must be >= 0"),
        ("digitz", "unknown name \\(did you mean 'digits'\\?\\)"),
        ("tfds(name='mnistt')", "TFDS has no dataset 'mnistt' \\(did you mean 'mnist'"),
        ("cifar10", "dataset 'cifar10': unknown name \\(did you mean tfds\\(name='cifar10'\\)\\?\\)"),
        ("mnist", "dataset 'mnist': unknown name \\(did you mean tfds\\(name='mnist'\\) or 'mnist1d'\\?\\)"),
        ("MNIST", "unknown name \\(did you mean tfds\\(name='mnist'\\) or 'mnist1d'\\?\\)"),
    ],
)
def test_bad_dataset_specs(spec, match, data_dir):
    with pytest.raises(registry.RegistryError, match=match):
        registry.build("dataset", spec if "(" not in spec else spec[:-1] + f", data_dir={data_dir!r})")


def test_catalogue_dataset_not_prepared(tmp_path):
    with pytest.raises(
        registry.RegistryError,
        match="not prepared in .*mnist.3.0.1; prepare it with .tfds build mnist --file_format=array_record.",
    ):
        registry.build("dataset", f"tfds(name='mnist', data_dir={str(tmp_path)!r})")


def test_catalogue_dataset_runs_through_both_loaders(catalogue_mnist):
    assert catalogue_mnist.name == "tfds:mnist" and catalogue_mnist.scale == 1 / 255
    for on_device in (True, False):
        loader = make_loader(catalogue_mnist, "train", batch_size=10, seed=0, on_device=on_device)
        batches = [loader.batch(s) for s in range(3)]
        assert all(b["image"].shape == (10, 28, 28, 1) for b in batches)
        assert len({float(b["image"].sum()) for b in batches}) == 3
