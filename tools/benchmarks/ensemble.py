"""Ensemble evaluation: M members by jax.vmap, jax.lax.map and a Python loop of jitted calls.

Each model gets M members of random weights (different init seeds) and one batch of
random inputs; the figure is seconds per batch for all members, the best of --repeats
calls after a warm-up (compilation) call: exactly what `tricks.ensembles.member_logits`
measures when its strategy is 'auto', which keeps the fastest. vmap and map run all
members in one jitted call over stacked parameters; the loop makes M jitted calls.

Examples:
  tricks bench ensemble
  tricks bench ensemble --members 5 --batch 500 --repeats 5 --models cnn
"""

from __future__ import annotations

import argparse

MODELS = {
    # name: (model spec, input shape of one example): MNIST-1D and Fashion-MNIST sizes
    "mlp": ("mlp(widths=(256, 256), num_classes=10)", (28, 28, 1)),
    "cnn": ("cnn(channels=(32, 64), dense=(128,), num_classes=10)", (28, 28, 1)),
    "cnn1d": ("cnn1d(num_classes=10)", (40,)),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", type=int, default=5, help="ensemble size M (default 5)")
    parser.add_argument("--batch", type=int, default=256, help="examples per batch (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per strategy; the best is shown")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))


def members_of(spec: str, input_shape: tuple[int, ...], count: int):
    """`count` members of the model `spec` with weights from init seeds 0 .. count - 1."""
    import jax
    import jax.numpy as jnp

    import registry
    from tricks import ensembles

    model = registry.build("model", spec)
    example = jnp.zeros((1, *input_shape), jnp.float32)
    return [
        ensembles.Member(f"m{i}", model, model.init(jax.random.PRNGKey(i), example, train=False), spec)
        for i in range(count)
    ]


def run(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp

    from tricks import ensembles

    print(
        f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), M={args.members} members, "
        f"batch {args.batch}, best of {args.repeats}"
    )
    print(
        f"{'model':<7} {'vmap (ms)':>10} {'map (ms)':>10} {'loop (ms)':>10}  {'auto picks':<10} "
        f"{'vmap/loop':>9} {'map/loop':>9}"
    )
    for name in args.models:
        spec, shape = MODELS[name]
        members = members_of(spec, shape, args.members)
        images = jax.random.uniform(jax.random.PRNGKey(0), (args.batch, *shape))
        batch = {"image": images, "label": jnp.zeros(args.batch, jnp.int32)}
        t = ensembles.measure_strategies(members, batch, args.repeats)
        best = min(t, key=t.get)
        print(
            f"{name:<7} {1e3 * t['vmap']:>10.2f} {1e3 * t['map']:>10.2f} {1e3 * t['loop']:>10.2f}  "
            f"{best:<10} "
            f"{t['vmap'] / t['loop']:>9.2f} {t['map'] / t['loop']:>9.2f}",
            flush=True,
        )
    return 0
