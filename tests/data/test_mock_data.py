"""TFDS catalogue datasets under `tfds.testing.mock_data`, as flax's example tests run them.

flax's examples/mnist/train_test.py trains one epoch inside
``tfds.testing.mock_data(num_examples=8)``; a config naming ``tfds(name='mnist')`` does
the same here, with nothing prepared or downloaded and no TensorFlow.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

import registry
from tricks import train
from tricks.data import make_loader

MOCK_DATA_DIRS = (
    pathlib.Path(tfds.testing.__file__).parent / "metadata",  # the default policy's (not in the wheel)
    pathlib.Path("/tmp/non-existing"),  # MockPolicy.USE_CODE's
)


@pytest.fixture(autouse=True)
def nothing_written_for_the_mock():
    """No cache, lock or folder appears in TFDS's package or the mock's data dirs."""
    before = {d: d.exists() for d in MOCK_DATA_DIRS}
    yield
    assert {d: d.exists() for d in MOCK_DATA_DIRS} == before


def test_config_on_tfds_mnist_trains_under_mock_data(tmp_path):
    cfg = train.default_config()
    cfg.dataset = "tfds(name='mnist')"
    cfg.batch_size, cfg.eval_batch_size = 8, 16
    cfg.num_steps, cfg.eval_every, cfg.log_every, cfg.progress = 4, 2, 2, False
    with tfds.testing.mock_data(num_examples=40):
        summary = train.train_and_evaluate(cfg, tmp_path)
        trained = train.load(tmp_path)
        reloaded = trained.evaluate_splits()
    assert summary["step"] == 4 and 0.0 <= summary["eval"]["accuracy"] <= 1.0
    assert set(summary["splits"]) == {"validation", "test"} == set(reloaded)
    assert reloaded["test"]["accuracy"] == pytest.approx(summary["splits"]["test"]["accuracy"])
    assert trained.components.dataset.split_sizes == {"train": 36, "validation": 4, "test": 40}


@pytest.mark.parametrize("policy", [tfds.testing.MockPolicy.AUTO, tfds.testing.MockPolicy.USE_CODE])
def test_mock_data_serves_its_examples_to_both_loaders(policy):
    with tfds.testing.mock_data(num_examples=20, policy=policy):
        ds = registry.build("dataset", "tfds(name='mnist', validation_fraction=0.0)")
    assert ds.split_sizes == {"train": 20, "validation": 0, "test": 20} and ds.num_classes == 10
    x, y = ds.arrays("train")
    assert x.shape == (20, 28, 28, 1) and 0.0 <= x.min() and x.max() <= 1.0 and y.max() < 10
    for on_device in (True, False):
        batch = make_loader(ds, "train", batch_size=8, seed=0, on_device=on_device).batch(0)
        assert batch["image"].shape == (8, 28, 28, 1) and batch["label"].shape == (8,)


def constant_images(value: int, num_examples: int = 12):
    """A `mock_data(as_data_source_fn=...)` whose every image is `value` (label 3)."""

    def as_data_source(builder, split, **kwargs):
        example = {"image": np.full((28, 28, 1), value, np.uint8), "label": 3}
        return [[example] * num_examples for _ in split]

    return as_data_source


def test_each_mock_gives_its_own_examples():
    """Mocked examples are not cached: the next mock's are read, not the last one's."""
    images = []
    for value in (3, 9):
        with tfds.testing.mock_data(as_data_source_fn=constant_images(value)):
            ds = registry.build("dataset", "tfds(name='mnist', validation_fraction=0.0)")
            images.append(ds.stored_arrays("test")[0])
    assert [np.unique(x).tolist() for x in images] == [[3], [9]]
    with tfds.testing.mock_data(num_examples=7):
        assert registry.build("dataset", "tfds(name='mnist')").split_sizes["test"] == 7
