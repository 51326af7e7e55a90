"""An MLP on Fashion-MNIST, next to the benchmark's 88.3% MLP.

Needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist).

Command:
  tricks train --config experiments/configs/fashion_mnist_mlp.py --workdir runs/fashion_mlp

Result (2 CPU cores, `python -m experiments.baselines`):
89.59 ± 0.10% test accuracy over 3 seeds (89.53, 89.53, 89.71), about 100 s per run;
the Fashion-MNIST benchmark's MLPClassifier: 88.3%.
"""

from tricks.train import default_config


def get_config(arg=None):
    """Fashion-MNIST, 2x256 ReLU MLP with dropout, AdamW with warmup and cosine decay."""
    cfg = default_config()
    cfg.dataset = "fashion_mnist"
    cfg.model = "mlp(widths=(256, 256), dropout=0.2)"
    cfg.batch_size = 128
    cfg.num_epochs = 20
    cfg.optimizer = {
        "name": "adamw",
        "learning_rate": "warmup(cosine(init_value=0.002), warmup_steps=400)",
        "weight_decay": 1e-4,
    }
    cfg.eval_every = 2000
    cfg.log_every = 200
    if arg == "smoke":
        cfg.num_epochs, cfg.num_steps, cfg.eval_every, cfg.log_every = 1, 4, 2, 2
        cfg.dataset, cfg.eval_splits = "fashion_mnist(validation_fraction=0.01)", ["validation"]
    return cfg
