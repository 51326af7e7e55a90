"""L-BFGS in full-batch use: Optax's line search through our state, and torch's conventions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import jit
import numpy as np
import optax

import registry
import tricks  # noqa: F401  (registers the optimizers)
from tricks.optimizers import ScaleByTorchLbfgsState, find_state

KEY_X, KEY_W = jax.random.split(jax.random.key(0))
X = jax.random.normal(KEY_X, (64, 6))
Y = (X @ jax.random.normal(KEY_W, (6,)) > 0).astype(jnp.float32)


def logistic(w):
    logits = X @ w
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, Y)) + 1e-2 * jnp.sum(w**2)


def solve(opt, steps):
    value_and_grad = optax.value_and_grad_from_state(logistic)

    def step(carry, _):
        w, state = carry
        value, grad = value_and_grad(w, state=state)
        updates, state = opt.update(grad, state, w, value=value, grad=grad, value_fn=logistic)
        return (optax.apply_updates(w, updates), state), value

    w0 = jnp.zeros(6)
    (w, _), values = jit(lambda w: jax.lax.scan(step, (w, opt.init(w)), length=steps))(w0)
    return w, values


def test_full_batch_with_line_search_converges_reusing_its_evaluations():
    """value_and_grad_from_state finds the line search's value and gradient in our state.

    (That the chain is Optax's ``lbfgs`` is checked with the benchmark's cases.)
    """
    ours, values = solve(registry.build("optimizer", "lbfgs"), 15)
    assert float(jnp.linalg.norm(jax.grad(logistic)(ours))) < 1e-5
    assert np.all(np.diff(np.asarray(values)) <= 1e-7)  # the line search only accepts decrease


def test_torch_convention_stores_only_positive_curvature_pairs():
    opt = registry.build("optimizer", "lbfgs(learning_rate=1.0, linesearch='none', convention='torch')")
    w, state, update = jnp.zeros(2), opt.init(jnp.zeros(2)), jit(opt.update)
    g0 = jnp.array([2.0, 0.0])
    updates, state = update(g0, state, w)
    np.testing.assert_allclose(updates, -g0 / 2.0)  # first step: g·min(1, 1/‖g‖₁)
    w = w + updates
    _, state = update(jnp.array([3.0, 0.0]), state, w)  # yᵀs = 1·(−1) < 0: not stored
    lbfgs = find_state(state, ScaleByTorchLbfgsState)
    assert int(lbfgs.stored) == 0 and float(lbfgs.hessian_scale) == 1.0
    _, state = update(jnp.array([1.0, 0.0]), state, jnp.array([-2.0, 0.0]))  # s = (−1, 0), y = (−2, 0)
    lbfgs = find_state(state, ScaleByTorchLbfgsState)
    assert int(lbfgs.stored) == 1 and float(lbfgs.hessian_scale) == 0.5
