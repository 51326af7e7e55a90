"""Sharpness-aware minimization (SAM, Foret et al. 2021) and its adaptive form (ASAM, Kwon et al. 2021)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import registry
from tricks.optimizers import _validate
from tricks.optimizers._types import Optimizer

NEEDS_VALUE_FN = (
    "sam needs the objective to take its second gradient: call "
    "update(grads, state, params, value_fn=loss), loss(params) -> scalar on the same batch "
    "(the training step of tricks.train passes it)"
)


def perturbation(grads: optax.Updates, params: optax.Params, rho: float, adaptive: bool, eta: float) -> optax.Updates:
    """The ascent step ε: ρ·g/‖g‖ (SAM), or ρ·T²g/‖Tg‖ with T = |θ| + η (ASAM), in float32.

    ε is 0 where the norm is 0 (a zero gradient has no ascent direction).

    Examples:
        >>> import jax.numpy as jnp
        >>> perturbation(jnp.array([3.0, 4.0]), jnp.zeros(2), rho=0.5, adaptive=False, eta=0.0)
        Array([0.3, 0.4], dtype=float32)
    """
    grads = jax.tree.map(lambda g: g.astype(jnp.promote_types(g.dtype, jnp.float32)), grads)
    if adaptive:
        scale = jax.tree.map(lambda w, g: (jnp.abs(w) + eta).astype(g.dtype), params, grads)
        scaled = jax.tree.map(jnp.multiply, scale, grads)  # T g
        norm = optax.tree.norm(scaled)
        direction = jax.tree.map(jnp.multiply, scale, scaled)  # T² g
    else:
        norm = optax.tree.norm(grads)
        direction = grads
    factor = jnp.where(norm > 0, rho / jnp.where(norm > 0, norm, 1), 0)
    return jax.tree.map(lambda d: (factor * d).astype(d.dtype), direction)


@registry.register("optimizer", "sam")
def sam(
    optimizer: Optimizer, rho: float = 0.05, adaptive: bool = False, eta: float = 0.01
) -> optax.GradientTransformationExtraArgs:
    r"""SAM around any optimizer: the update that the gradient at the nearby worst point gives.

    Each step (Foret et al., "Sharpness-Aware Minimization for Efficiently Improving
    Generalization", ICLR 2021, Algorithm 1): from the batch's gradient g at θ, the
    ascent step ε = ρ·g/‖g‖ (‖·‖ over all parameters); a second gradient
    g_SAM = ∇L(θ + ε) on the same batch; then the wrapped optimizer's update from g_SAM,
    applied at θ (its state and its weight decay see θ, never θ + ε). With
    ``adaptive=True``, ASAM (Kwon et al., "ASAM: Adaptive Sharpness-Aware Minimization
    for Scale-Invariant Learning", ICML 2021): ε = ρ·T²g/‖Tg‖ with T = |θ| + η
    elementwise, on every parameter (the authors' code leaves biases at T = 1); the
    paper advises a larger ρ (0.5 to 2 for SGD).

    ``update`` needs ``params`` and the objective ``value_fn`` (params -> scalar, same
    batch) as an extra argument; the other extra arguments (``value``, ``grad``) are
    passed on to the wrapped optimizer unchanged. A step costs two gradients. In
    `tricks.train` the training step passes ``value_fn``: the second pass uses the same
    batch, augmentations and dropout key; the batch-norm statistics it computes are
    discarded (the state keeps those of the first pass, at θ); the gradient metrics
    logged are the first gradient's. Under ``parallel=pmap`` ε comes from the gradient
    already averaged over the devices, and the step averages the second gradient too
    (JAX alone would give each device its own), so ``pmap`` trains as ``sharded`` does.

    Args:
        optimizer: the optimizer applying the SAM gradient (any spec).
        rho: ρ >= 0, the radius of the neighbourhood (0: the wrapped optimizer alone).
        adaptive: ASAM's scale-invariant neighbourhood.
        eta: η >= 0, ASAM's offset of |θ|, so that zero weights move too.

    Returns:
        An `optax.GradientTransformationExtraArgs` whose state is the wrapped one's.

    Raises:
        ValueError: at ``update``, without ``params`` or ``value_fn``.

    Examples:
        >>> import jax, jax.numpy as jnp, registry, tricks
        >>> loss = lambda w: jnp.sum(w**4)
        >>> opt = registry.build("optimizer", "sam(sgd(learning_rate=0.1), rho=0.5)")
        >>> w = jnp.array([1.0, 0.0])  # g = (4, 0), ε = (0.5, 0), ∇L(w + ε) = (4·1.5³, 0)
        >>> opt.update(jax.grad(loss)(w), opt.init(w), w, value_fn=loss)[0]
        Array([-1.35, -0.  ], dtype=float32)
    """
    _validate.non_negative(rho=rho, eta=eta)
    inner = optax.with_extra_args_support(optimizer)

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError("sam needs the parameters: update(grads, state, params, value_fn=loss)")
        value_fn = extra_args.get("value_fn")
        if value_fn is None:
            raise ValueError(NEEDS_VALUE_FN)
        epsilon = perturbation(updates, params, rho, adaptive, eta)
        perturbed = jax.tree.map(lambda p, e: (p + e).astype(p.dtype), params, epsilon)
        sharp = optax.tree.cast_like(jax.grad(value_fn)(perturbed), updates)
        return inner.update(sharp, state, params, **extra_args)

    return optax.GradientTransformationExtraArgs(inner.init, update)
