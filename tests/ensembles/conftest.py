"""Tiny trained runs shared by the ensemble tests: a 2-seed sweep with snapshots, and a batch-norm run."""

import contextlib
import io
import json

import pytest


@pytest.fixture(scope="session", autouse=True)
def _data_dir(shared_data_dir):
    return shared_data_dir


SNAPSHOT_CONFIG = {
    "dataset": "digits",
    "model": "mlp(widths=(32,))",
    "optimizer": "adam(learning_rate=sgdr(init_value=0.03, t0=6))",
    "num_steps": 30,
    "snapshots": "cycle_ends",
    "eval_every": 30,
    "progress": False,
}
"""Digits, a small MLP, 5 sgdr cycles of 6 steps: 5 snapshots at steps 6, 12, ..., 30."""


@pytest.fixture(scope="session")
def sweep_root(tmp_path_factory, shared_data_dir):
    """A sweep over two seeds of `SNAPSHOT_CONFIG`, run through 'tricks sweep'; (root, printed text)."""
    from tools.cli import main

    root = tmp_path_factory.mktemp("sweep")
    config = root / "config.json"
    config.write_text(json.dumps(SNAPSHOT_CONFIG))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            ["sweep", "--config", str(config), "--workdir", str(root / "runs"), "--grid", "seed=[0,1]"]
        )
    assert code == 0, out.getvalue()
    return root / "runs", out.getvalue()


@pytest.fixture(scope="session")
def snapshot_run(sweep_root):
    """The seed-0 run of the sweep: 5 snapshots."""
    return sweep_root[0] / "00_seed=0"


@pytest.fixture(scope="session")
def bn_run(tmp_path_factory, shared_data_dir):
    """A CNN with batch norm on digits, 3 sgdr cycles of 4 steps (snapshots at 4, 8, 12)."""
    from tricks import train

    cfg = train.default_config()
    cfg.model = "cnn(channels=(4,), dense=(), batch_norm=True)"
    cfg.optimizer = "adam(learning_rate=sgdr(init_value=0.03, t0=4))"
    cfg.num_steps, cfg.snapshots, cfg.eval_every, cfg.progress = 12, "cycle_ends", 12, False
    workdir = tmp_path_factory.mktemp("bn_run")
    with contextlib.redirect_stdout(io.StringIO()):
        train.train_and_evaluate(cfg, workdir)
    return workdir
