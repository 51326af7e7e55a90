"""Fixtures of the diagnostics tests: a prepared digits dataset and a tiny trained run."""

import pytest

import registry
import tricks  # noqa: F401  (registers the components)


@pytest.fixture(scope="session")
def digits_spec(tmp_path_factory) -> str:
    """A digits spec whose data lives in a temporary TFDS folder (prepared once)."""
    spec = f"digits(data_dir={str(tmp_path_factory.mktemp('tfds'))!r})"
    registry.build("dataset", spec)
    return spec


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, digits_spec):
    """A workdir with a 30-step run of a small MLP on digits (checkpoints at steps 15 and 30)."""
    from tricks.train import default_config, train_and_evaluate

    cfg = default_config()
    cfg.dataset, cfg.model, cfg.num_steps = digits_spec, "mlp(widths=(8,))", 30
    cfg.checkpoint_every, cfg.progress, cfg.eval_splits = 15, False, ["test"]
    workdir = tmp_path_factory.mktemp("run")
    train_and_evaluate(cfg, workdir)
    return workdir
