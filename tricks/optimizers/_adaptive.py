"""Per-parameter adaptive rates without momentum: Adagrad, RMSprop, Adadelta."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._decay import l2, uses
from tricks.optimizers._inject import inject


def _scale_by_rss_eps_outside(initial_accumulator_value: float, eps: float) -> optax.GradientTransformation:
    """Adagrad's scaling with ε outside the root, g / (√G + ε), as torch computes it."""

    def init(params):
        return optax.ScaleByRssState(sum_of_squares=optax.tree.full_like(params, initial_accumulator_value))

    def update(updates, state, params=None):
        del params
        total = jax.tree.map(lambda g, s: s + g * g, updates, state.sum_of_squares)
        updates = jax.tree.map(lambda g, s: g / (jnp.sqrt(s) + eps), updates, total)
        return updates, optax.ScaleByRssState(sum_of_squares=total)

    return optax.GradientTransformation(init, update)


@registry.register("optimizer", "adagrad")
def adagrad(
    learning_rate: ScheduleLike = 0.01,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
    eps_in_sqrt: bool = True,
    weight_decay: ScheduleLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Adagrad (Duchi et al. 2011): G ← G + g²; θ ← θ − α g / √(G + ε).

    The per-parameter rate only shrinks. Conventions: by default Optax's — the
    accumulator starts at ``initial_accumulator_value=0.1`` and ε = 1e-7 sits inside the
    root (coordinates whose G is 0 are not moved). torch's ``Adagrad`` starts at 0 and
    divides by √G + ε with ε = 1e-10 outside the root: select it with
    ``initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False``. torch's ``lr_decay``
    is an inverse-time schedule for ``learning_rate``. ``weight_decay`` is L2 (torch's).

    Args:
        learning_rate: α, a number or a schedule; injected.
        initial_accumulator_value: starting value of G, >= 0.
        eps: ε > 0.
        eps_in_sqrt: ε inside the root (Optax) or outside (torch).
        weight_decay: L2 coefficient λ >= 0 added to the gradient; injected when used.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "adagrad(learning_rate=1.0, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)")
        >>> opt.update(jnp.array([2.0, -3.0]), opt.init(jnp.zeros(2)))[0]
        Array([-1.,  1.], dtype=float32)
    """
    _validate.non_negative(
        learning_rate=learning_rate,
        initial_accumulator_value=initial_accumulator_value,
        weight_decay=weight_decay,
    )
    _validate.positive(eps=eps)
    hyper = {"learning_rate": learning_rate} | ({"weight_decay": weight_decay} if uses(weight_decay) else {})

    def build(learning_rate, weight_decay=None):
        if eps_in_sqrt:
            rss = optax.scale_by_rss(initial_accumulator_value, eps)
        else:
            rss = _scale_by_rss_eps_outside(initial_accumulator_value, eps)
        return optax.chain(*l2(weight_decay), rss, optax.scale_by_learning_rate(learning_rate))

    return inject(build, **hyper)


@registry.register("optimizer", "rmsprop")
def rmsprop(
    learning_rate: ScheduleLike = 0.01,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ScheduleLike | None = None,
    nesterov: bool = False,
    weight_decay: ScheduleLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""RMSprop (Hinton's lecture 6e): G ← βG + (1−β)g²; θ ← θ − α g / √(G + ε).

    ``centered`` divides by the root of the variance estimate G − ḡ² (ḡ the moving
    average of g), as in Graves 2013. With ``momentum`` ρ the scaled gradient feeds a
    buffer, v ← ρv + g/√(…); θ ← θ − αv, the learning rate applied after the buffer, as
    torch does (Optax's own ``rmsprop`` scales before the buffer; the two agree for a
    constant rate).

    Conventions: Optax's by default — ε inside the root, β = 0.9. torch's ``RMSprop``
    puts ε outside the root and defaults to β = ``alpha`` = 0.99: select it with
    ``decay=0.99, eps_in_sqrt=False``. ``weight_decay`` is L2 (torch's).

    Args:
        learning_rate: α, a number or a schedule; injected.
        decay: β in [0, 1), the second-moment decay (torch's ``alpha``).
        eps: ε > 0.
        initial_scale: starting value of G, >= 0.
        eps_in_sqrt: ε inside the root (Optax) or outside (torch).
        centered: divide by the centered second moment.
        momentum: ρ in [0, 1) or None; injected when given.
        nesterov: Nesterov momentum (needs ``momentum``).
        weight_decay: L2 coefficient λ >= 0; injected when used.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "rmsprop(learning_rate=0.1, decay=0.75, eps_in_sqrt=False, eps=1e-12)")
        >>> opt.update(jnp.array([4.0]), opt.init(jnp.zeros(1)))[0]
        Array([-0.2], dtype=float32)
    """
    _validate.non_negative(
        learning_rate=learning_rate, initial_scale=initial_scale, weight_decay=weight_decay
    )
    _validate.unit_interval(decay=decay, momentum=momentum)
    _validate.positive(eps=eps)
    if nesterov and momentum is None:
        raise registry.RegistryError("nesterov=True needs a momentum", argument="nesterov")
    hyper = {"learning_rate": learning_rate}
    if momentum is not None:
        hyper["momentum"] = momentum
    if uses(weight_decay):
        hyper["weight_decay"] = weight_decay

    def build(learning_rate, momentum=None, weight_decay=None):
        scale = optax.scale_by_stddev if centered else optax.scale_by_rms
        parts = [*l2(weight_decay), scale(decay, eps, initial_scale, eps_in_sqrt=eps_in_sqrt)]
        if momentum is not None:
            parts.append(optax.trace(decay=momentum, nesterov=nesterov))
        parts.append(optax.scale_by_learning_rate(learning_rate))
        return optax.chain(*parts)

    return inject(build, **hyper)


@registry.register("optimizer", "adadelta")
def adadelta(
    learning_rate: ScheduleLike = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: ScheduleLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Adadelta (Zeiler 2012): no global rate needed (α = 1).

    G ← ρG + (1−ρ)g²; Δ = √(X + ε)/√(G + ε) · g; X ← ρX + (1−ρ)Δ²; θ ← θ − αΔ. The same
    as Optax's ``adadelta`` and torch's ``Adadelta`` (ε inside both roots);
    ``weight_decay`` is L2 (torch's).

    Args:
        learning_rate: α (1 in the paper), a number or a schedule; injected.
        rho: ρ in [0, 1).
        eps: ε > 0.
        weight_decay: L2 coefficient λ >= 0; injected when used.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "adadelta(rho=0.0, eps=1e-6)")
        >>> opt.update(jnp.array([1.0]), opt.init(jnp.zeros(1)))[0]
        Array([-0.001], dtype=float32)
    """
    _validate.non_negative(learning_rate=learning_rate, weight_decay=weight_decay)
    _validate.unit_interval(rho=rho)
    _validate.positive(eps=eps)
    hyper = {"learning_rate": learning_rate} | ({"weight_decay": weight_decay} if uses(weight_decay) else {})

    def build(learning_rate, weight_decay=None):
        return optax.chain(
            *l2(weight_decay), optax.scale_by_adadelta(rho, eps), optax.scale_by_learning_rate(learning_rate)
        )

    return inject(build, **hyper)
