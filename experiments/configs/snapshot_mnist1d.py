"""A snapshot-ensemble run on MNIST-1D: the 1-D CNN with 5 sgdr cycles, a snapshot at each cycle end.

The same recipe and budget as mnist1d_cnn.py (Adam, peak rate 0.01, 6000 steps), with
the cosine schedule replaced by sgdr restarted every 1200 steps (Huang et al. 2017); the
5 snapshots are the members of the ensemble (experiments/snapshot_ensembles.py
compares it with the cosine run and with a 5-seed ensemble).

Command:
  tricks train --config experiments/configs/snapshot_mnist1d.py --workdir runs/snapshot_mnist1d
  tricks ensemble --workdir runs/snapshot_mnist1d --members cycle_ends

Result (2 CPU cores, 3 seeds, test error): see experiments/snapshot_ensembles.py.
"""

from tricks.train import default_config


def get_config(arg=None):
    """MNIST-1D, cnn1d, Adam with sgdr(0.01, t0=1200) over 6000 steps, snapshots at the 5 cycle ends."""
    cfg = default_config()
    cfg.dataset = "mnist1d"
    cfg.model = "cnn1d"
    cfg.batch_size = 100
    cfg.num_steps = 6000
    cfg.optimizer = {"name": "adam", "learning_rate": "sgdr(init_value=0.01, t0=1200)"}
    cfg.snapshots = "cycle_ends"
    cfg.eval_every = 1200
    cfg.log_every = 100
    if arg == "smoke":
        cfg.num_steps, cfg.eval_every, cfg.log_every = 4, 2, 2
        cfg.optimizer = {"name": "adam", "learning_rate": "sgdr(init_value=0.01, t0=2)"}
    return cfg
