"""An MLP on MNIST-1D (Greydanus & Kobak 2020), the published 68% baseline.

Command:
  tricks train --config experiments/configs/mnist1d_mlp.py --workdir runs/mnist1d_mlp

Result (2 CPU cores, `python -m experiments.baselines`):
59.80 ± 1.15% test accuracy over 3 seeds (61.10, 59.40, 58.90), the 3 seeds side by side
in 8 s (session 9); published (Greydanus & Kobak 2020): MLP 68%, logistic regression 32%.
Below the published figure. It overfits (test NLL rises after step ~2000); the published
MLP trains on all 4000 examples, ours on 3600. An earlier session recorded 66.27 ± 0.84%
(66.80, 66.70, 65.30); the commit that recorded it (0079730), run again on this machine,
gives 60.8% for seed 0, so the difference lies outside the code (the generated MNIST-1D
data, most likely) and is not explained yet.
"""

from tricks.train import default_config


def get_config(arg=None):
    """MNIST-1D, 2x100 ReLU MLP, Adam 1e-2 with cosine decay; ``arg="smoke"`` shrinks it."""
    cfg = default_config()
    cfg.dataset = "mnist1d"
    cfg.model = "mlp(widths=(100, 100))"
    cfg.batch_size = 100
    cfg.num_steps = 6000
    cfg.optimizer = {"name": "adam", "learning_rate": "cosine(init_value=0.01)"}
    cfg.eval_every = 1000
    cfg.log_every = 100
    if arg == "smoke":
        cfg.num_steps, cfg.eval_every, cfg.log_every = 4, 2, 2
    return cfg
