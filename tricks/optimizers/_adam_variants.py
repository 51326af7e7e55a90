"""More Adam variants: RAdam (rectified) and Adamax (infinity norm)."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import optax

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._decay import injected, l2
from tricks.optimizers._inject import inject


def _check(learning_rate, b1, b2, eps, weight_decay) -> None:
    _validate.non_negative(learning_rate=learning_rate, weight_decay=weight_decay)
    _validate.unit_interval(b1=b1, b2=b2)
    _validate.positive(eps=eps)


def _scale_by_radam_torch_eps(b1, b2, eps, eps_root, threshold) -> optax.GradientTransformation:
    """torch's RAdam: ε added to √v of the uncorrected v (Optax: to √v̂), rectified when ρ_t > threshold."""
    rho_inf = 2.0 / (1.0 - b2) - 1.0

    def init(params):
        mu, nu = optax.tree.zeros_like(params), optax.tree.zeros_like(params)
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu)

    def update(updates, state, params=None):
        del params
        mu = optax.tree.update_moment(updates, state.mu, b1, 1)
        nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count = optax.safe_increment(state.count)
        mu_hat = optax.tree.bias_correction(mu, b1, count)

        def scale(m, v):
            t = count.astype(v.dtype)
            b2t = jnp.asarray(b2, v.dtype) ** t
            rho = rho_inf - 2 * t * b2t / (1 - b2t)
            safe = jnp.where(rho > threshold, rho, rho_inf)  # keeps the unused branch finite
            r = jnp.sqrt((safe - 4) * (safe - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe))
            rectified = r * m * jnp.sqrt(1 - b2t) / (jnp.sqrt(v + eps_root) + eps)
            return jnp.where(rho > threshold, rectified, m)

        updates = jax.tree.map(scale, mu_hat, nu)
        return optax.tree.cast_like(updates, mu), optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init, update)


@registry.register("optimizer", "radam")
def radam(
    learning_rate: ScheduleLike = 1e-3,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    weight_decay: ScheduleLike = 0.0,
    decoupled_weight_decay: bool = False,
    eps_convention: Literal["optax", "torch"] = "optax",
) -> optax.GradientTransformationExtraArgs:
    r"""RAdam (Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020).

    Adam whose adaptive step is switched on only once the variance of v̂ is tractable:
    with ρ∞ = 2/(1−β2) − 1 and ρ_t = ρ∞ − 2tβ2^t/(1−β2^t), θ ← θ − α r_t m̂/(√v̂ + ε)
    where ρ_t >= ``threshold`` (r_t = √((ρ_t−4)(ρ_t−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρ_t))), and the
    un-adapted momentum step θ ← θ − α m̂ before (the first steps). Optax's
    `optax.scale_by_radam` by default. torch's ``RAdam`` adds ε to √v of the uncorrected
    v, r_t m̂ √(1−β2^t)/(√v + ε), and rectifies where ρ_t > 5 (strictly; the same unless
    ρ_t is exactly 5): select it with ``eps_convention="torch"``. ``weight_decay`` is L2
    (added to g) by default as torch's; ``decoupled_weight_decay=True`` makes it AdamW's
    θ(1 − αλ) on every parameter, as torch's ``RAdam(decoupled_weight_decay=True)``.

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        eps: ε > 0.
        eps_root: >= 0, inside the root.
        threshold: ρ_t from which the adaptive step is used, >= 4 (the rectifier's pole).
        weight_decay: λ >= 0, a number or a schedule; injected when used.
        decoupled_weight_decay: decay θ(1 − αλ) instead of adding λθ to g.
        eps_convention: ``"optax"`` (ε added to √v̂) or ``"torch"`` (to √v).

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "radam(learning_rate=0.1)")
        >>> opt.update(jnp.array([3.0, -0.5]), opt.init(jnp.zeros(2)))[0]  # ρ_1 = 1: α m̂ = α g
        Array([-0.30000004,  0.05      ], dtype=float32)
    """
    _check(learning_rate, b1, b2, eps, weight_decay)
    _validate.non_negative(eps_root=eps_root)
    _validate.at_least(4, threshold=threshold)
    if eps_convention not in ("optax", "torch"):
        raise registry.RegistryError(f"must be 'optax' or 'torch', got {eps_convention!r}", argument="eps_convention")

    def build(learning_rate, b1, weight_decay=None):
        if eps_convention == "torch":
            scale = _scale_by_radam_torch_eps(b1, b2, eps, eps_root, threshold)
        else:
            scale = optax.scale_by_radam(b1, b2, eps, eps_root, threshold)
        if decoupled_weight_decay:
            coupled, decoupled = [], l2(weight_decay)  # λθ added after the scaling: θ(1 − αλ)
        else:
            coupled, decoupled = l2(weight_decay), []
        return optax.chain(*coupled, scale, *decoupled, optax.scale_by_learning_rate(learning_rate))

    return inject(build, **injected(learning_rate, b1, weight_decay))


@registry.register("optimizer", "adamax")
def adamax(
    learning_rate: ScheduleLike = 2e-3,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: ScheduleLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Adamax (Kingma & Ba 2015, §7.1): Adam with the infinity norm in place of v.

    m ← β1m + (1−β1)g; u ← max(β2u, |g| + ε); θ ← θ − α m/((1−β1^t) u). Optax's
    `optax.scale_by_adamax`; torch's ``Adamax`` is the same (ε inside the max, u not bias
    corrected). ``weight_decay`` is L2, added to g, as torch's.

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        eps: ε > 0, added to |g| inside the maximum.
        weight_decay: L2 coefficient λ >= 0; injected when used.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "adamax(learning_rate=0.1)")
        >>> opt.update(jnp.array([3.0, -0.5]), opt.init(jnp.zeros(2)))[0]
        Array([-0.10000002,  0.1       ], dtype=float32)
    """
    _check(learning_rate, b1, b2, eps, weight_decay)

    def build(learning_rate, b1, weight_decay=None):
        return optax.chain(
            *l2(weight_decay), optax.scale_by_adamax(b1, b2, eps), optax.scale_by_learning_rate(learning_rate)
        )

    return inject(build, **injected(learning_rate, b1, weight_decay))
