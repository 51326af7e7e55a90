"""Adafactor: factored second moments, update clipping and parameter-relative steps."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._decay import uses
from tricks.optimizers._inject import inject


class ScaleByRelativeStepState(NamedTuple):
    """State of `scale_by_relative_step`: the number of steps taken."""

    count: jax.Array


def scale_by_relative_step(learning_rate: jax.Array) -> optax.GradientTransformation:
    r"""Scales by −min(α, 1/√t), t from 1: torch's ``Adafactor`` step ρ_t.

    Examples:
        >>> import jax.numpy as jnp
        >>> opt = scale_by_relative_step(0.8)
        >>> _, state = opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))  # t = 1: −min(0.8, 1)
        >>> opt.update(jnp.ones(1), state)[0]  # t = 2: −1/√2
        Array([-0.70710677], dtype=float32)
    """

    def init(params):
        del params
        return ScaleByRelativeStepState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None):
        del params
        count = optax.safe_increment(state.count)
        step = jnp.minimum(learning_rate, jax.lax.rsqrt(count.astype(jnp.result_type(learning_rate, float))))
        return jax.tree.map(lambda u: (-step * u).astype(u.dtype), updates), ScaleByRelativeStepState(count)

    return optax.GradientTransformation(init, update)


@registry.register("optimizer", "adafactor")
def adafactor(
    learning_rate: ScheduleLike = 1e-2,
    decay_rate: float = 0.8,
    eps: float = 1e-30,
    clipping_threshold: float | None = 1.0,
    multiply_by_parameter_scale: bool = True,
    eps_scale: float = 1e-3,
    min_dim_size_to_factor: int = 128,
    relative_step: bool = False,
    weight_decay: ScheduleLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Adafactor (Shazeer & Stern, ICML 2018), as `optax.adafactor` (without momentum).

    Second moments with β̂2_t = 1 − t^{−c} (c = ``decay_rate``), of g² + ε, factored for a
    matrix into row and column means R, C (V̂ = RCᵀ/mean(R)) so that they cost O(n + m);
    u = g/√V̂, clipped to u/max(1, RMS(u)/d) (d = ``clipping_threshold``), then
    θ ← θ − α max(ε2, RMS(θ)) u (ε2 = ``eps_scale``; without ``multiply_by_parameter_scale``
    θ ← θ − αu). Optax factors the two largest axes of a parameter whose second largest is
    >= ``min_dim_size_to_factor`` (128); smaller ones keep a full v.

    torch's ``Adafactor`` (2.13): factors every parameter of rank >= 2 (over its last two
    axes: the same as Optax's for matrices with ``min_dim_size_to_factor=1``), steps with
    the relative step ρ_t = min(α, 1/√t), selected by ``relative_step=True``, and its
    ``weight_decay`` is decoupled, θ(1 − αλ) with α, not ρ_t (the one used here; Optax's
    ``weight_decay_rate`` is not multiplied by α). torch's ε1 (its eps[0], default the
    dtype's machine ε) clamps V̂ instead of adding ε to g² (the same for gradients far
    above 1e-15); ``beta2_decay`` = −c, eps[1] = ε2, d = ``clipping_threshold``.

    Args:
        learning_rate: α (the cap of ρ_t with ``relative_step``), a number or a schedule; injected.
        decay_rate: c > 0 in β̂2_t = 1 − t^{−c}.
        eps: ε > 0 added to g².
        clipping_threshold: d >= 1, or None for no clipping.
        multiply_by_parameter_scale: scale the step by max(ε2, RMS(θ)).
        eps_scale: ε2 > 0, the least parameter scale.
        min_dim_size_to_factor: >= 1; 1 factors every matrix, as torch.
        relative_step: step min(α, 1/√t) (torch's) instead of α (Optax's).
        weight_decay: λ >= 0, decoupled θ(1 − αλ) on every parameter; injected when used.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "adafactor(learning_rate=0.1)")
        >>> params = jnp.full(2, 2.0)
        >>> opt.update(jnp.array([3.0, -0.5]), opt.init(params), params)[0]  # α RMS(θ) sign(g)
        Array([-0.2,  0.2], dtype=float32)
    """
    _validate.non_negative(learning_rate=learning_rate, weight_decay=weight_decay)
    _validate.positive(decay_rate=decay_rate, eps=eps, eps_scale=eps_scale)
    _validate.at_least(1, min_dim_size_to_factor=min_dim_size_to_factor)
    if clipping_threshold is not None:
        _validate.at_least(1, clipping_threshold=clipping_threshold)

    def build(learning_rate, weight_decay=None):
        parts = [optax.scale_by_factored_rms(True, decay_rate, 0, min_dim_size_to_factor, eps)]
        if clipping_threshold is not None:
            parts.append(optax.clip_by_block_rms(clipping_threshold))
        if multiply_by_parameter_scale:
            parts.append(optax.scale_by_param_block_rms(eps_scale))
        if relative_step:
            parts.append(scale_by_relative_step(learning_rate))
        else:
            parts.append(optax.scale_by_learning_rate(learning_rate))
        if weight_decay is not None:  # after the sign flip: adds −αλθ
            parts.append(optax.add_decayed_weights(-learning_rate * weight_decay))
        return optax.chain(*parts)

    return inject(
        build, learning_rate=learning_rate, **({"weight_decay": weight_decay} if uses(weight_decay) else {})
    )
