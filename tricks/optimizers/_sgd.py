"""Stochastic gradient descent: plain, with momentum, Nesterov, and decoupled weight decay (SGDW)."""

from __future__ import annotations

import optax

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._decay import uses
from tricks.optimizers._inject import inject
from tricks.optimizers._masks import checked_at_init, decay_mask


def sgd_chain(
    learning_rate: ScheduleLike,
    momentum: ScheduleLike | None,
    nesterov: bool,
    weight_decay: ScheduleLike,
    decoupled_mask: str | None,
    component: str,
) -> optax.GradientTransformationExtraArgs:
    """The injected chain shared by sgd, momentum, nesterov and sgdw.

    With ``decoupled_mask=None`` weight decay is L2 (added to the gradient before the
    momentum, as torch's SGD does); with a mask it is decoupled (added to the momentum
    output, then scaled by the learning rate), on the masked parameters only.
    """
    _validate.non_negative(learning_rate=learning_rate, weight_decay=weight_decay)
    _validate.unit_interval(momentum=momentum)
    mask = None if decoupled_mask is None else decay_mask(decoupled_mask, component=component)
    hyper = {"learning_rate": learning_rate}
    if momentum is not None:
        hyper["momentum"] = momentum
    if uses(weight_decay):
        hyper["weight_decay"] = weight_decay

    def build(learning_rate, momentum=None, weight_decay=None):
        parts = []
        if weight_decay is not None and decoupled_mask is None:
            parts.append(optax.add_decayed_weights(weight_decay))
        if momentum is not None:
            parts.append(optax.trace(decay=momentum, nesterov=nesterov))
        if weight_decay is not None and decoupled_mask is not None:
            parts.append(optax.add_decayed_weights(weight_decay, mask))
        parts.append(optax.scale_by_learning_rate(learning_rate))
        return optax.chain(*parts)

    return checked_at_init(inject(build, **hyper), mask)


@registry.register("optimizer", "sgd")
def sgd(
    learning_rate: ScheduleLike,
    momentum: ScheduleLike | None = None,
    nesterov: bool = False,
    weight_decay: ScheduleLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Stochastic gradient descent: θ ← θ − α g, optionally with momentum and L2 weight decay.

    With ``momentum`` ρ: v ← ρv + g; θ ← θ − αv (Nesterov: θ ← θ − α(g + ρv)). The
    momentum buffer starts at zero and is not damped, and ``weight_decay`` λ adds λθ to
    the gradient before the momentum (L2, coupled): exactly ``torch.optim.SGD(lr,
    momentum, weight_decay=λ, nesterov)`` with ``dampening=0``. For decay that bypasses
    the momentum see `sgdw`.

    Args:
        learning_rate: α, a number or a schedule; injected (see `hyperparams`).
        momentum: ρ in [0, 1), a number or a schedule; None keeps no momentum buffer.
        nesterov: Nesterov momentum (needs ``momentum``).
        weight_decay: L2 coefficient λ >= 0 (a number or a schedule); 0 adds nothing.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "sgd(learning_rate=0.1, momentum=0.9)")
        >>> state = opt.init(jnp.zeros(2))
        >>> opt.update(jnp.ones(2), state)[0]
        Array([-0.1, -0.1], dtype=float32)
    """
    if nesterov and momentum is None:
        raise registry.RegistryError("nesterov=True needs a momentum", argument="nesterov")
    return sgd_chain(learning_rate, momentum, nesterov, weight_decay, None, "sgd")


@registry.register("optimizer", "momentum")
def momentum(
    learning_rate: ScheduleLike, momentum: ScheduleLike = 0.9, weight_decay: ScheduleLike = 0.0
) -> optax.GradientTransformationExtraArgs:
    r"""SGD with (heavy-ball) momentum: v ← ρv + g; θ ← θ − αv.

    Same as Δθ_t = ρΔθ_{t−1} − αg_t while α is constant. `sgd` with ``momentum`` set;
    ``weight_decay`` is L2 as in torch's SGD.

    Args:
        learning_rate: α, a number or a schedule; injected.
        momentum: ρ in [0, 1), a number or a schedule; injected.
        weight_decay: L2 coefficient λ >= 0 added to the gradient.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "momentum(learning_rate=0.1, momentum=0.5)")
        >>> state = opt.init(jnp.zeros(1))
        >>> _, state = opt.update(jnp.ones(1), state)
        >>> opt.update(jnp.ones(1), state)[0]
        Array([-0.15], dtype=float32)
    """
    return sgd_chain(learning_rate, momentum, False, weight_decay, None, "momentum")


@registry.register("optimizer", "nesterov")
def nesterov(
    learning_rate: ScheduleLike, momentum: ScheduleLike = 0.9, weight_decay: ScheduleLike = 0.0
) -> optax.GradientTransformationExtraArgs:
    r"""SGD with Nesterov momentum: v ← ρv + g; θ ← θ − α(g + ρv).

    The gradient is in effect taken at the look-ahead point θ + ρΔθ (Sutskever et al.
    2013, in the form torch's ``SGD(nesterov=True)`` uses); ``weight_decay`` is L2.

    Args:
        learning_rate: α, a number or a schedule; injected.
        momentum: ρ in [0, 1), a number or a schedule; injected.
        weight_decay: L2 coefficient λ >= 0 added to the gradient.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "nesterov(learning_rate=0.1, momentum=0.5)")
        >>> opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))[0]
        Array([-0.15], dtype=float32)
    """
    return sgd_chain(learning_rate, momentum, True, weight_decay, None, "nesterov")


@registry.register("optimizer", "sgdw")
def sgdw(
    learning_rate: ScheduleLike,
    momentum: ScheduleLike | None = 0.9,
    nesterov: bool = False,
    weight_decay: ScheduleLike = 1e-4,
    mask: str = "default",
) -> optax.GradientTransformationExtraArgs:
    r"""SGD with decoupled weight decay (SGDW, Loshchilov & Hutter 2019): θ ← θ − α(v + λθ).

    The decay is added after the momentum, so it is neither accumulated in the momentum
    buffer nor, unlike L2 in `sgd`, amplified by it; it is scaled by the learning rate
    (and follows its schedule).

    Args:
        learning_rate: α, a number or a schedule; injected.
        momentum: ρ in [0, 1) (None: no momentum buffer); injected.
        nesterov: Nesterov momentum.
        weight_decay: λ >= 0, a number or a schedule; injected.
        mask: which parameters decay: ``"default"`` (not biases nor normalization
            scales, see `default_decay_mask`), ``"all"``, or a regex over parameter paths.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "sgdw(learning_rate=0.1, momentum=None, weight_decay=0.5)")
        >>> params = {"kernel": jnp.ones((1, 1)), "bias": jnp.ones(1)}
        >>> opt.update({"kernel": jnp.zeros((1, 1)), "bias": jnp.zeros(1)}, opt.init(params), params)[0]
        {'bias': Array([-0.], dtype=float32), 'kernel': Array([[-0.05]], dtype=float32)}
    """
    if nesterov and momentum is None:
        raise registry.RegistryError("nesterov=True needs a momentum", argument="nesterov")
    return sgd_chain(learning_rate, momentum, nesterov, weight_decay, mask, "sgdw")
