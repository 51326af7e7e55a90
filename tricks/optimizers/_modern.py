"""Optimizers wrapped from Optax: Lion, AdaBelief, Yogi, Adan.

Each is Optax's own ``scale_by_*`` transform in a chain with our injected learning rate
(and ``b1``), and, where the method has one, decoupled weight decay with our default
mask; with the decay off, each chain is the same as Optax's alias (checked step by step
in tests/optimizers/test_optax_wrapped.py).
"""

from __future__ import annotations

import optax

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._decay import injected
from tricks.optimizers._inject import inject
from tricks.optimizers._masks import checked_at_init, decay_mask


def _decoupled(weight_decay, weights) -> list[optax.GradientTransformation]:
    return [optax.add_decayed_weights(weight_decay, weights)] if weight_decay is not None else []


@registry.register("optimizer", "lion")
def lion(
    learning_rate: ScheduleLike = 1e-4,
    b1: ScheduleLike = 0.9,
    b2: float = 0.99,
    weight_decay: ScheduleLike = 1e-3,
    mask: str = "default",
) -> optax.GradientTransformationExtraArgs:
    r"""Lion (Chen et al., "Symbolic Discovery of Optimization Algorithms", 2023).

    θ ← θ − α(sign(β1m + (1−β1)g) + λθ), then m ← β2m + (1−β2)g: every coordinate
    moves by exactly ±α, and only the momentum m is stored (half Adam's memory). The
    authors advise a rate 3-10x smaller than AdamW's and a decay 3-10x larger (the
    defaults: 1e-4 and 1e-3). Wraps `optax.scale_by_lion`; equal to ``optax.lion`` and to
    Keras's ``Lion`` (whose defaults are ``learning_rate=1e-3, weight_decay=0``).

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), which mixes the momentum and the gradient inside the sign;
            a number or a schedule; injected.
        b2: β2 in [0, 1), the momentum's decay.
        weight_decay: decoupled λ >= 0 (multiplied by α, as in Optax and torch); injected when used.
        mask: which parameters decay: ``"default"`` (see `default_decay_mask`), ``"all"``,
            or a regex over parameter paths.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "lion(learning_rate=0.1, weight_decay=0.0)")
        >>> opt.update(jnp.array([3.0, -0.5, 0.0]), opt.init(jnp.zeros(3)))[0]
        Array([-0.1,  0.1, -0. ], dtype=float32)
    """
    _validate.non_negative(learning_rate=learning_rate, weight_decay=weight_decay)
    _validate.unit_interval(b1=b1, b2=b2)
    weights = decay_mask(mask, component="lion")

    def build(learning_rate, b1, weight_decay=None):
        return optax.chain(
            optax.scale_by_lion(b1, b2), *_decoupled(weight_decay, weights), optax.scale_by_learning_rate(learning_rate)
        )

    return checked_at_init(inject(build, **injected(learning_rate, b1, weight_decay)), weights)


@registry.register("optimizer", "adabelief")
def adabelief(
    learning_rate: ScheduleLike = 1e-3,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    weight_decay: ScheduleLike = 0.0,
    mask: str = "default",
) -> optax.GradientTransformationExtraArgs:
    r"""AdaBelief (Zhuang et al., NeurIPS 2020): Adam whose step trusts the gradient it predicted.

    m ← β1m + (1−β1)g; s ← β2s + (1−β2)(g − m)² + ε_root; θ ← θ − α(m̂/(√ŝ + ε) + λθ),
    with m̂, ŝ bias-corrected as in Adam: s tracks how far g strays from its prediction
    m, so steps are large where the gradient is consistent. Wraps `optax.scale_by_belief`
    (equal to ``optax.adabelief`` when ``weight_decay=0``; its small defaults ε = ε_root =
    1e-16 follow the paper). The decay is decoupled, as in the authors' ``AdaBelief``
    (``weight_decouple=True``), applied to the parameters `mask` selects.

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        eps: ε > 0, outside the root.
        eps_root: >= 0, added to s at every step.
        weight_decay: decoupled λ >= 0; injected when used.
        mask: ``"default"``, ``"all"`` or a regex over parameter paths (see `adamw`).

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "adabelief(learning_rate=0.1)")
        >>> opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))[0]  # m̂ = 2, ŝ = (g − m)² = 1.8²: −0.1·2/1.8
        Array([-0.11111039], dtype=float32)
    """
    _validate.non_negative(learning_rate=learning_rate, eps_root=eps_root, weight_decay=weight_decay)
    _validate.unit_interval(b1=b1, b2=b2)
    _validate.positive(eps=eps)
    weights = decay_mask(mask, component="adabelief")

    def build(learning_rate, b1, weight_decay=None):
        return optax.chain(
            optax.scale_by_belief(b1, b2, eps, eps_root),
            *_decoupled(weight_decay, weights),
            optax.scale_by_learning_rate(learning_rate),
        )

    return checked_at_init(inject(build, **injected(learning_rate, b1, weight_decay)), weights)


@registry.register("optimizer", "yogi")
def yogi(
    learning_rate: ScheduleLike = 1e-2,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    eps: float = 1e-3,
    initial_accumulator_value: float = 1e-6,
) -> optax.GradientTransformationExtraArgs:
    r"""Yogi (Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018).

    Adam with an additive second moment: v ← v − (1−β2)·sign(v − g²)·g², so v moves
    toward g² by at most (1−β2)g² per step and the effective rate cannot jump up when
    gradients shrink; θ ← θ − α m̂/(√v̂ + ε). m and v start at
    ``initial_accumulator_value`` (the paper: 1e-6), ε = 1e-3 and α = 1e-2 are the paper's
    defaults. The paper has no weight decay (chain a `weight_decay` wrapper for one).
    Wraps `optax.scale_by_yogi`; equal to ``optax.yogi``.

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        eps: ε > 0, outside the root.
        initial_accumulator_value: the starting m and v, >= 0.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "yogi(learning_rate=0.1, initial_accumulator_value=0.0)")
        >>> opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))[0]  # m̂ = 2, v̂ = 4: −0.1·2/(2 + ε)
        Array([-0.09994938], dtype=float32)
    """
    _validate.non_negative(learning_rate=learning_rate, initial_accumulator_value=initial_accumulator_value)
    _validate.unit_interval(b1=b1, b2=b2)
    _validate.positive(eps=eps)

    def build(learning_rate, b1):
        return optax.chain(
            optax.scale_by_yogi(b1, b2, eps, initial_accumulator_value=initial_accumulator_value),
            optax.scale_by_learning_rate(learning_rate),
        )

    return inject(build, **injected(learning_rate, b1))


@registry.register("optimizer", "adan")
def adan(
    learning_rate: ScheduleLike = 1e-3,
    b1: ScheduleLike = 0.98,
    b2: float = 0.92,
    b3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 1e-8,
    weight_decay: ScheduleLike = 0.0,
    mask: str = "default",
) -> optax.GradientTransformationExtraArgs:
    r"""Adan (Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm", 2022), Optax's form.

    With Δ_t = g_t − g_{t−1} (0 at the first step): m ← β1m + (1−β1)g;
    v ← β2v + (1−β2)Δ; n ← β3n + (1−β3)(g + (1−β2)Δ)²; each bias-corrected, and
    θ ← θ − α((m̂ + (1−β2)v̂)/(√(n̂ + ε_root) + ε) + λθ). The β here are Optax's (the decay
    of each average, 0.98/0.92/0.99); the paper writes 1 − β (0.02/0.08/0.01). The
    decoupled decay is Optax's first-order form of the paper's proximal step
    θ ← (θ − α·u)/(1 + αλ). Wraps `optax.scale_by_adan`; equal to ``optax.adan`` when
    ``mask="all"`` (Optax decays every parameter unless given a mask).

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), the gradient average's decay; a number or a schedule; injected.
        b2: β2 in [0, 1), the gradient difference average's decay.
        b3: β3 in [0, 1), the squared term's decay.
        eps: ε > 0, outside the root.
        eps_root: >= 0, inside the root.
        weight_decay: decoupled λ >= 0; injected when used.
        mask: ``"default"``, ``"all"`` or a regex over parameter paths (see `adamw`).

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "adan(learning_rate=0.1, eps_root=0.0)")
        >>> opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))[0]  # m̂ = 2, v̂ = 0, n̂ = 4
        Array([-0.09999996], dtype=float32)
    """
    _validate.non_negative(learning_rate=learning_rate, eps_root=eps_root, weight_decay=weight_decay)
    _validate.unit_interval(b1=b1, b2=b2, b3=b3)
    _validate.positive(eps=eps)
    weights = decay_mask(mask, component="adan")

    def build(learning_rate, b1, weight_decay=None):
        return optax.chain(
            optax.scale_by_adan(b1, b2, b3, eps, eps_root),
            *_decoupled(weight_decay, weights),
            optax.scale_by_learning_rate(learning_rate),
        )

    return checked_at_init(inject(build, **injected(learning_rate, b1, weight_decay)), weights)
