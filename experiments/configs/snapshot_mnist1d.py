"""A snapshot-ensemble run on MNIST-1D: the 1-D CNN with 5 sgdr cycles, a snapshot at each cycle end.

The same recipe and budget as mnist1d_cnn.py (Adam, peak rate 0.01, 6000 steps), with
the cosine schedule replaced by sgdr restarted every 1200 steps (Huang et al. 2017); the
5 snapshots are the members of the ensemble.

Command:
  tricks train --config experiments/configs/snapshot_mnist1d.py --workdir runs/snapshot_mnist1d
  tricks ensemble --workdir runs/snapshot_mnist1d --members cycle_ends

Result (2 CPU cores, 3 seeds, test error %; measured by the script that preceded
`tricks experiments run ensembles`, which now measures every form of ensemble on
Fashion-MNIST): the snapshot ensemble 5.63 ± 0.71, its last snapshot alone 5.90 ± 0.85,
SWA of the snapshots 6.43 ± 0.60, against the cosine run (mnist1d_cnn.py) 7.00 ± 0.96
and an ensemble of 5 cosine runs of different seeds (5x the steps) 2.80 ± 0.10. Most of
the gain is the sgdr schedule itself; cycles of 1200 steps (33 epochs) converge.
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
