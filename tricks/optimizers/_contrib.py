"""Optimizers wrapped from ``optax.contrib``: Prodigy and ADOPT."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._decay import injected
from tricks.optimizers._inject import inject
from tricks.optimizers._masks import checked_at_init, decay_mask


def _prodigy(learning_rate, b1, b2, beta3, eps, estim_lr0, estim_lr_coef, weight_decay, weights, safeguard_warmup):
    """`optax.contrib.prodigy` with its decay on the parameters `weights` selects.

    With no mask (every parameter decays) the decay is Prodigy's own; with one, Prodigy
    runs without decay and the same term, −λ·d·α·bc·θ with the d of this step, is added
    on the selected parameters.
    """
    masked = weights is not None and weight_decay is not None
    inside = 0.0 if weight_decay is None or masked else weight_decay
    inner = optax.contrib.prodigy(
        learning_rate, (b1, b2), beta3, eps, estim_lr0, estim_lr_coef, inside, safeguard_warmup
    )

    def init(params):
        state = inner.init(params)
        return state._replace(params0=jax.tree.map(jnp.copy, state.params0))  # its own buffers (donation)

    def update(updates, state, params=None):
        new_updates, new_state = inner.update(updates, state, params)
        if masked:
            t = optax.safe_increment(state.count)
            dlr = state.estim_lr * learning_rate * (1 - b2**t) ** 0.5 / (1 - b1**t)
            dlr = jnp.asarray(dlr, state.estim_lr.dtype)
            new_updates = jax.tree.map(
                lambda u, p, m: u - weight_decay * dlr * p if m else u, new_updates, params, weights(params)
            )
        return new_updates, new_state

    return optax.GradientTransformation(init, update)


@registry.register("optimizer", "prodigy")
def prodigy(
    learning_rate: ScheduleLike = 1.0,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    beta3: float | None = None,
    eps: float = 1e-8,
    estim_lr0: float = 1e-6,
    estim_lr_coef: float = 1.0,
    weight_decay: ScheduleLike = 0.0,
    mask: str = "default",
    safeguard_warmup: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""Prodigy (Mishchenko & Defazio 2023): AdamW that estimates its own step size.

    An Adam step on the gradients scaled by d, the running estimate of the distance
    ‖θ0 − θ*‖: with bc_t = √(1−β2^t)/(1−β1^t) and d_t the current estimate,
    m ← β1m + (1−β1)d g; v ← β2v + (1−β2)d²g²; θ ← θ − d·α·bc_t(m/(√v + d ε) + λθ); then
    r ← β3 r + (d²α·bc_t/d0)⟨g, θ0 − θ⟩, s ← β3 s + (d²α·bc_t/d0) g and
    d ← max(d, c·r/‖s‖₁) (β3 defaults to √β2). α = ``learning_rate`` is a multiplier (1 is
    the method's own step; a schedule such as a cosine decay from 1 is advised). Wraps
    ``optax.contrib.prodigy``; equal to it with ``mask="all"``. ``update`` needs ``params``.

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        beta3: in [0, 1), the decay of the estimate's sums; None for √β2.
        eps: ε > 0.
        estim_lr0: d0 > 0, the initial (under)estimate of the step size.
        estim_lr_coef: c > 0, multiplies each estimate.
        weight_decay: decoupled λ >= 0 (multiplied by d·α·bc_t); injected when used.
        mask: ``"default"``, ``"all"`` or a regex over parameter paths (see `adamw`).
        safeguard_warmup: leave α out of the estimate's sums (for a warmup from 0).

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "prodigy()")
        >>> params = jnp.zeros(2)
        >>> opt.update(jnp.array([3.0, -0.5]), opt.init(params), params)[0]  # first step: −d0·g/(|g| + ε/√(1−β2))
        Array([-9.999935e-07,  9.999928e-07], dtype=float32)
    """
    _validate.non_negative(learning_rate=learning_rate, weight_decay=weight_decay)
    _validate.unit_interval(b1=b1, b2=b2, beta3=beta3)
    _validate.positive(eps=eps, estim_lr0=estim_lr0, estim_lr_coef=estim_lr_coef)
    weights = decay_mask(mask, component="prodigy")

    def build(learning_rate, b1, weight_decay=None):
        return _prodigy(
            learning_rate, b1, b2, beta3, eps, estim_lr0, estim_lr_coef, weight_decay, weights, safeguard_warmup
        )

    return checked_at_init(inject(build, **injected(learning_rate, b1, weight_decay)), weights)


@registry.register("optimizer", "adopt")
def adopt(
    learning_rate: ScheduleLike = 1e-3,
    b1: ScheduleLike = 0.9,
    b2: float = 0.9999,
    eps: float = 1e-6,
    nesterov: bool = False,
    use_clipping: bool = True,
    weight_decay: ScheduleLike = 0.0,
    mask: str = "default",
) -> optax.GradientTransformationExtraArgs:
    r"""ADOPT (Taniguchi et al., NeurIPS 2024): Adam that converges with any β2.

    The gradient is normalized by the second moment of the *previous* steps, before
    the momentum: v_0 = g_0² and the first update is 0; then for t >= 1,
    m ← β1m + (1−β1)·clip(g/max(√v_{t−1}, ε), ±t^{1/4}); v ← β2v + (1−β2)g²;
    θ ← θ − α(m + λθ). The clipping (``use_clipping``) is the authors' stabilization for
    the first steps. Wraps ``optax.contrib.scale_by_adopt``; equal to
    ``optax.contrib.adopt`` when ``weight_decay=0``. The decay is decoupled, on the
    parameters `mask` selects.

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        eps: ε > 0, the floor of √v.
        nesterov: Nesterov momentum (Optax's option).
        use_clipping: clip the normalized gradient to ±t^{1/4}.
        weight_decay: decoupled λ >= 0; injected when used.
        mask: ``"default"``, ``"all"`` or a regex over parameter paths (see `adamw`).

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "adopt(learning_rate=0.1)")
        >>> state = opt.init(jnp.zeros(1))
        >>> first, state = opt.update(jnp.array([2.0]), state)
        >>> second, state = opt.update(jnp.array([1.0]), state)
        >>> first, second  # 0, then −α(1−β1)·(1/2)
        (Array([-0.], dtype=float32), Array([-0.005], dtype=float32))
    """
    _validate.non_negative(learning_rate=learning_rate, weight_decay=weight_decay)
    _validate.unit_interval(b1=b1, b2=b2)
    _validate.positive(eps=eps)
    weights = decay_mask(mask, component="adopt")

    def build(learning_rate, b1, weight_decay=None):
        decay = [optax.add_decayed_weights(weight_decay, weights)] if weight_decay is not None else []
        return optax.chain(
            optax.contrib.scale_by_adopt(b1, b2, eps, nesterov=nesterov, use_clipping=use_clipping),
            *decay,
            optax.scale_by_learning_rate(learning_rate),
        )

    return checked_at_init(inject(build, **injected(learning_rate, b1, weight_decay)), weights)
