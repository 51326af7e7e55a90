"""Trains a small batch-norm MLP with SGD for 50 steps (run by test_scale.py in subprocesses).

Usage: python scale_worker.py WORKDIR PARALLEL
"""

import sys

import jax
import numpy as np

from tricks import train


def config():
    cfg = train.default_config()
    cfg.model = "mlp(widths=(64, 64), batch_norm=True)"
    # SGD, not the default Adam: Adam divides each gradient by its own running size, so a weight
    # whose gradient is rounding noise steps by up to the full rate, its sign chosen by that noise;
    # one device and eight (which sum the batch in another order) then drifted apart by 3% on an
    # AVX-512 machine (session 14) while agreeing within 1e-5 on the machines before.
    cfg.optimizer = "momentum(learning_rate=0.05, momentum=0.9)"
    cfg.num_steps, cfg.eval_every, cfg.log_every, cfg.progress, cfg.eval_splits = 50, 50, 25, False, ["test"]
    return cfg


def leaves(workdir: str) -> list[np.ndarray]:
    """The parameters and batch statistics saved at step 50, as host arrays."""
    cfg = config()
    run = train.setup(cfg)
    state, _ = train.Checkpoints(workdir, read_only=True).restore(50, run.state)
    return [np.asarray(x) for x in jax.tree.leaves((state.params, state.batch_stats))]


if __name__ == "__main__":
    workdir, parallel = sys.argv[1:3]
    cfg = config()
    cfg.parallel = parallel
    train.train_and_evaluate(cfg, workdir)
