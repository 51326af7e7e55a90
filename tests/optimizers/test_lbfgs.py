"""L-BFGS in full-batch use: Optax's line search through our state, and torch's conventions."""

from __future__ import annotations

import json
import pathlib

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


FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


def quadratic_path(spec: str, steps: int) -> np.ndarray:
    """Our parameters after each step on ½xᵀdiag(1, 10)x − [1, 1]·x from 0 (the fixture's problem)."""
    opt = registry.build("optimizer", spec)

    def f(x):
        return 0.5 * jnp.sum(jnp.array([1.0, 10.0]) * x * x) - jnp.sum(x)

    def step(carry, _):
        x, state = carry
        updates, state = opt.update(jax.grad(f)(x), state, x)
        x = optax.apply_updates(x, updates)
        return (x, state), x

    x0 = jnp.zeros(2)
    return np.asarray(jit(lambda x: jax.lax.scan(step, (x, opt.init(x)), length=steps)[1])(x0))


def test_torch_convention_stops_where_torch_does(x64):
    """torch's LBFGS (default tolerances, fixture from tools/fixtures/make_optimizer_fixtures.py)
    stops moving once gᵀd > −tolerance_change: from step 8 on it stays at (0.99999884, 0.10000011)."""
    meta = json.loads((FIXTURES / "optimizers_torch.json").read_text())["quadratic"]
    theirs = np.load(FIXTURES / "optimizers_torch.npz")["quadratic/trajectory"]
    assert meta["kwargs"] == {"lr": 1.0, "history_size": 100, "max_iter": 1} and len(theirs) == meta["steps"]
    assert np.array_equal(theirs[6], theirs[-1]) and not np.array_equal(theirs[5], theirs[6])
    ours = quadratic_path("lbfgs(memory_size=100, linesearch='none', convention='torch')", meta["steps"])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    # Without the stop rule the iteration goes on to the minimum (1, 0.1), away from torch's.
    free = quadratic_path(
        "lbfgs(memory_size=100, linesearch='none', convention='torch', tolerance_change=0.0)", meta["steps"]
    )
    np.testing.assert_allclose(free[-1], [1.0, 0.1], rtol=0, atol=1e-7)
    assert np.abs(free[-1] - theirs[-1]).max() > 1e-6


def test_torch_convention_small_gradient_leaves_the_state_as_it_is():
    """max|g| <= tolerance_grad: no step, and the L-BFGS state untouched (torch returns before using it)."""
    opt = registry.build(
        "optimizer", "lbfgs(linesearch='none', convention='torch', tolerance_grad=0.1, tolerance_change=0.0)"
    )
    w, update = jnp.zeros(2), jit(opt.update)
    updates, state = update(jnp.array([2.0, 0.0]), opt.init(w), w)
    w = w + updates
    updates, after = update(jnp.array([0.05, -0.1]), state, w)
    np.testing.assert_array_equal(updates, jnp.zeros(2))
    old_state, new_state = (find_state(s, ScaleByTorchLbfgsState) for s in (state, after))
    assert int(old_state.count) == 1
    for old, new in zip(jax.tree.leaves(old_state), jax.tree.leaves(new_state), strict=True):
        np.testing.assert_array_equal(old, new)
    updates, _ = update(jnp.array([0.05, -0.11]), state, w)  # just above: a step
    assert float(jnp.abs(updates).max()) > 0
