"""Adam and its variants: Adam, AMSGrad, NAdam, AdamW."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import optax

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._decay import injected, l2
from tricks.optimizers._inject import inject, scalar_dtype
from tricks.optimizers._masks import checked_at_init, decay_mask


def _check(learning_rate, b1, b2, eps, eps_root, weight_decay) -> None:
    _validate.non_negative(learning_rate=learning_rate, eps_root=eps_root, weight_decay=weight_decay)
    _validate.unit_interval(b1=b1, b2=b2)
    _validate.positive(eps=eps)


def _check_convention(eps_convention: str) -> None:
    if eps_convention not in ("optax", "keras"):
        raise registry.RegistryError(
            f"must be 'optax' or 'keras', got {eps_convention!r}", argument="eps_convention"
        )


def scale_by_adam_keras_eps(b1, b2, eps, eps_root=0.0) -> optax.GradientTransformation:
    r"""Adam's scaling with Keras's ε: m̂/(√(v̂ + ε_root) + ε/√(1−β2^t)).

    Keras (``keras.optimizers.Adam``/``AdamW``) steps α√(1−β2^t)/(1−β1^t)·m/(√v + ε): its
    ε is added to the root of the *uncorrected* v, which is Optax's form with ε divided
    by √(1−β2^t) (a larger ε early on). The state is Optax's `optax.ScaleByAdamState`.

    Examples:
        >>> import jax.numpy as jnp
        >>> opt = scale_by_adam_keras_eps(0.9, 0.999, eps=2.0)
        >>> opt.update(jnp.array([0.01]), opt.init(jnp.zeros(1)))[0]  # 0.01/(0.01 + 2/√0.001)
        Array([0.00015809], dtype=float32)
    """

    def init(params):
        mu, nu = optax.tree.zeros_like(params), optax.tree.zeros_like(params)
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu)

    def update(updates, state, params=None):
        del params
        mu = optax.tree.update_moment(updates, state.mu, b1, 1)
        nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count = optax.safe_increment(state.count)
        mu_hat = optax.tree.bias_correction(mu, b1, count)
        nu_hat = optax.tree.bias_correction(nu, b2, count)

        def scale(m, v):
            eps_t = eps / jnp.sqrt(1 - jnp.asarray(b2, v.dtype) ** count.astype(v.dtype))
            return m / (jnp.sqrt(v + eps_root) + eps_t)

        updates = jax.tree.map(scale, mu_hat, nu_hat)
        return optax.tree.cast_like(updates, mu), optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init, update)


def _scale_by_adam(b1, b2, eps, eps_root, eps_convention) -> optax.GradientTransformation:
    if eps_convention == "keras":
        return scale_by_adam_keras_eps(b1, b2, eps, eps_root)
    return optax.scale_by_adam(b1, b2, eps, eps_root)


def _scale_by_amsgrad_raw_max(b1, b2, eps, eps_root) -> optax.GradientTransformation:
    """torch's AMSGrad: the running max of the raw v, divided by the current 1 − β2^t."""

    def init(params):
        mu, nu, nu_max = (optax.tree.zeros_like(params) for _ in range(3))  # distinct buffers (donation)
        return optax.ScaleByAmsgradState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu, nu_max=nu_max)

    def update(updates, state, params=None):
        del params
        mu = optax.tree.update_moment(updates, state.mu, b1, 1)
        nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count = optax.safe_increment(state.count)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu)
        mu_hat = optax.tree.bias_correction(mu, b1, count)
        nu_hat = optax.tree.bias_correction(nu_max, b2, count)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        return updates, optax.ScaleByAmsgradState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return optax.GradientTransformation(init, update)


def _scale_by_nadam_momentum_decay(b1, b2, eps, eps_root, momentum_decay) -> optax.GradientTransformation:
    """torch's / Dozat's NAdam, with the momentum schedule μ_t = β1(1 − ½·0.96^(tψ))."""

    def init(params):
        mu, nu = optax.tree.zeros_like(params), optax.tree.zeros_like(params)
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu), jnp.ones(
            [], scalar_dtype(params)
        )

    def update(updates, state, params=None):
        del params
        adam, mu_product = state
        count = optax.safe_increment(adam.count)
        t = count.astype(mu_product.dtype)
        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = mu_product * mu_t
        m = optax.tree.update_moment(updates, adam.mu, b1, 1)
        v = optax.tree.update_moment_per_elem_norm(updates, adam.nu, b2, 2)
        v_hat = optax.tree.bias_correction(v, b2, count)
        c_grad = (1 - mu_t) / (1 - mu_product)
        c_mom = mu_next / (1 - mu_product * mu_next)
        updates = jax.tree.map(
            lambda g, m_, v_: (c_grad * g + c_mom * m_) / (jnp.sqrt(v_ + eps_root) + eps), updates, m, v_hat
        )
        return updates, (optax.ScaleByAdamState(count=count, mu=m, nu=v), mu_product)

    return optax.GradientTransformation(init, update)


@registry.register("optimizer", "adam")
def adam(
    learning_rate: ScheduleLike = 1e-3,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: ScheduleLike = 0.0,
    eps_convention: Literal["optax", "keras"] = "optax",
) -> optax.GradientTransformationExtraArgs:
    r"""Adam (Kingma & Ba 2015): θ ← θ − α m̂/(√v̂ + ε).

    m ← β1m + (1−β1)g; v ← β2v + (1−β2)g²; m̂ = m/(1−β1^t), v̂ = v/(1−β2^t), t from 1.
    ε sits outside the root (as in the paper, Optax and torch); ``eps_root`` adds a term
    inside it. ``weight_decay`` is L2, added to the gradient as torch's ``Adam`` does, so
    it passes through the adaptive scaling; for decoupled decay use `adamw`.
    ``eps_convention="keras"`` selects Keras's ε, added to √v of the *uncorrected* v:
    θ ← θ − α√(1−β2^t)/(1−β1^t)·m/(√v + ε), i.e. ε/√(1−β2^t) in the form above (see
    `scale_by_adam_keras_eps`); it matters when ε is not small beside √v̂.

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        eps: ε > 0, outside the root.
        eps_root: >= 0, inside the root.
        weight_decay: L2 coefficient λ >= 0; injected when used.
        eps_convention: ``"optax"`` (ε added to √v̂, also torch's) or ``"keras"``.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "adam(learning_rate=0.1)")
        >>> opt.update(jnp.array([3.0, -0.5]), opt.init(jnp.zeros(2)))[0]
        Array([-0.09999936,  0.09999936], dtype=float32)
    """
    _check(learning_rate, b1, b2, eps, eps_root, weight_decay)
    _check_convention(eps_convention)

    def build(learning_rate, b1, weight_decay=None):
        return optax.chain(
            *l2(weight_decay),
            _scale_by_adam(b1, b2, eps, eps_root, eps_convention),
            optax.scale_by_learning_rate(learning_rate),
        )

    return inject(build, **injected(learning_rate, b1, weight_decay))


@registry.register("optimizer", "amsgrad")
def amsgrad(
    learning_rate: ScheduleLike = 1e-3,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: ScheduleLike = 0.0,
    max_before_correction: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""AMSGrad (Reddi et al., "On the Convergence of Adam and Beyond", ICLR 2018).

    Adam with v replaced by its running maximum, so the per-parameter rate never grows.
    Conventions for the bias correction of the maximum: by default Optax's, the maximum
    of the bias-corrected v̂_t, θ ← θ − α m̂/(√max_s v̂_s + ε). torch's ``Adam(amsgrad=True)``
    takes the maximum of the raw v_s and divides it by the current 1 − β2^t: select it
    with ``max_before_correction=True``. ``weight_decay`` is L2 (torch's).

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        eps: ε > 0, outside the root.
        eps_root: >= 0, inside the root.
        weight_decay: L2 coefficient λ >= 0; injected when used.
        max_before_correction: torch's convention (max of raw v, then bias correction).

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "amsgrad(learning_rate=0.1, b1=0.0)")
        >>> state = opt.init(jnp.zeros(1))
        >>> _, state = opt.update(jnp.array([4.0]), state)
        >>> opt.update(jnp.array([1.0]), state)[0]  # √v̂ stays 4
        Array([-0.02499984], dtype=float32)
    """
    _check(learning_rate, b1, b2, eps, eps_root, weight_decay)

    def build(learning_rate, b1, weight_decay=None):
        if max_before_correction:
            scale = _scale_by_amsgrad_raw_max(b1, b2, eps, eps_root)
        else:
            scale = optax.scale_by_amsgrad(b1, b2, eps, eps_root)
        return optax.chain(*l2(weight_decay), scale, optax.scale_by_learning_rate(learning_rate))

    return inject(build, **injected(learning_rate, b1, weight_decay))


@registry.register("optimizer", "nadam")
def nadam(
    learning_rate: ScheduleLike = 1e-3,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    momentum_decay: float | None = None,
    weight_decay: ScheduleLike = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""NAdam (Dozat 2016): Adam with Nesterov momentum on m.

    By default Optax's form, with a constant β1:
    θ ← θ − α (β1 m_t/(1−β1^{t+1}) + (1−β1) g_t/(1−β1^t)) / (√v̂ + ε).
    Dozat's paper and torch's ``NAdam`` instead let the momentum warm up,
    μ_t = β1(1 − ½·0.96^{tψ}) with ψ = ``momentum_decay`` (torch: 0.004), and step
    θ ← θ − α((1−μ_t)/(1−Πμ_{≤t}) g + μ_{t+1}/(1−Πμ_{≤t+1}) m)/(√v̂ + ε): select it
    with ``momentum_decay=0.004``. ``weight_decay`` is L2 (torch's default).

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        eps: ε > 0, outside the root.
        eps_root: >= 0, inside the root.
        momentum_decay: ψ >= 0 for the torch/Dozat momentum schedule; None for Optax's.
        weight_decay: L2 coefficient λ >= 0; injected when used.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "nadam(learning_rate=0.1, momentum_decay=0.004)")
        >>> opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))[0]
        Array([-0.1056445], dtype=float32)
    """
    _check(learning_rate, b1, b2, eps, eps_root, weight_decay)
    _validate.non_negative(momentum_decay=momentum_decay)

    def build(learning_rate, b1, weight_decay=None):
        if momentum_decay is None:
            scale = optax.scale_by_adam(b1, b2, eps, eps_root, nesterov=True)
        else:
            scale = _scale_by_nadam_momentum_decay(b1, b2, eps, eps_root, momentum_decay)
        return optax.chain(*l2(weight_decay), scale, optax.scale_by_learning_rate(learning_rate))

    return inject(build, **injected(learning_rate, b1, weight_decay))


@registry.register("optimizer", "adamw")
def adamw(
    learning_rate: ScheduleLike = 1e-3,
    b1: ScheduleLike = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: ScheduleLike = 1e-4,
    mask: str = "default",
    eps_convention: Literal["optax", "keras"] = "optax",
) -> optax.GradientTransformationExtraArgs:
    r"""AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.

    θ ← θ − α(m̂/(√v̂ + ε) + λθ): the decay is not passed through the adaptive scaling,
    unlike L2 (`adam` with ``weight_decay``), which adds λθ to g. Same as Optax's
    ``adamw`` and torch's ``AdamW`` (which computes θ(1 − αλ) first); torch decays every
    parameter, which ``mask="all"`` selects. Keras's ``AdamW`` (θ(1 − αλ) first, too) adds
    ε to √v of the uncorrected v: select it with ``eps_convention="keras"`` (see `adam`).

    Args:
        learning_rate: α, a number or a schedule; injected.
        b1: β1 in [0, 1), a number or a schedule; injected.
        b2: β2 in [0, 1).
        eps: ε > 0, outside the root.
        eps_root: >= 0, inside the root.
        weight_decay: λ >= 0, a number or a schedule; injected when used.
        mask: which parameters decay: ``"default"`` (not biases nor normalization
            scales, see `default_decay_mask`), ``"all"``, or a regex over parameter paths.
        eps_convention: ``"optax"`` (ε added to √v̂, also torch's) or ``"keras"``.

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "adamw(learning_rate=0.1, weight_decay=0.5, mask='all')")
        >>> opt.update(jnp.zeros(1), opt.init(jnp.ones(1)), jnp.ones(1))[0]
        Array([-0.05], dtype=float32)
    """
    _check(learning_rate, b1, b2, eps, eps_root, weight_decay)
    _check_convention(eps_convention)
    weights = decay_mask(mask, component="adamw")

    def build(learning_rate, b1, weight_decay=None):
        decay = [optax.add_decayed_weights(weight_decay, weights)] if weight_decay is not None else []
        return optax.chain(
            _scale_by_adam(b1, b2, eps, eps_root, eps_convention), *decay, optax.scale_by_learning_rate(learning_rate)
        )

    return checked_at_init(inject(build, **injected(learning_rate, b1, weight_decay)), weights)
