"""Arrays in: `tricks.data.from_arrays` from Python, the ``arrays(path=...)`` dataset from the command line."""

import json

import numpy as np
import pytest

import registry
from tools.cli import main
from tricks import train
from tricks.config import ConfigError
from tricks.data import from_arrays


def blobs(n, seed):
    """Two separable classes in 5 dimensions, as uint8 'pixels'."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.clip(rng.normal(100 + 60 * y[:, None], 20, size=(n, 5)), 0, 255).astype(np.uint8)
    return x, y


def quick(dataset, **fields):
    cfg = train.default_config()
    cfg.dataset, cfg.model, cfg.num_steps, cfg.eval_every, cfg.batch_size = dataset, "mlp(widths=(16,))", 60, 60, 32
    cfg.progress, cfg.log_every, cfg.optimizer = False, 20, "adam(learning_rate=0.03)"
    for key, value in fields.items():
        cfg[key] = value
    return cfg


def test_arrays_in_memory_train_and_are_asked_for_again_afterwards(tmp_path, capsys):
    ds = from_arrays(blobs(300, 0), blobs(100, 1), validation=blobs(50, 2), class_names=["low", "high"],
                     scale=1 / 255)
    assert ds.split_sizes == {"train": 300, "validation": 50, "test": 100} and ds.dtype == np.uint8
    summary = train.train_and_evaluate(quick(ds), tmp_path)
    assert summary["splits"]["test"]["accuracy"] > 0.9 and summary["splits"]["validation"]["examples"] == 50
    recorded = json.loads((tmp_path / "config.json").read_text())["dataset"]
    assert recorded["name"] == "in_memory" and recorded["split_sizes"]["test"] == 100
    with pytest.raises(ConfigError, match=r"arrays given in memory .* tricks.train.load\(workdir, dataset="):
        train.load(tmp_path)
    run = train.load(tmp_path, dataset=ds)
    x, y = blobs(100, 1)
    assert run.evaluate(x, y)["accuracy"] == pytest.approx(summary["splits"]["test"]["accuracy"])
    capsys.readouterr()
    assert main(["eval", "--workdir", str(tmp_path)]) == 2
    assert "arrays given in memory" in capsys.readouterr().out


def test_an_npz_file_is_a_dataset_for_the_command_line(tmp_path, capsys):
    (x, y), (xt, yt) = blobs(300, 0), blobs(100, 1)
    path = tmp_path / "data.npz"
    np.savez(path, x_train=x, y_train=y, x_test=xt, y_test=yt)
    spec = f"arrays(path={str(path)!r}, scale=0.00392156862745098, validation_fraction=0.1)"
    workdir = tmp_path / "run"
    assert main(["train", "--workdir", str(workdir), f"--config.dataset={spec}", "--config.model=mlp(widths=(16,))",
                 "--config.num_steps=60", "--config.batch_size=32", "--config.progress=false",
                 "--config.optimizer=adam(learning_rate=0.03)"]) == 0
    assert main(["eval", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    assert "validation" in out and "test" in out
    assert registry.build("dataset", spec).split_sizes == {"train": 270, "validation": 30, "test": 100}


@pytest.mark.parametrize("kwargs, match", [
    ({"train": (np.zeros((4, 2)), np.zeros(3, int))}, "train: 4 examples in x but 3 labels in y"),
    ({"train": (np.zeros((4, 2)), np.zeros(4))}, "train: y must be one integer label per example"),
    ({"train": (np.zeros(4), np.zeros(4, int))}, r"train: x must be a numeric array of shape \(N, features...\)"),
    ({"test": (np.zeros((4, 3)), np.zeros(4, int))}, r"test: features of shape \(3,\) per example, but train's are \(2,\)"),
    ({"train": (np.zeros((4, 2)), -np.ones(4, int))}, "train: labels must be >= 0"),
    ({"class_names": ["a"]}, "labels go up to 1, but class_names names 1 classes"),
    ({"train": (np.zeros((0, 2)), np.zeros(0, int))}, "train: no examples"),
])
def test_bad_arrays_get_a_clear_error(kwargs, match):
    good = {"train": (np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1])),
            "test": (np.zeros((2, 2), np.float32), np.array([0, 1]))}
    with pytest.raises(ValueError, match=match):
        from_arrays(**(good | kwargs))


def test_a_bad_npz_file_is_named(tmp_path):
    np.savez(tmp_path / "some.npz", x_train=np.zeros((2, 2)))
    with pytest.raises(registry.RegistryError, match="lacks y_train, x_test, y_test; it holds x_train"):
        registry.build("dataset", f"arrays(path={str(tmp_path / 'some.npz')!r})")
    with pytest.raises(registry.RegistryError, match="no such file"):
        registry.build("dataset", f"arrays(path={str(tmp_path / 'none.npz')!r})")
