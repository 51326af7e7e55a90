"""Muon: momentum orthogonalized by a Newton-Schulz iteration, for matrices; AdamW for the rest."""

from __future__ import annotations

import re
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._decay import uses
from tricks.optimizers._inject import inject
from tricks.optimizers._masks import NO_DECAY, _map_with_path, compile_patterns, group_index

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
"""(a, b, c) of the quintic iteration X ← aX + (bA + cA²)X, A = XXᵀ (Keller Jordan's, torch's, Optax's)."""


def orthogonalize(x: jax.Array, coefficients=NS_COEFFICIENTS, steps: int = 5, eps: float = 1e-7) -> jax.Array:
    r"""≈ UVᵀ of a matrix X = USVᵀ by ``steps`` Newton-Schulz iterations, as torch's ``Muon``.

    X is transposed to have no more rows than columns, divided by max(‖X‖_F, ε) (Optax's
    iteration, inside `optax.contrib.scale_by_muon`, divides by ‖X‖_F + ε: why this is not
    Optax's), then X ← aX + (bA + cA²)X with A = XXᵀ. The singular values end roughly in
    [0.7, 1.2], not at 1 (the coefficients trade accuracy for speed).

    Examples:
        >>> import jax.numpy as jnp
        >>> orthogonalize(jnp.array([[3.0, 0.0], [0.0, 0.5]])).round(2)
        Array([[0.71, 0.  ],
               [0.  , 1.04]], dtype=float32)
    """
    a, b, c = coefficients
    wide = x.T if x.shape[0] > x.shape[1] else x
    wide = wide / jnp.maximum(jnp.linalg.norm(wide), eps)
    for _ in range(steps):
        gram = wide @ wide.T
        wide = a * wide + (b * gram + c * gram @ gram) @ wide
    return wide.T if x.shape[0] > x.shape[1] else wide


def _shape_factor(shape: tuple[int, ...], adjust_lr: str) -> float:
    fan_in, fan_out = shape
    if adjust_lr == "original":
        return max(1.0, fan_out / fan_in) ** 0.5
    if adjust_lr == "match_rms_adamw":
        return 0.2 * max(fan_in, fan_out) ** 0.5
    return 1.0


def scale_by_muon(
    momentum: jax.Array, nesterov: bool, coefficients, steps: int, eps: float, adjust_lr: str
) -> optax.GradientTransformation:
    """torch's Muon direction: B ← μB + (1−μ)g; NS((1−μ)g + μB) (or NS(B)), times the shape factor."""

    def init(params):
        return optax.TraceState(trace=optax.tree.zeros_like(params))

    def update(updates, state, params=None):
        del params
        buf = optax.tree.update_moment(updates, state.trace, momentum, 1)
        mixed = optax.tree.update_moment(updates, buf, momentum, 1) if nesterov else buf

        def direction(m):
            o = orthogonalize(m, coefficients, steps, eps) * _shape_factor(m.shape, adjust_lr)
            return o.astype(m.dtype)

        return jax.tree.map(direction, mixed), optax.TraceState(trace=buf)

    return optax.GradientTransformation(init, update)


def _labels(mask: str):
    """The function labelling each parameter ``"muon"`` or ``"adamw"``."""
    if mask in ("default", "all"):
        skip = re.compile(NO_DECAY + r"|embed", re.IGNORECASE) if mask == "default" else None

        def labels(params: Any) -> Any:
            def label(path, x):
                return "muon" if x.ndim == 2 and not (skip and skip.search(path)) else "adamw"

            return _map_with_path(label, params)

        return labels
    (pattern,) = compile_patterns([mask], "mask")

    def regex_labels(params: Any) -> Any:
        group_index(params, [pattern], component="muon", argument="mask")  # raises if it matches nothing

        def label(path, x):
            chosen = bool(pattern.search(path))
            if chosen and x.ndim != 2:
                raise registry.RegistryError(
                    f"{path!r} has shape {x.shape}: Muon takes matrices only",
                    kind="optimizer",
                    name="muon",
                    argument="mask",
                )
            return "muon" if chosen else "adamw"

        return _map_with_path(label, params)

    return regex_labels


@registry.register("optimizer", "muon")
def muon(
    learning_rate: ScheduleLike = 0.02,
    momentum: ScheduleLike = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
    ns_steps: int = 5,
    eps: float = 1e-7,
    adjust_lr: Literal["original", "match_rms_adamw", "none"] = "original",
    weight_decay: ScheduleLike = 0.0,
    mask: str = "default",
    adam_learning_rate: ScheduleLike | None = None,
    adam_b1: float = 0.9,
    adam_b2: float = 0.999,
    adam_eps: float = 1e-8,
    adam_weight_decay: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Muon (Keller Jordan 2024; Liu et al., "Muon is Scalable for LLM Training", 2025).

    For a matrix W (the kernels chosen by ``mask``): B ← μB + (1−μ)g, O = NS((1−μ)g + μB)
    with Nesterov (NS(B) without), NS the Newton-Schulz orthogonalization of `orthogonalize`,
    then W ← W − αλW − α s O, with s = √max(1, fan_out/fan_in) (``adjust_lr="original"``,
    Keller Jordan's) or 0.2√max(fan_in, fan_out) (``"match_rms_adamw"``, Moonshot's) or 1.
    This is ``torch.optim.Muon``'s update (2.13, with its defaults here), computed in the
    parameters' dtype where torch computes the iteration in bfloat16. A kernel here is
    (fan_in, fan_out), Flax's layout; torch's ``Linear.weight`` is (out, in), so s is the
    same for the same layer (and as Optax's). Optax's `optax.contrib.muon` differs: its
    momentum is bias-corrected, so its Nesterov mix β m̂_{t+1} + (1−β)ĝ is not torch's
    (without Nesterov the two agree: a scalar does not change NS), it normalizes by
    ‖X‖ + ε, and its AdamW shares Muon's ε and Nesterov flag; hence this composition.

    How parameters are split (``mask``): Muon suits the 2-D weights of hidden layers. With
    ``"default"``, every 2-D parameter gets Muon except biases, normalization parameters
    and embeddings (paths matching `NO_DECAY` or ``embed``); every other one (biases,
    norms, embeddings, convolution kernels of rank 4) gets AdamW, with ``adam_*``
    (Keller Jordan's and Optax's split; Optax gives all 2-D parameters to Muon, which
    ``"all"`` selects). A regex selects the parameters for Muon by path (all must be 2-D).
    ``weight_decay`` acts on the Muon parameters, ``adam_weight_decay`` on the others.

    Args:
        learning_rate: α, a number or a schedule; injected.
        momentum: μ in [0, 1), a number or a schedule; injected.
        nesterov: use (1−μ)g + μB rather than B.
        ns_coefficients: (a, b, c) of the iteration.
        ns_steps: number of iterations, >= 1.
        eps: ε > 0 of the normalization.
        adjust_lr: ``"original"``, ``"match_rms_adamw"`` or ``"none"``.
        weight_decay: λ >= 0, decoupled, on the Muon parameters; injected when used.
        mask: ``"default"``, ``"all"`` (every 2-D parameter) or a regex over parameter paths.
        adam_learning_rate: AdamW's rate, None for α; injected when given.
        adam_b1: AdamW's β1 in [0, 1).
        adam_b2: AdamW's β2 in [0, 1).
        adam_eps: AdamW's ε > 0.
        adam_weight_decay: AdamW's decoupled λ >= 0.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "muon(learning_rate=0.1, momentum=0.0)")
        >>> params = {"kernel": jnp.zeros((2, 2)), "bias": jnp.zeros(2)}
        >>> grads = {"kernel": jnp.array([[3.0, 0.0], [0.0, 0.5]]), "bias": jnp.array([1.0, -1.0])}
        >>> updates = opt.update(grads, opt.init(params), params)[0]
        >>> updates["kernel"].round(3), updates["bias"].round(3)  # −α NS(g); −α sign(g) (Adam's first step)
        (Array([[-0.071, -0.   ],
               [-0.   , -0.104]], dtype=float32), Array([-0.1,  0.1], dtype=float32))
    """
    _validate.non_negative(learning_rate=learning_rate, weight_decay=weight_decay)
    _validate.non_negative(adam_learning_rate=adam_learning_rate, adam_weight_decay=adam_weight_decay)
    _validate.unit_interval(momentum=momentum, adam_b1=adam_b1, adam_b2=adam_b2)
    _validate.positive(eps=eps, adam_eps=adam_eps)
    _validate.at_least(1, ns_steps=ns_steps)
    if len(ns_coefficients) != 3:
        raise registry.RegistryError(f"must be 3 numbers, got {ns_coefficients!r}", argument="ns_coefficients")
    if adjust_lr not in ("original", "match_rms_adamw", "none"):
        raise registry.RegistryError(f"unknown rule {adjust_lr!r}", argument="adjust_lr")
    labels = _labels(mask)
    coefficients = tuple(float(c) for c in ns_coefficients)

    def build(learning_rate, momentum, weight_decay=None, adam_learning_rate=None):
        matrices = optax.chain(
            scale_by_muon(momentum, nesterov, coefficients, ns_steps, eps, adjust_lr),
            *([optax.add_decayed_weights(weight_decay)] if weight_decay is not None else []),
            optax.scale_by_learning_rate(learning_rate),
        )
        others = optax.chain(
            optax.scale_by_adam(adam_b1, adam_b2, adam_eps),
            *([optax.add_decayed_weights(adam_weight_decay)] if adam_weight_decay else []),
            optax.scale_by_learning_rate(learning_rate if adam_learning_rate is None else adam_learning_rate),
        )
        return optax.partition({"muon": matrices, "adamw": others}, labels)

    hyper = {"learning_rate": learning_rate, "momentum": momentum}
    hyper |= {"weight_decay": weight_decay} if uses(weight_decay) else {}
    hyper |= {"adam_learning_rate": adam_learning_rate} if adam_learning_rate is not None else {}
    return inject(build, **hyper)
