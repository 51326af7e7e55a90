"""AdaBound and AMSBound: Adam whose per-parameter rates are clipped into bounds that close on SGD."""

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


class ScaleByAdaBoundState(NamedTuple):
    """State of `scale_by_adabound`; find it in an optimizer state with `find_state`.

    Attributes:
        count: number of steps taken, t.
        mu: first moment m.
        nu: second moment v.
        nu_max: running maximum of v (AMSBound); an empty tuple for AdaBound.
        base_learning_rate: the learning rate of the first step (scales ``final_lr``).
        lower: η_l(t), the lower bound used by the last step (0 before the first).
        upper: η_u(t), the upper bound used by the last step (inf before the first).
    """

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    nu_max: optax.Updates
    base_learning_rate: jax.Array
    lower: jax.Array
    upper: jax.Array


def scale_by_adabound(
    learning_rate: jax.Array | float,
    final_lr: float = 0.1,
    b1: jax.Array | float = 0.9,
    b2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    amsbound: bool = False,
) -> optax.GradientTransformation:
    r"""The AdaBound / AMSBound step (Luo et al. 2019), including the learning rate and sign.

    m ← β1m + (1−β1)g; v ← β2v + (1−β2)g² (AMSBound: v̂ ← max(v̂, v) replaces v below);
    η = clip(α√(1−β2^t)/(1−β1^t) / (√v + ε), η_l(t), η_u(t)); step = −η ⊙ m, with
    η_l(t) = α*(1 − 1/(γt + 1)), η_u(t) = α*(1 + 1/(γt)) and α* = ``final_lr`` · α_t/α_1
    (a learning-rate schedule moves the bounds with it). Both bounds converge to α*, so
    the method turns into SGD with momentum at rate α*. This is the authors' reference
    implementation; Algorithm 2 of the paper additionally divides η by √t, which the
    authors' code and experiments do not.

    Args:
        learning_rate: α (an array when injected).
        final_lr: α*, the SGD rate the bounds converge to (for the first step's α).
        b1: β1.
        b2: β2.
        gamma: γ, the convergence speed of the bounds.
        eps: ε, outside the root.
        amsbound: use the running maximum of v (AMSBound).

    Returns:
        A transformation returning the step itself (apply with `optax.apply_updates`).

    Examples:
        >>> import jax.numpy as jnp
        >>> opt = scale_by_adabound(1e-3, final_lr=0.1, gamma=0.5)
        >>> step, state = opt.update(jnp.array([1.0]), opt.init(jnp.zeros(1)))
        >>> state.lower, state.upper  # 0.1·(1 − 1/1.5), 0.1·(1 + 1/0.5)
        (Array(0.03333333, dtype=float32), Array(0.29999998, dtype=float32))
        >>> step  # the rate 0.01 is raised to the lower bound; the step is −η·m with m = 0.1
        Array([-0.00333...], dtype=float32)
    """

    def init(params):
        dtype = scalar_dtype(params)
        return ScaleByAdaBoundState(
            count=jnp.zeros([], jnp.int32),
            mu=optax.tree.zeros_like(params),
            nu=optax.tree.zeros_like(params),
            nu_max=optax.tree.zeros_like(params) if amsbound else (),
            base_learning_rate=jnp.zeros([], dtype),
            lower=jnp.zeros([], dtype),
            upper=jnp.full([], jnp.inf, dtype),
        )

    def update(updates, state, params=None):
        del params
        t = optax.safe_increment(state.count)
        tf = t.astype(state.lower.dtype)
        base = jnp.where(state.count == 0, learning_rate, state.base_learning_rate)
        final = final_lr * learning_rate / base
        lower = final * (1 - 1 / (gamma * tf + 1))
        upper = final * (1 + 1 / (gamma * tf))
        mu = optax.tree.update_moment(updates, state.mu, b1, 1)
        nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu) if amsbound else ()
        step_size = learning_rate * jnp.sqrt(1 - b2**tf) / (1 - b1**tf)
        step = jax.tree.map(
            lambda m, v: -jnp.clip(step_size / (jnp.sqrt(v) + eps), lower, upper) * m,
            mu,
            nu_max if amsbound else nu,
        )
        new = ScaleByAdaBoundState(t, mu, nu, nu_max, base, lower, upper)
        return optax.tree.cast_like(step, updates), optax.tree.cast_like(new, state)

    return optax.GradientTransformation(init, update)


def _adabound(learning_rate, final_lr, b1, b2, gamma, eps, weight_decay, amsbound):
    _validate.non_negative(learning_rate=learning_rate, weight_decay=weight_decay)
    _validate.positive(final_lr=final_lr, gamma=gamma, eps=eps)
    _validate.unit_interval(b1=b1, b2=b2)
    hyper = {"learning_rate": learning_rate, "b1": b1} | (
        {"weight_decay": weight_decay} if uses(weight_decay) else {}
    )

    def build(learning_rate, b1, weight_decay=None):
        return optax.chain(
            *l2(weight_decay), scale_by_adabound(learning_rate, final_lr, b1, b2, gamma, eps, amsbound)
        )

    return inject(build, **hyper)


@registry.register("optimizer", "adabound")
def adabound(
    learning_rate: ScheduleLike = 1e-3,
    final_lr: float = 0.1,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: ScheduleLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""AdaBound (Luo et al., ICLR 2019): Adam whose per-parameter rates are bounded.

    Adam's per-parameter step α/(√v̂ + ε) is clipped into [η_l(t), η_u(t)], bounds that
    both converge to ``final_lr``: Adam early, SGD with momentum late (see
    `scale_by_adabound`). The bounds of the last step are in the state:
    ``find_state(state, ScaleByAdaBoundState).lower`` / ``.upper``. ``weight_decay`` is L2,
    as in the authors' code.

    Args:
        learning_rate: α, a number or a schedule; injected.
        final_lr: the final SGD rate, > 0.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        gamma: convergence speed of the bounds, > 0.
        eps: ε > 0.
        weight_decay: L2 coefficient λ >= 0; injected when used.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> from tricks.optimizers import ScaleByAdaBoundState, find_state
        >>> opt = registry.build("optimizer", "adabound(learning_rate=1e-3, final_lr=0.1)")
        >>> _, state = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
        >>> bounds = find_state(state, ScaleByAdaBoundState)
        >>> float(bounds.lower), float(bounds.upper)
        (9.99...e-05, 100.09...)
    """
    return _adabound(learning_rate, final_lr, b1, b2, gamma, eps, weight_decay, amsbound=False)


@registry.register("optimizer", "amsbound")
def amsbound(
    learning_rate: ScheduleLike = 1e-3,
    final_lr: float = 0.1,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: ScheduleLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""AMSBound (Luo et al., ICLR 2019): `adabound` on the running maximum of v, as AMSGrad.

    The maximum is taken over the raw second moments, whose root then meets Adam's bias
    correction through the step size, as in the authors' code.

    Args:
        learning_rate: α, a number or a schedule; injected.
        final_lr: the final SGD rate, > 0.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        gamma: convergence speed of the bounds, > 0.
        eps: ε > 0.
        weight_decay: L2 coefficient λ >= 0; injected when used.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "amsbound(learning_rate=1e-3)")
        >>> opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))[0]
        Array([-0.00099999, -0.00099999], dtype=float32)
    """
    return _adabound(learning_rate, final_lr, b1, b2, gamma, eps, weight_decay, amsbound=True)
