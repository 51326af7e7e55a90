"""An MLP on MNIST-1D (Greydanus & Kobak 2020), the published 68% baseline.

Command:
  tricks train --config experiments/configs/mnist1d_mlp.py --workdir runs/mnist1d_mlp

Result (2 CPU cores): RESULT_PLACEHOLDER
"""

from tricks.train import default_config


def get_config(arg=None):
    """MNIST-1D, 2x100 ReLU MLP, Adam 1e-2 with cosine decay; ``arg="smoke"`` shrinks it."""
    cfg = default_config()
    cfg.dataset = "mnist1d"
    cfg.model = "mlp(widths=(100, 100))"
    cfg.batch_size = 100
    cfg.num_steps = 6000
    cfg.optimizer = {"name": "adam", "learning_rate": "cosine(init_value=0.01, decay_steps=6000)"}
    cfg.eval_every = 1000
    cfg.log_every = 100
    if arg == "smoke":
        cfg.num_steps, cfg.eval_every, cfg.log_every = 4, 2, 2
    return cfg
