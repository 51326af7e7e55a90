"""Layer-wise trust ratios for very large batches: LARS and LAMB (You et al.)."""

from __future__ import annotations

import optax

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._decay import uses
from tricks.optimizers._inject import inject
from tricks.optimizers._masks import checked_at_init, decay_mask


@registry.register("optimizer", "lars")
def lars(
    learning_rate: ScheduleLike,
    weight_decay: ScheduleLike = 0.0,
    mask: str = "default",
    trust_coefficient: float = 0.001,
    eps: float = 1e-9,
    momentum: ScheduleLike = 0.9,
    nesterov: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""LARS (You, Gitman & Ginsburg 2017): SGD with momentum and a per-layer trust ratio.

    For each parameter array (layer) w with update u = g + λw:
    u ← η‖w‖/(‖u‖ + ε) · u, then v ← ρv + αu; θ ← θ − v — Optax's ``lars``, whose
    momentum accumulates the already-scaled step. The masked-out parameters (by default
    biases and normalization scales, as in the paper's practice) get neither decay nor
    trust ratio. A zero norm leaves the update unscaled.

    Args:
        learning_rate: α, a number or a schedule; injected.
        weight_decay: λ >= 0, a number or a schedule; injected when used.
        mask: parameters that get decay and trust ratio: ``"default"`` (see
            `default_decay_mask`), ``"all"``, or a regex over parameter paths.
        trust_coefficient: η > 0.
        eps: ε > 0 added to the update norm.
        momentum: ρ in [0, 1), a number or a schedule; injected.
        nesterov: Nesterov momentum.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "lars(learning_rate=1.0, trust_coefficient=0.1, mask='all')")
        >>> params = jnp.array([[3.0, 4.0]])  # ‖w‖ = 5
        >>> opt.update(jnp.array([[0.0, 2.0]]), opt.init(params), params)[0]  # 0.1·5/2 · g
        Array([[ 0. , -0.5]], dtype=float32)
    """
    _validate.non_negative(learning_rate=learning_rate, weight_decay=weight_decay)
    _validate.positive(trust_coefficient=trust_coefficient, eps=eps)
    _validate.unit_interval(momentum=momentum)
    weights = decay_mask(mask, component="lars")
    hyper = {"learning_rate": learning_rate, "momentum": momentum}
    if uses(weight_decay):
        hyper["weight_decay"] = weight_decay

    def build(learning_rate, momentum, weight_decay=None):
        trust = optax.scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps)
        return optax.chain(
            *([optax.add_decayed_weights(weight_decay, weights)] if weight_decay is not None else []),
            optax.masked(trust, weights) if weights is not None else trust,
            optax.scale_by_learning_rate(learning_rate),
            optax.trace(decay=momentum, nesterov=nesterov),
        )

    return checked_at_init(inject(build, **hyper), weights)


@registry.register("optimizer", "lamb")
def lamb(
    learning_rate: ScheduleLike = 1e-3,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScheduleLike = 0.0,
    mask: str = "default",
) -> optax.GradientTransformationExtraArgs:
    r"""LAMB (You et al. 2020): Adam with decoupled weight decay and a per-layer trust ratio.

    For each parameter array w: r = m̂/(√v̂ + ε) + λw; θ ← θ − α‖w‖/‖r‖ · r (Optax's
    ``lamb``; a zero norm leaves r unscaled). ``mask`` selects which parameters decay
    (the trust ratio applies to all, as in Optax).

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        eps: ε > 0, outside the root.
        eps_root: >= 0, inside the root.
        weight_decay: λ >= 0, a number or a schedule; injected when used.
        mask: ``"default"`` (see `default_decay_mask`), ``"all"``, or a regex over paths.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "lamb(learning_rate=0.1)")
        >>> params = jnp.array([3.0, 4.0])
        >>> opt.update(jnp.array([1.0, 1.0]), opt.init(params), params)[0]  # ‖w‖/‖r‖ = 5/√2
        Array([-0.35355..., -0.35355...], dtype=float32)
    """
    _validate.non_negative(learning_rate=learning_rate, eps_root=eps_root, weight_decay=weight_decay)
    _validate.unit_interval(b1=b1, b2=b2)
    _validate.positive(eps=eps)
    weights = decay_mask(mask, component="lamb")
    hyper = {"learning_rate": learning_rate, "b1": b1} | (
        {"weight_decay": weight_decay} if uses(weight_decay) else {}
    )

    def build(learning_rate, b1, weight_decay=None):
        return optax.chain(
            optax.scale_by_adam(b1, b2, eps, eps_root),
            *([optax.add_decayed_weights(weight_decay, weights)] if weight_decay is not None else []),
            optax.scale_by_trust_ratio(),
            optax.scale_by_learning_rate(learning_rate),
        )

    return checked_at_init(inject(build, **hyper), weights)
