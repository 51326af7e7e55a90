"""L-BFGS for full-batch problems, with Optax's zoom line search or a fixed step."""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

import registry
from tricks._types import ScheduleLike
from tricks.optimizers import _validate
from tricks.optimizers._inject import inject, scalar_dtype

CURVATURE_THRESHOLD = 1e-10
"""torch keeps a pair (s, y) only when yᵀs exceeds this."""


class ScaleByTorchLbfgsState(NamedTuple):
    """State of the torch-convention L-BFGS direction.

    Attributes:
        count: number of steps taken.
        params: the parameters at the previous step.
        grads: the gradient at the previous step.
        diff_params: ring buffer of accepted steps s (leading axis: memory slot).
        diff_grads: ring buffer of accepted gradient changes y.
        rho: 1/(yᵀs) per slot; 0 for an empty slot.
        stored: number of pairs accepted so far (the next slot is ``stored % memory_size``).
        hessian_scale: γ = yᵀs/yᵀy of the last accepted pair, the initial inverse Hessian.
    """

    count: jax.Array
    params: optax.Params
    grads: optax.Updates
    diff_params: optax.Updates
    diff_grads: optax.Updates
    rho: jax.Array
    stored: jax.Array
    hessian_scale: jax.Array


def _scale_by_torch_lbfgs(
    memory_size: int, scale_init_precond: bool, tolerance_grad: float = 0.0, tolerance_change: float = 0.0
) -> optax.GradientTransformation:
    """The L-BFGS direction as ``torch.optim.LBFGS`` computes it (positive: scale by −α).

    Differences from `optax.scale_by_lbfgs`: the first step is the gradient scaled by
    min(1, 1/‖g‖₁) (Optax: 1/‖g‖₂), and a pair (s, y) enters the memory only when
    yᵀs > 1e-10 (Optax stores every pair), the initial scale γ coming from the last
    accepted pair. torch's stop rules within one ``step(max_iter=1)``: when
    max|g| <= `tolerance_grad` the update is zero and the state is left as it is (torch
    returns before touching its state); when the directional derivative gᵀd of the new
    direction d (−g at the first step) is > −`tolerance_change` the update is zero but
    the memory, the previous gradient and the count advance (torch breaks out of its
    loop after updating them). Both repeat at the next call, so the iteration stays there.
    """

    def init(params):
        def stacked(x):
            return jnp.zeros((memory_size,) + x.shape, x.dtype)

        dtype = scalar_dtype(params)
        return ScaleByTorchLbfgsState(
            count=jnp.zeros([], jnp.int32),
            params=optax.tree.zeros_like(params),
            grads=optax.tree.zeros_like(params),
            diff_params=jax.tree.map(stacked, params),
            diff_grads=jax.tree.map(stacked, params),
            rho=jnp.zeros([memory_size], dtype),
            stored=jnp.zeros([], jnp.int32),
            hessian_scale=jnp.ones([], dtype),
        )

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(_validate.NO_PARAMS)
        s = optax.tree.sub(params, state.params)
        y = optax.tree.sub(updates, state.grads)
        ys = optax.tree.vdot(y, s).astype(state.rho.dtype)
        yy = optax.tree.vdot(y, y).astype(state.rho.dtype)
        accept = (state.count > 0) & (ys > CURVATURE_THRESHOLD)
        slot = state.stored % memory_size

        def write(memory, new):
            return jax.tree.map(lambda buf, x: buf.at[slot].set(x.astype(buf.dtype)), memory, new)

        diff_params, diff_grads = jax.lax.cond(
            accept,
            lambda: (write(state.diff_params, s), write(state.diff_grads, y)),
            lambda: (state.diff_params, state.diff_grads),
        )
        rho = jnp.where(accept, state.rho.at[slot].set(1 / jnp.where(accept, ys, 1)), state.rho)
        stored = state.stored + accept.astype(jnp.int32)
        scale = jnp.where(accept, ys / jnp.where(accept, yy, 1), state.hessian_scale)
        if not scale_init_precond:
            scale = jnp.ones_like(scale)
        first_scale = jnp.minimum(1.0, 1.0 / sum(jnp.sum(jnp.abs(g)) for g in jax.tree.leaves(updates)))
        gamma = jnp.where(state.count == 0, first_scale.astype(scale.dtype), scale)

        newest_first = (stored - 1 - jnp.arange(memory_size)) % memory_size

        def backward(q, i):
            s_i, y_i = jax.tree.map(lambda x: x[i], (diff_params, diff_grads))
            alpha = rho[i] * optax.tree.vdot(s_i, q)
            return optax.tree.add_scale(q, -alpha, y_i), alpha

        q, alphas = jax.lax.scan(backward, updates, newest_first)
        r = optax.tree.scale(gamma, q)

        def forward(r, i_alpha):
            i, alpha = i_alpha
            s_i, y_i = jax.tree.map(lambda x: x[i], (diff_params, diff_grads))
            beta = rho[i] * optax.tree.vdot(y_i, r)
            return optax.tree.add_scale(r, alpha - beta, s_i), None

        r, _ = jax.lax.scan(forward, r, (newest_first[::-1], alphas[::-1]))
        # torch's gᵀd, d = −(the direction before the first step's min(1, 1/‖g‖₁)).
        gtd = -optax.tree.vdot(updates, r).astype(scale.dtype) / jnp.where(state.count == 0, gamma, 1.0)
        optimal = jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in jax.tree.leaves(updates)])) <= tolerance_grad
        stop = optimal | (gtd > -tolerance_change)
        r = jax.tree.map(lambda x: jnp.where(stop, jnp.zeros_like(x), x), r)
        new = ScaleByTorchLbfgsState(
            count=optax.safe_increment(state.count),
            params=params,
            grads=updates,
            diff_params=diff_params,
            diff_grads=diff_grads,
            rho=rho,
            stored=stored,
            hessian_scale=scale,
        )
        new = jax.tree.map(lambda old, fresh: jnp.where(optimal, old, fresh), state, optax.tree.cast_like(new, state))
        return optax.tree.cast_like(r, updates), new

    return optax.GradientTransformation(init, update)


@registry.register("optimizer", "lbfgs")
def lbfgs(
    learning_rate: ScheduleLike = 1.0,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: Literal["zoom", "none"] = "zoom",
    max_linesearch_steps: int = 20,
    convention: Literal["optax", "torch"] = "optax",
    tolerance_grad: float = 1e-7,
    tolerance_change: float = 1e-9,
) -> optax.GradientTransformationExtraArgs:
    r"""L-BFGS: a limited-memory quasi-Newton method, for full-batch, low-noise problems.

    When to use it: the whole objective (or a fixed, large batch) is evaluated at every
    step and is smooth and deterministic — small models, fitting a few parameters,
    logistic regression, style transfer. With mini-batch gradients its curvature pairs
    and line search are corrupted by the noise; use a first-order method there.

    The direction multiplies the gradient by an inverse-Hessian estimate built from the
    last ``memory_size`` pairs (s, y) = (Δθ, Δg) (Nocedal & Wright, Algorithm 7.4); the
    step is then scaled by α and, with ``linesearch="zoom"``, by Optax's zoom line search
    (strong Wolfe conditions, initial guess 1). With the line search, ``update`` needs the
    objective::

        value_and_grad = optax.value_and_grad_from_state(loss)
        value, grad = value_and_grad(params, state=opt_state)  # reuses the line search's evaluation
        updates, opt_state = opt.update(grad, opt_state, params, value=value, grad=grad, value_fn=loss)

    The training loop (``tricks train``) passes these for the current batch, so a config
    can say ``optimizer: lbfgs()``; give it a batch that holds the whole training set (or
    a large fixed one), as above. With ``linesearch="none"`` it is an ordinary
    ``update(grads, state, params)`` with a fixed step α.

    Conventions: Optax's by default (first step scaled by min(1, 1/‖g‖₂), every pair
    stored). ``convention="torch"`` follows ``torch.optim.LBFGS``: first step scaled by
    min(1, 1/‖g‖₁), pairs kept only when yᵀs > 1e-10. One ``update`` is one torch
    iteration (``max_iter=1``); torch's own strong-Wolfe search is not reproduced, so
    ``LBFGS(line_search_fn=None)`` corresponds to ``linesearch="none"``. With ``"torch"``,
    torch's stop rules apply as they do inside one ``step`` with ``max_iter=1``: no step once the
    largest gradient entry is <= ``tolerance_grad``, or once the directional derivative
    gᵀd of the direction d is > −``tolerance_change`` (its other rules — step size, loss
    change, evaluation count — are only checked after the last iteration, so never with
    ``max_iter=1``). A stopped iteration stays stopped: the parameters no longer move.

    Args:
        learning_rate: α (with a line search, a scale of the direction it starts from);
            a number or a schedule; injected.
        memory_size: number of pairs kept, >= 1 (torch's ``history_size``).
        scale_init_precond: start from γI, γ = yᵀs/yᵀy of the last pair (else I).
        linesearch: ``"zoom"`` or ``"none"``.
        max_linesearch_steps: iterations of the line search, >= 1.
        convention: ``"optax"`` or ``"torch"``.
        tolerance_grad: >= 0, torch's stop on max|g| (``convention="torch"`` only).
        tolerance_change: >= 0, torch's stop on gᵀd (``convention="torch"`` only).

    Returns:
        An `optax.GradientTransformationExtraArgs`.

    Examples:
        >>> import jax, jax.numpy as jnp, optax, registry, tricks
        >>> def loss(w):
        ...     return jnp.sum((w - jnp.array([1.0, -2.0])) ** 2 * jnp.array([1.0, 10.0]))
        >>> opt = registry.build("optimizer", "lbfgs(memory_size=5)")
        >>> value_and_grad = optax.value_and_grad_from_state(loss)
        >>> @jax.jit
        ... def step(params, state):
        ...     value, grad = value_and_grad(params, state=state)
        ...     updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=loss)
        ...     return optax.apply_updates(params, updates), state
        >>> params, state = jnp.zeros(2), opt.init(jnp.zeros(2))
        >>> for _ in range(5):
        ...     params, state = step(params, state)
        >>> params.round(4)
        Array([ 1., -2.], dtype=float32)
    """
    _validate.non_negative(
        learning_rate=learning_rate, tolerance_grad=tolerance_grad, tolerance_change=tolerance_change
    )
    _validate.at_least(1, memory_size=memory_size, max_linesearch_steps=max_linesearch_steps)
    if convention == "torch":
        direction = _scale_by_torch_lbfgs(memory_size, scale_init_precond, tolerance_grad, tolerance_change)
    else:
        direction = optax.scale_by_lbfgs(memory_size, scale_init_precond)
    search = []
    if linesearch == "zoom":
        search = [optax.scale_by_zoom_linesearch(max_linesearch_steps, initial_guess_strategy="one")]

    def build(learning_rate):
        return optax.chain(direction, optax.scale_by_learning_rate(learning_rate), *search)

    return inject(build, learning_rate=learning_rate)
