"""A 10-layer tanh MLP on scikit-learn's digits: the init diagnostics' test bed for tanh.

The catalogue (SPEC §4) predicts that Xavier/Glorot initialization suits tanh: the
activations keep their spread through the ten layers without saturating, while a small
normal init collapses them towards 0 and a large one saturates them at ±1.

Commands:
  tricks diagnose init --config experiments/configs/deep_tanh_mlp.py \\
      --init xavier_normal,kaiming_normal,orthogonal,"normal(stddev=0.01)","normal(stddev=1.0)"
  tricks train --config experiments/configs/deep_tanh_mlp.py --workdir runs/deep_tanh_mlp
"""

from tricks.train import default_config


def get_config(arg=None):
    """Ten hidden tanh layers of 128 units, Xavier-initialized, SGD + momentum; ``arg="smoke"``: 4 steps."""
    cfg = default_config()
    cfg.dataset = "digits"
    cfg.model = {"name": "mlp", "widths": [128] * 10, "activation": "tanh", "init": "xavier_normal"}
    cfg.loss = "cross_entropy"
    cfg.optimizer = "momentum(learning_rate='cosine(init_value=0.05)', momentum=0.9)"
    cfg.batch_size = 128
    cfg.num_epochs = 40
    cfg.eval_every = 110
    cfg.log_every = 11
    if arg == "smoke":
        cfg.num_epochs, cfg.num_steps, cfg.eval_every, cfg.log_every = 1, 4, 2, 2
    return cfg
