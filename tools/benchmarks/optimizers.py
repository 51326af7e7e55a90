"""Jitted update time of every registered optimizer vs its hand-written Optax chain (and torch).

For each name in the registry's ``optimizer`` kind, on a pytree of ten 1000x1000 dense
layers with biases (10.01M float32 parameters by default), as a training step runs it
(``update`` then ``apply_updates``, the state donated): the time for our
optimizer built through the registry, the same for the equivalent chain written
directly with Optax, and their ratio (goal <= 1.05: injecting the hyperparameters into
the state should cost nothing measurable); the ratio of the bytes the two compiled
steps read and write by XLA's cost analysis (a noise-free check: a step on 10M
parameters is memory-bound); and, when torch is importable, ``torch.optim``'s
``foreach`` step of the same algorithm on the same CPU. The last column names the
hand-written chain; tests/optimizers check that each pair computes the same updates.

Times are the best of ``--repeats`` samples (timeit's convention: load from other
processes only ever adds time), ours and the raw chain alternating; a sample averages
a whole cycle of calls where the cost varies from call to call (accumulate: k calls).

Examples:
  tricks bench optimizers
  tricks bench optimizers --quick
  tricks bench optimizers --names 'adam*' sgd --repeats 50
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

import registry

LR = 1e-3


def _decay_mask(params):
    """The hand-written equivalent of our default mask on the benchmark tree: kernels only."""
    return jax.tree.map(lambda x: x.ndim > 1, params)


def _first_layer(params):
    return {k: jax.tree.map(lambda _, first=(k == "layer_0"): first, v) for k, v in params.items()}


def _torch_muon(**kwargs):
    """torch's Muon on the kernels (it takes matrices only) and AdamW without decay on the biases."""

    def make(kernels, biases):
        import torch

        muon = torch.optim.Muon(kernels, **kwargs)
        adamw = torch.optim.AdamW(biases, lr=kwargs["lr"], weight_decay=0.0, foreach=True)

        def step():
            muon.step()
            adamw.step()

        return step

    return make


def _raw_lookahead():
    return optax.lookahead(optax.adam(LR), sync_period=5, slow_step_size=0.5)


def _raw_sam(rho: float = 0.05):
    """`optax.contrib.sam` as one SAM step per call (``opaque_mode=True``, one ascent step of
    ρ·g/‖g‖), its ``grad_fn`` built from the ``value_fn`` our ``update`` takes."""
    sam = optax.contrib.sam(
        optax.adam(LR), optax.chain(optax.contrib.normalize(), optax.sgd(rho)), sync_period=2, opaque_mode=True
    )

    def update(updates, state, params=None, *, value_fn, **extra):
        del extra
        return sam.update(updates, state, params, grad_fn=lambda p, _: jax.grad(value_fn)(p))

    return optax.GradientTransformationExtraArgs(sam.init, update)


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark row.

    Attributes:
        spec: our optimizer, built through the registry.
        raw: builds the equivalent chain written directly with Optax.
        note: what the raw chain is.
        torch: given the torch parameters (kernels, biases), returns a function doing one
            ``foreach`` step; None where torch.optim has no such algorithm.
        line_search: ``update`` takes ``value``, ``grad`` and ``value_fn``.
        raw_params: puts plain parameters in the raw chain's container (lookahead's).
        raw_view: the plain (fast) parameters of that container.
        calls: updates per timed sample (a whole cycle where calls differ in cost).
        repeats: samples, when fewer than ``--repeats`` are enough (slow updates).
    """

    spec: str
    raw: Callable[[], optax.GradientTransformation]
    note: str
    torch: Callable[[list, list], Callable[[], Any]] | None = None
    line_search: bool = False
    raw_params: Callable[[Any], Any] = lambda p: p
    raw_view: Callable[[Any], Any] = lambda p: p
    calls: int = 1
    repeats: int | None = None


def _torch(
    name: str,
    groups: bool = False,
    clip: float | None = None,
    clip_value: float | None = None,
    first_layer: float | None = None,
    **kwargs,
):
    """A torch step factory: ``torch.optim.<name>(..., foreach=True, **kwargs)``.

    ``groups``: weight decay on the kernels only; ``clip`` / ``clip_value``: the gradients
    clipped first, by global norm / by value (torch's ``foreach`` clipping);
    ``first_layer``: the learning-rate factor of layer_0 (a parameter group), 0 leaving
    it out of the optimizer (frozen).
    """

    def make(kernels, biases):
        import torch

        options = dict(kwargs)
        if groups:  # weight decay on the kernels only, like our default mask
            decay = options.pop("weight_decay")
            params = [{"params": kernels, "weight_decay": decay}, {"params": biases, "weight_decay": 0.0}]
        elif first_layer is not None:  # layer_0 sorts first
            first, rest = [kernels[0], biases[0]], kernels[1:] + biases[1:]
            params = [{"params": rest}]
            if first_layer > 0:
                params.append({"params": first, "lr": options["lr"] * first_layer})
        else:
            params = kernels + biases
        opt = getattr(torch.optim, name)(params, foreach=True, **options)

        def step():
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(kernels + biases, clip, foreach=True)
            if clip_value is not None:
                torch.nn.utils.clip_grad_value_(kernels + biases, clip_value, foreach=True)
            opt.step()

        return step

    return make


def _scale_first_layer(factor):
    def update(updates, state, params=None):
        del params
        scaled = {
            k: jax.tree.map(lambda u: u * factor, v) if k == "layer_0" else v for k, v in updates.items()
        }
        return scaled, state

    return optax.GradientTransformation(optax.init_empty_state, update)


def _cases() -> dict[str, Case]:
    from tricks.optimizers import scale_by_adabound, scale_by_swats
    from tricks.schedules import reduce_on_plateau, scale_by_plateau

    adam = _torch("Adam", lr=LR)
    return {
        "sgd": Case("sgd(learning_rate=0.01)", lambda: optax.sgd(0.01), "optax.sgd", _torch("SGD", lr=0.01)),
        "momentum": Case(
            "momentum(learning_rate=0.01, momentum=0.9)",
            lambda: optax.sgd(0.01, momentum=0.9),
            "optax.sgd(momentum=0.9)",
            _torch("SGD", lr=0.01, momentum=0.9),
        ),
        "nesterov": Case(
            "nesterov(learning_rate=0.01, momentum=0.9)",
            lambda: optax.sgd(0.01, momentum=0.9, nesterov=True),
            "optax.sgd(nesterov=True)",
            _torch("SGD", lr=0.01, momentum=0.9, nesterov=True),
        ),
        "sgdw": Case(
            "sgdw(learning_rate=0.01, momentum=0.9, weight_decay=1e-4)",
            lambda: optax.chain(
                optax.trace(0.9),
                optax.add_decayed_weights(1e-4, _decay_mask),
                optax.scale_by_learning_rate(0.01),
            ),
            "chain(trace, masked add_decayed_weights, lr)",
        ),
        "adagrad": Case(
            "adagrad(learning_rate=0.01)",
            lambda: optax.adagrad(0.01),
            "optax.adagrad",
            _torch("Adagrad", lr=0.01),
        ),
        "rmsprop": Case(
            "rmsprop(learning_rate=0.01)",
            lambda: optax.rmsprop(0.01),
            "optax.rmsprop",
            _torch("RMSprop", lr=0.01, alpha=0.9),
        ),
        "adadelta": Case(
            "adadelta()", lambda: optax.adadelta(1.0), "optax.adadelta", _torch("Adadelta", lr=1.0)
        ),
        "adam": Case("adam()", lambda: optax.adam(LR), "optax.adam", adam),
        "amsgrad": Case(
            "amsgrad()", lambda: optax.amsgrad(LR), "optax.amsgrad", _torch("Adam", lr=LR, amsgrad=True)
        ),
        "nadam": Case(
            "nadam()",
            lambda: optax.nadam(LR),
            "optax.nadam (torch: its psi=0.004 form)",
            _torch("NAdam", lr=LR),
        ),
        "adamw": Case(
            "adamw(weight_decay=1e-4)",
            lambda: optax.adamw(LR, weight_decay=1e-4, mask=_decay_mask),
            "optax.adamw(mask=kernels)",
            _torch("AdamW", groups=True, lr=LR, weight_decay=1e-4),
        ),
        "swats": Case("swats()", lambda: scale_by_swats(LR), "chain(scale_by_swats): not injected"),
        "adabound": Case(
            "adabound()", lambda: scale_by_adabound(LR), "chain(scale_by_adabound): not injected"
        ),
        "amsbound": Case(
            "amsbound()",
            lambda: scale_by_adabound(LR, amsbound=True),
            "chain(scale_by_adabound): not injected",
        ),
        "lbfgs": Case(
            "lbfgs()", lambda: optax.lbfgs(), "optax.lbfgs, zoom line search", line_search=True, repeats=3
        ),
        "lars": Case(
            "lars(learning_rate=0.1)",
            lambda: optax.chain(
                optax.masked(optax.scale_by_trust_ratio(trust_coefficient=0.001, eps=1e-9), _decay_mask),
                optax.scale_by_learning_rate(0.1),
                optax.trace(0.9),
            ),
            "optax.lars minus its zero decay",
        ),
        "lamb": Case(
            "lamb()",
            lambda: optax.chain(
                optax.scale_by_adam(eps=1e-6), optax.scale_by_trust_ratio(), optax.scale_by_learning_rate(LR)
            ),
            "optax.lamb minus its zero decay",
        ),
        "clip_by_global_norm": Case(
            "clip_by_global_norm(adam(), max_norm=1.0)",
            lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(LR)),
            "chain(clip_by_global_norm, adam)",
            _torch("Adam", clip=1.0, lr=LR),
        ),
        "clip_by_value": Case(
            "clip_by_value(adam(), max_delta=1.0)",
            lambda: optax.chain(optax.clip(1.0), optax.adam(LR)),
            "chain(clip, adam)",
            _torch("Adam", clip_value=1.0, lr=LR),
        ),
        "accumulate": Case(
            "accumulate(adam(), every_k=4)",
            lambda: optax.MultiSteps(optax.adam(LR), 4).gradient_transformation(),
            "optax.MultiSteps(adam, 4): adam every call; bytes count both cond branches",
            calls=4,
        ),
        "skip_nonfinite": Case(
            "skip_nonfinite(adam())",
            lambda: optax.apply_if_finite(optax.adam(LR), 5),
            "optax.apply_if_finite(adam)",
        ),
        "weight_decay": Case(
            "weight_decay(adam(), weight_decay=1e-4)",
            lambda: optax.adamw(LR, weight_decay=1e-4, mask=_decay_mask),
            "optax.adamw(mask=kernels)",
            _torch("AdamW", groups=True, lr=LR, weight_decay=1e-4),
        ),
        "group_lr": Case(
            "group_lr(adam(), multipliers={'layer_0': 0.1})",
            lambda: optax.chain(optax.adam(LR), _scale_first_layer(0.1)),
            "chain(adam, scale layer_0)",
            _torch("Adam", first_layer=0.1, lr=LR),
        ),
        "freeze": Case(
            "freeze(adam(), patterns=['layer_0'])",
            lambda: optax.partition(
                {"train": optax.adam(LR), "frozen": optax.set_to_zero()},
                lambda p: jax.tree.map(lambda f: "frozen" if f else "train", _first_layer(p)),
            ),
            "optax.partition(adam, set_to_zero)",
            _torch("Adam", first_layer=0.0, lr=LR),
        ),
        "on_plateau": Case(
            "on_plateau(adam(), reduce_on_plateau())",
            lambda: optax.chain(optax.adam(LR), scale_by_plateau(reduce_on_plateau())),
            "chain(adam, scale_by_plateau)",
            adam,  # torch's ReduceLROnPlateau acts between steps, not in them
        ),
        "lookahead": Case(
            "lookahead(adam(), sync_period=5, slow_step_size=0.5)",
            _raw_lookahead,
            "optax.lookahead (fast/slow params)",
            raw_params=lambda p: optax.LookaheadParams(fast=p, slow=jax.tree.map(jnp.copy, p)),  # own buffers
            raw_view=lambda p: p.fast,
            calls=5,
        ),
        "lion": Case(
            "lion()",
            lambda: optax.lion(1e-4, weight_decay=1e-3, mask=_decay_mask),
            "optax.lion(mask=kernels)",
        ),
        "adabelief": Case("adabelief()", lambda: optax.adabelief(LR), "optax.adabelief"),
        "yogi": Case("yogi()", lambda: optax.yogi(1e-2), "optax.yogi"),
        "adan": Case("adan()", lambda: optax.adan(LR), "optax.adan"),
        "prodigy": Case(
            "prodigy(estim_lr0=1e-3)", lambda: optax.contrib.prodigy(estim_lr0=1e-3), "optax.contrib.prodigy"
        ),
        "adopt": Case("adopt()", lambda: optax.contrib.adopt(LR), "optax.contrib.adopt"),
        "sam": Case(
            "sam(adam(), rho=0.05)",
            _raw_sam,
            "optax.contrib.sam(adam, opaque_mode=True): two gradients of value_fn per step",
            line_search=True,  # takes value_fn, for its second gradient
        ),
        "radam": Case("radam()", lambda: optax.radam(LR), "optax.radam", _torch("RAdam", lr=LR)),
        "adamax": Case("adamax()", lambda: optax.adamax(2e-3), "optax.adamax", _torch("Adamax", lr=2e-3)),
        "adafactor": Case(
            "adafactor()",
            lambda: optax.adafactor(1e-2),
            "optax.adafactor (torch: its relative step, all matrices factored)",
            _torch("Adafactor", lr=1e-2),
        ),
        "muon": Case(
            "muon(nesterov=False, eps=1e-12, adam_eps=1e-12)",
            lambda: optax.contrib.muon(0.02, beta=0.95, eps=1e-12, nesterov=False),
            "optax.contrib.muon(nesterov=False; tiny eps: its m is bias-corrected, ours not)",
            _torch_muon(lr=0.02, weight_decay=0.0, nesterov=False),
        ),
        "schedule_free_sgd": Case(
            "schedule_free_sgd(learning_rate=0.001)",
            lambda: optax.contrib.schedule_free_sgd(LR),
            "optax.contrib.schedule_free_sgd",
        ),
        "schedule_free_adamw": Case(
            "schedule_free_adamw(learning_rate=0.001)",
            lambda: optax.contrib.schedule_free_adamw(LR),
            "optax.contrib.schedule_free_adamw",
        ),
    }


def cases() -> dict[str, Case]:
    """The benchmark row of each optimizer name (tests/optimizers require one per registered name).

    Examples:
        >>> import registry, tricks
        >>> set(registry.names("optimizer")) <= set(cases())
        True
    """
    return _cases()


def pytree(layers: int, width: int, seed: int = 0) -> dict[str, dict[str, jax.Array]]:
    """``layers`` dense layers (kernel width x width, bias width) of small random float32 values.

    Examples:
        >>> tree = pytree(2, 3)
        >>> sorted(tree), tree["layer_1"]["kernel"].shape, sum(x.size for x in jax.tree.leaves(tree))
        (['layer_0', 'layer_1'], (3, 3), 24)
    """
    keys = jax.random.split(jax.random.key(seed), layers)
    return {
        f"layer_{i}": {"kernel": 0.01 * jax.random.normal(k, (width, width)), "bias": jnp.zeros(width)}
        for i, k in enumerate(keys)
    }


def value_fn(params) -> jax.Array:
    """The objective given to line searches: half the squared norm (its gradient is ``params``)."""
    return 0.5 * sum(jnp.sum(x * x) for x in jax.tree.leaves(params))


def _compiled(opt, case: Case, params, grads, state):
    """The compiled training-step update, and XLA's estimate of the bytes it reads and writes.

    As in a training step, the update is applied and the state donated (its buffers
    reused for the new state). The parameters are not donated: on XLA:CPU that makes an
    Adam step about 4x slower (52 vs 195 ms here), for ours and Optax's alike.
    """

    def step(grads, state, params):
        extra = {"value": value_fn(params), "grad": grads, "value_fn": value_fn} if case.line_search else {}
        updates, state = opt.update(grads, state, params, **extra)
        return optax.apply_updates(params, updates), state

    compiled = jax.jit(step, donate_argnums=1).lower(grads, state, params).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return compiled, float((cost or {}).get("bytes accessed", float("nan")))


def _timer(opt, case: Case, raw: bool, params, grads):
    """A function timing ``case.calls`` steps (seconds per step) after a warm call, and the
    step's bytes accessed."""
    if raw:  # the raw chain's container (lookahead's slow weights)
        params = case.raw_params(params)
    # Copies: a state may hold one buffer twice (optax.scale_by_lbfgs does), which cannot be donated.
    carry = [params, jax.tree.map(jnp.copy, opt.init(params))]
    step, accessed = _compiled(opt, case, carry[0], grads, carry[1])

    def once() -> float:
        start = time.perf_counter()
        for _ in range(case.calls):
            carry[0], carry[1] = step(grads, carry[1], carry[0])
        jax.block_until_ready(carry)
        return (time.perf_counter() - start) / case.calls

    once()
    return once, accessed


def _torch_timer(make, params, grads):
    import torch

    def tensor(x):
        return torch.from_numpy(jax.device_get(x).copy())

    layers = sorted(params)
    kernels = [tensor(params[k]["kernel"]).requires_grad_() for k in layers]
    biases = [tensor(params[k]["bias"]).requires_grad_() for k in layers]
    for p, g in zip(
        kernels + biases, [grads[k]["kernel"] for k in layers] + [grads[k]["bias"] for k in layers]
    ):
        p.grad = tensor(g)
    step = make(kernels, biases)

    def once() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            step()
        return time.perf_counter() - start

    once(), once()
    return once


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="1M parameters and 3 repeats (a smoke run)")
    parser.add_argument("--layers", type=int, default=10, help="dense layers in the pytree (default: 10)")
    parser.add_argument(
        "--width", type=int, default=1000, help="layer width (default: 1000, so 10.01M parameters)"
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed samples per optimizer (default: 7)")
    parser.add_argument("--names", nargs="*", default=["*"], help="fnmatch patterns of names (default: all)")
    parser.add_argument("--no-torch", action="store_true", help="skip torch even when it is importable")


def _torch_available(wanted: bool) -> str | None:
    if not wanted:
        return "torch skipped (--no-torch)"
    try:
        import torch  # noqa: F401
    except ImportError:
        return "torch is not importable here: the torch column is skipped"
    return None


def run(args: argparse.Namespace) -> int:
    layers, width, repeats = (10, 316, 3) if args.quick else (args.layers, args.width, args.repeats)
    import tricks  # noqa: F401  (registers the optimizers)

    table = cases()
    names = [n for n in registry.names("optimizer") if any(fnmatch.fnmatchcase(n, p) for p in args.names)]
    uncovered = [n for n in names if n not in table]
    if uncovered:
        print(f"no benchmark case for {', '.join(uncovered)} (add one to tools/benchmarks/optimizers.py)")
        names = [n for n in names if n in table]
    if not names:
        print(f"no optimizer matches {' '.join(args.names)}")
        return 1
    torch_note = _torch_available(not args.no_torch)
    params = pytree(layers, width)
    grads = pytree(layers, width, seed=1)
    size = sum(x.size for x in jax.tree.leaves(params))
    device = jax.devices()[0]
    print(
        f"{size / 1e6:.2f}M float32 parameters ({layers} x {width}x{width} + bias), jax {jax.__version__} on "
        f"{device.platform} ({device.device_kind}), optax {optax.__version__}; best of {repeats} jitted updates"
    )
    if torch_note:
        print(torch_note)
    else:
        import torch

        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, foreach=True")
    header = (
        "optimizer",
        "ours ms",
        "optax ms",
        "ratio",
        "bytes ratio",
        "torch ms",
        "hand-written Optax chain",
    )
    rows, ratios, byte_ratios = [], [], []
    for name in names:
        case = table[name]
        g = jax.grad(value_fn)(params) if case.line_search else grads  # consistent with value_fn
        ours, ours_bytes = _timer(registry.build("optimizer", case.spec), case, False, params, g)
        raw, raw_bytes = _timer(case.raw(), case, True, params, g)
        samples = [(ours(), raw()) for _ in range(min(repeats, case.repeats or repeats))]  # alternated
        ours_s, raw_s = min(s for s, _ in samples), min(r for _, r in samples)
        ratios.append(ours_s / raw_s)
        byte_ratios.append(ours_bytes / raw_bytes)
        torch_ms = "-"
        if case.torch is not None and torch_note is None:
            timer = _torch_timer(case.torch, params, grads)
            torch_ms = f"{1e3 * min(timer() for _ in range(repeats)):.2f}"
        rows.append(
            (
                name,
                f"{1e3 * ours_s:.2f}",
                f"{1e3 * raw_s:.2f}",
                f"{ratios[-1]:.3f}",
                f"{byte_ratios[-1]:.3f}",
                torch_ms,
                case.note,
            )
        )
        print(f"  {name}: ours {rows[-1][1]} ms, optax {rows[-1][2]} ms, torch {torch_ms} ms", flush=True)
    print()
    print("\n".join(_format([header, *rows])))
    print(
        f"\ntime ratio ours/optax: median {statistics.median(ratios):.3f}, max {max(ratios):.3f} "
        f"({sum(r <= 1.05 for r in ratios)}/{len(ratios)} within the 1.05 goal); bytes ratio: "
        f"max {max(byte_ratios):.3f} ({sum(r <= 1.05 for r in byte_ratios)}/{len(byte_ratios)} within 1.05)"
    )
    if "sam" in names:
        print(
            "sam: each update takes a second gradient, of value_fn at θ + ε; in training that is a second "
            "forward and backward pass, so a SAM step costs about two gradients (here value_fn is the cheap "
            "½‖θ‖², so the row above times the update alone)"
        )
    return 0


def _format(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.ljust(w) if i in (0, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        ).rstrip()
        for r in rows
    ]
