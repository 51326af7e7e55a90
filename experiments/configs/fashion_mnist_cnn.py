"""The two-conv net on Fashion-MNIST, next to the benchmark's 91.6%.

Needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist).

Command:
  tricks train --config experiments/configs/fashion_mnist_cnn.py --workdir runs/fashion_cnn

Result (2 CPU cores, `python -m experiments.baselines`):
91.74 ± 0.20% test accuracy over 3 seeds (91.74, 91.94, 91.55); the Fashion-MNIST
benchmark's two-conv net: 91.6%. One run trains in about 3 min on 2 CPU cores (171 s for
seed 0, 91.78%, since its calls ran unrolled; before, 0.77 s a step: about 43 min). On a
2-core AVX2 machine (session 24): 259 s with XLA's own convolutions (`tricks._xla_cpu`),
399 s with YNNPACK's (jaxlib's default); test accuracy 91.43% and 91.68%. Session 25,
same machine, the calls' loop with its convolutions laid out
(`tricks.train.canonical_convolutions`) instead of unrolled calls: 186 s (191 s for the
command), 91.43%.
"""

from tricks.train import default_config


def get_config(arg=None):
    """Fashion-MNIST, conv 32-64 with max pooling, dense 128 with dropout, AdamW, random crops."""
    cfg = default_config()
    cfg.dataset = "fashion_mnist"
    cfg.model = "cnn(channels=(32, 64), dense=(128,), dense_dropout=0.3)"
    cfg.augment = ["random_crop(padding=2)"]
    cfg.batch_size = 128
    cfg.num_epochs = 8
    cfg.optimizer = {
        "name": "adamw",
        "learning_rate": "warmup(cosine(init_value=0.002), warmup_steps=200)",
        "weight_decay": 1e-4,
    }
    cfg.eval_every = 1000
    cfg.log_every = 100
    if arg == "smoke":
        cfg.num_epochs, cfg.num_steps, cfg.eval_every, cfg.log_every = 1, 4, 2, 2
        cfg.dataset, cfg.eval_splits = "fashion_mnist(validation_fraction=0.01)", ["validation"]
    return cfg
