"""One Hessian-vector product against one gradient, on the toolkit's models (goal: HVP <= 3x gradient).

For each model, on a batch of random inputs and labels: the median time of one jitted
gradient of the cross-entropy loss (``jax.grad``), of one jitted Hessian-vector product
(`tricks.diagnostics.hvp`: ``jax.jvp`` of ``jax.grad``, forward-over-reverse), and their
ratio (the median of the ratios of alternated calls, so drifts in machine load hit
both). Forward-over-reverse differentiates the backward pass once more in forward
mode, so theory puts an HVP at about 2-3 gradients.

Measured (2 CPU cores shared with other jobs, batch 128, 20 repeats): mlp 1.88x,
deep_mlp 2.01x, cnn1d 2.29x, cnn 1.70x, resnet20 1.81x. At batch 32 the 10-layer tanh
MLP reaches 4.2x (7.8 ms against 1.7 ms): there the many small element-wise operations
of the second-order pass cost more than their share of the arithmetic.

Examples:
  tricks bench hvp
  tricks bench hvp --quick
  tricks bench hvp --models mlp cnn1d --repeats 50 --batch 256
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import optax

MODELS = {
    "mlp": ("mlp(num_classes=10, widths=(256, 256))", (8, 8, 1)),
    "deep_mlp": (
        "mlp(num_classes=10, widths=(128, 128, 128, 128, 128, 128, 128, 128, 128, 128), activation='tanh')",
        (8, 8, 1),
    ),
    "cnn1d": ("cnn1d(num_classes=10)", (40,)),
    "cnn": ("cnn(num_classes=10)", (28, 28, 1)),
    "resnet20": ("resnet(num_classes=10, depth=20)", (32, 32, 3)),
}
"""Model spec and input shape of each benchmark row."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="*", choices=sorted(MODELS), help="rows to run (default: all)")
    parser.add_argument("--batch", type=int, default=128, help="examples per batch (default: 128)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls of each (default: 20)")
    parser.add_argument("--quick", action="store_true", help="batch 32, 5 repeats, no resnet20")


def functions(spec: str, shape: tuple[int, ...], batch: int):
    """(grad_fn, hvp_fn, params, vector) for one model: both jitted, on a random batch.

    Examples:
        >>> grad_fn, hvp_fn, params, vector = functions("mlp(num_classes=3, widths=(4,))", (5,), 2)
        >>> shape = jax.numpy.shape
        >>> jax.tree.map(shape, hvp_fn(params, vector)) == jax.tree.map(shape, grad_fn(params))
        True
    """
    import registry
    import tricks  # noqa: F401  (registers the models)
    from tricks.diagnostics import hvp

    model = registry.build("model", spec)
    x = jax.random.normal(jax.random.key(0), (batch, *shape))
    labels = jax.nn.one_hot(jax.random.randint(jax.random.key(1), (batch,), 0, 10), model.num_classes)
    variables = model.init(jax.random.key(2), x, train=False)
    extra = {k: v for k, v in variables.items() if k != "params"}

    def loss(params):
        logits = model.apply({"params": params, **extra}, x, train=False)
        return optax.softmax_cross_entropy(logits, labels).mean()

    params = variables["params"]
    vector = jax.tree.map(lambda p: jax.random.normal(jax.random.key(3), p.shape, p.dtype), params)
    return jax.jit(jax.grad(loss)), jax.jit(lambda p, v: hvp(loss, p, v)), params, vector


def measure(spec: str, shape: tuple[int, ...], batch: int, repeats: int) -> dict[str, float]:
    """Median seconds of one gradient and one HVP, and the median ratio of alternated calls."""
    grad_fn, hvp_fn, params, vector = functions(spec, shape, batch)

    def once(fn, *args) -> float:
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        return time.perf_counter() - start

    for _ in range(2):  # compile and warm up
        once(grad_fn, params)
        once(hvp_fn, params, vector)
    grads, hvps = [], []
    for _ in range(repeats):
        grads.append(once(grad_fn, params))
        hvps.append(once(hvp_fn, params, vector))
    ratios = [h / g for g, h in zip(grads, hvps)]
    size = sum(p.size for p in jax.tree.leaves(params))
    return {
        "params": size,
        "grad": statistics.median(grads),
        "hvp": statistics.median(hvps),
        "ratio": statistics.median(ratios),
    }


def run(args: argparse.Namespace) -> int:
    batch, repeats = (32, 5) if args.quick else (args.batch, args.repeats)
    names = args.models or [n for n in MODELS if not (args.quick and n == "resnet20")]
    print(f"{jax.devices()[0].platform}, batch {batch}, median of {repeats} alternated calls")
    print(f"{'model':<10} {'params':>9} {'gradient':>11} {'HVP':>11} {'HVP/gradient':>13}")
    worst = 0.0
    for name in names:
        spec, shape = MODELS[name]
        m = measure(spec, shape, batch, repeats)
        worst = max(worst, m["ratio"])
        print(
            f"{name:<10} {m['params']:>9} {1e3 * m['grad']:>9.2f}ms {1e3 * m['hvp']:>9.2f}ms "
            f"{m['ratio']:>13.2f}"
        )
    print(f"largest ratio {worst:.2f} (goal <= 3)")
    return 0
