"""SWATS: start with Adam, switch to SGD with momentum once the projected SGD rate settles."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._decay import l2, uses
from tricks.optimizers._inject import inject, scalar_dtype


class ScaleBySwatsState(NamedTuple):
    """State of `scale_by_swats`; find it in an optimizer state with `find_state`.

    Attributes:
        count: number of steps taken, k.
        mu: Adam's first moment m; after the switch, the SGD momentum buffer v.
        nu: Adam's second moment a (no longer updated after the switch).
        rate_average: λ_k, the moving average of the projected SGD rates γ.
        switched: whether the switch to SGD has happened.
        switch_step: the step k (counted from 1) whose Adam step triggered the switch;
            -1 before the switch. Steps k+1, k+2, ... are SGD steps.
        sgd_rate: the learned SGD rate Λ = λ_k/(1 − β2^k) at the switch; 0 before.
        switch_learning_rate: the learning rate α at the switch; 0 before.
    """

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    rate_average: jax.Array
    switched: jax.Array
    switch_step: jax.Array
    sgd_rate: jax.Array
    switch_learning_rate: jax.Array


def scale_by_swats(
    learning_rate: jax.Array | float,
    b1: jax.Array | float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-9,
    switch_eps: float = 1e-9,
) -> optax.GradientTransformation:
    r"""The SWATS step (Keskar & Socher 2017, Algorithm 1), including the learning rate and sign.

    Adam phase, step k: m ← β1m + (1−β1)g; a ← β2a + (1−β2)g²;
    p = −α √(1−β2^k)/(1−β1^k) · m/(√a + ε) is the step. If pᵀg ≠ 0:
    γ = pᵀp/(−pᵀg), λ ← β2λ + (1−β2)γ, and when k > 1 and |λ/(1−β2^k) − γ| < ε_switch
    the method switches, with SGD rate Λ = λ/(1−β2^k). SGD phase: v ← β1v + g (v starts
    at 0); the step is −(1−β1)Λv. Dot products run over the whole parameter tree.

    A learning-rate schedule keeps acting after the switch: the SGD step is scaled by
    α_t/α_switch (1 for a constant rate, which is the paper's algorithm exactly).

    Args:
        learning_rate: α (an array when injected).
        b1: β1.
        b2: β2.
        eps: ε in Adam's denominator.
        switch_eps: ε of the switching test (the paper uses one ε = 1e-9 for both).

    Returns:
        A transformation returning the step itself (apply with `optax.apply_updates`).

    Examples:
        >>> import jax.numpy as jnp
        >>> opt = scale_by_swats(0.1, switch_eps=1e-6)
        >>> state = opt.init(jnp.zeros(2))
        >>> for _ in range(3):  # constant gradient: γ = α·n/‖g‖₁ is constant, λ̂ settles on it
        ...     _, state = opt.update(jnp.array([1.0, -2.0]), state)
        >>> state.switched, state.switch_step, state.sgd_rate
        (Array(True, dtype=bool), Array(3, dtype=int32), Array(0.06666666, dtype=float32))
    """

    def init(params):
        dtype = scalar_dtype(params)
        return ScaleBySwatsState(
            count=jnp.zeros([], jnp.int32),
            mu=optax.tree.zeros_like(params),
            nu=optax.tree.zeros_like(params),
            rate_average=jnp.zeros([], dtype),
            switched=jnp.zeros([], bool),
            switch_step=jnp.full([], -1, jnp.int32),
            sgd_rate=jnp.zeros([], dtype),
            switch_learning_rate=jnp.zeros([], dtype),
        )

    def adam_phase(grads, state):
        k = optax.safe_increment(state.count)
        kf = k.astype(state.rate_average.dtype)
        m = optax.tree.update_moment(grads, state.mu, b1, 1)
        a = optax.tree.update_moment_per_elem_norm(grads, state.nu, b2, 2)
        c = learning_rate * jnp.sqrt(1 - b2**kf) / (1 - b1**kf)
        step = jax.tree.map(lambda m_, a_: -c * m_ / (jnp.sqrt(a_) + eps), m, a)
        pg = optax.tree.vdot(step, grads).astype(kf.dtype)
        pp = optax.tree.vdot(step, step).astype(kf.dtype)
        moved = pg != 0
        gamma = jnp.where(moved, pp / jnp.where(moved, -pg, 1), 0)
        lam = jnp.where(moved, b2 * state.rate_average + (1 - b2) * gamma, state.rate_average)
        corrected = lam / (1 - b2**kf)
        switch = moved & (k > 1) & (jnp.abs(corrected - gamma) < switch_eps)
        new = ScaleBySwatsState(
            count=k,
            mu=m,
            nu=a,
            rate_average=lam,
            switched=switch,
            switch_step=jnp.where(switch, k, -1),
            sgd_rate=jnp.where(switch, corrected, 0),
            switch_learning_rate=jnp.where(switch, learning_rate, 0),
        )
        return step, new

    def sgd_phase(grads, state):
        keep = jnp.where(state.count == state.switch_step, 0, 1)
        v = jax.tree.map(lambda v_, g: b1 * keep * v_ + g, state.mu, grads)
        rate = (1 - b1) * state.sgd_rate * learning_rate / state.switch_learning_rate
        step = jax.tree.map(lambda v_: -rate * v_, v)
        return step, state._replace(count=optax.safe_increment(state.count), mu=v)

    def update(updates, state, params=None):
        del params

        def branch(phase):
            def run(grads, state):
                step, new = phase(grads, state)
                return optax.tree.cast_like(step, grads), optax.tree.cast_like(new, state)

            return run

        return jax.lax.cond(state.switched, branch(sgd_phase), branch(adam_phase), updates, state)

    return optax.GradientTransformation(init, update)


@registry.register("optimizer", "swats")
def swats(
    learning_rate: ScheduleLike = 1e-3,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    eps: float = 1e-9,
    switch_eps: float = 1e-9,
    weight_decay: ScheduleLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""SWATS (Keskar & Socher 2017): Adam, then SGD with momentum at a learned rate.

    Runs Adam while tracking the SGD rate that would make an SGD step match Adam's step
    in projection, γ = pᵀp/(−pᵀg), averaged as λ ← β2λ + (1−β2)γ; switches for good when
    |λ/(1−β2^t) − γ| < ``switch_eps`` and continues as SGD with momentum at rate
    Λ = λ/(1−β2^t) (see `scale_by_swats`). The state records whether and when it
    switched and the learned rate: ``find_state(state, ScaleBySwatsState)``.
    ``weight_decay`` is L2, added to the gradient.

    Args:
        learning_rate: Adam's α, a number or a schedule; injected.
        b1: β1 in [0, 1), also the SGD momentum; injected.
        b2: β2 in [0, 1), also the averaging rate of λ.
        eps: ε > 0 in Adam's denominator.
        switch_eps: tolerance > 0 of the switching test.
        weight_decay: L2 coefficient λ >= 0; injected when used.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> from tricks.optimizers import ScaleBySwatsState, find_state
        >>> opt = registry.build("optimizer", "swats(learning_rate=0.1)")
        >>> state = opt.init(jnp.zeros(2))
        >>> find_state(state, ScaleBySwatsState).switched
        Array(False, dtype=bool)
    """
    _validate.non_negative(learning_rate=learning_rate, weight_decay=weight_decay)
    _validate.unit_interval(b1=b1, b2=b2)
    _validate.positive(eps=eps, switch_eps=switch_eps)
    hyper = {"learning_rate": learning_rate, "b1": b1} | (
        {"weight_decay": weight_decay} if uses(weight_decay) else {}
    )

    def build(learning_rate, b1, weight_decay=None):
        return optax.chain(*l2(weight_decay), scale_by_swats(learning_rate, b1, b2, eps, switch_eps))

    return inject(build, **hyper)
