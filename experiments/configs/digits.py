"""The embedded default: an MLP on scikit-learn's 8x8 digits.

Command:
  tricks train --config experiments/configs/digits.py --workdir runs/digits

Result (2 CPU cores): RESULT_PLACEHOLDER
"""

from tricks.train import default_config


def get_config(arg=None):
    """The digits MLP; ``arg="smoke"`` shrinks it to a few steps."""
    cfg = default_config()
    cfg.dataset = "digits"
    cfg.model = "mlp(widths=(256, 256), dropout=0.1)"
    cfg.loss = "cross_entropy(label_smoothing=0.05)"
    cfg.batch_size = 128
    cfg.num_epochs = 40
    cfg.optimizer = {
        "name": "adamw",
        "learning_rate": "warmup(cosine(init_value=0.003, decay_steps=360), warmup_steps=40)",
        "weight_decay": 1e-4,
    }
    cfg.eval_every = 100
    cfg.log_every = 20
    if arg == "smoke":
        cfg.num_epochs, cfg.num_steps, cfg.eval_every, cfg.log_every = 1, 4, 2, 2
    return cfg
