"""SWATS and AdaBound/AMSBound against NumPy transcriptions of their papers, step by step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import jit
import numpy as np
import optax
import pytest

import registry
import tricks  # noqa: F401  (registers the optimizers)
from tests.optimizers import paper_algorithms
from tricks.optimizers import ScaleByAdaBoundState, ScaleBySwatsState, find_state

RNG = np.random.default_rng(0)
A = RNG.normal(size=(20, 5)) * np.array([1.0, 3.0, 0.3, 1.0, 0.1])
B = RNG.normal(size=20)


def grad_numpy(w):
    return A.T @ (A @ w - B) / len(B)


def grad_jax(w):
    return jnp.asarray(A).T @ (jnp.asarray(A) @ w - jnp.asarray(B)) / len(B)


def run(spec_or_opt, steps, state_type):
    """Our iterates and the named sub-state after each step (float64, jitted scan)."""
    opt = registry.build("optimizer", spec_or_opt) if isinstance(spec_or_opt, str) else spec_or_opt

    def step(carry, _):
        w, state = carry
        updates, state = opt.update(grad_jax(w), state, w)
        w = optax.apply_updates(w, updates)
        return (w, state), (w, find_state(state, state_type))

    w0 = jnp.zeros(5)
    _, (ws, states) = jit(lambda w: jax.lax.scan(step, (w, opt.init(w)), length=steps))(w0)
    return np.asarray(ws), states


def test_swats_follows_the_paper_through_the_switch(x64):
    steps, lr, switch_eps = 150, 0.003, 1e-4
    ref = paper_algorithms.swats(grad_numpy, np.zeros(5), steps, lr, switch_eps=switch_eps)
    ws, states = run(f"swats(learning_rate={lr}, switch_eps={switch_eps})", steps, ScaleBySwatsState)
    switch = ref[-1]["switch_step"]
    assert 10 < switch < steps - 10, "the problem must switch mid-run for this test to mean something"
    np.testing.assert_allclose(ws, np.stack([r["w"] for r in ref]), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(states.switched), [r["switched"] for r in ref])
    np.testing.assert_array_equal(np.asarray(states.switch_step), [r["switch_step"] for r in ref])
    np.testing.assert_allclose(np.asarray(states.sgd_rate), [r["sgd_rate"] for r in ref], rtol=1e-10)
    np.testing.assert_allclose(np.asarray(states.rate_average), [r["lam"] for r in ref], rtol=1e-10)


def test_swats_switches_at_once_on_a_constant_gradient(x64):
    """With g constant, Adam's step is −α·sign(g), so γ = α·n/‖g‖₁ every step and λ̂ = γ."""
    g = jnp.array([1.0, -2.0, 0.5])
    opt = registry.build("optimizer", "swats(learning_rate=0.1)")
    w, state, update = jnp.zeros(3), opt.init(jnp.zeros(3)), jit(opt.update)
    for _ in range(3):
        updates, state = update(g, state, w)
        w = w + updates
    swats = find_state(state, ScaleBySwatsState)
    assert bool(swats.switched) and int(swats.switch_step) == 2
    rate = 0.1 * 3 / 3.5
    assert float(swats.sgd_rate) == pytest.approx(rate, rel=1e-6)
    # Step 3 is the first SGD step: v = g, step = −(1 − β1)·Λ·g.
    np.testing.assert_allclose(updates, -(1 - 0.9) * float(swats.sgd_rate) * g, rtol=1e-12)


def test_swats_sgd_phase_follows_a_learning_rate_schedule(x64):
    """After the switch a schedule still acts: the SGD step scales with α_t/α_switch."""
    g = jnp.array([1.0, -2.0])

    def steps_with(schedule):
        opt = registry.get("optimizer", "swats")(learning_rate=schedule)
        w, state, out, update = jnp.zeros(2), opt.init(jnp.zeros(2)), [], jit(opt.update)
        for _ in range(5):
            updates, state = update(g, state, w)
            out.append(updates)
        return out

    constant = steps_with(lambda t: 0.1)
    halved = steps_with(lambda t: jnp.where(t >= 3, 0.05, 0.1))
    np.testing.assert_allclose(halved[3], constant[3] / 2, rtol=1e-12)
    np.testing.assert_allclose(halved[2], constant[2], rtol=1e-12)


@pytest.mark.parametrize("name", ["adabound", "amsbound"])
def test_adabound_follows_the_paper_with_both_bounds_active(name, x64):
    steps, lr, final_lr, gamma, b2 = 100, 0.003, 0.03, 0.1, 0.9

    def schedule(t):
        return lr * (0.5 if t >= 50 else 1.0)  # moves the bounds too

    ref = paper_algorithms.adabound(
        grad_numpy,
        np.zeros(5),
        steps,
        schedule,
        final_lr=final_lr,
        beta2=b2,
        gamma=gamma,
        amsbound=name == "amsbound",
    )
    assert sum(r["clipped_low"] for r in ref) > 50 and sum(r["clipped_high"] for r in ref) > 50
    opt = registry.get("optimizer", name)(
        learning_rate=lambda t: jnp.where(t >= 50, lr * 0.5, lr), final_lr=final_lr, b2=b2, gamma=gamma
    )
    ws, states = run(opt, steps, ScaleByAdaBoundState)
    np.testing.assert_allclose(ws, np.stack([r["w"] for r in ref]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(states.lower), [r["lower"] for r in ref], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(states.upper), [r["upper"] for r in ref], rtol=1e-12)


def test_adabound_and_amsbound_differ():
    """The running maximum matters once the gradient shrinks (so the test above tests both)."""
    ref = [
        paper_algorithms.adabound(
            grad_numpy, np.zeros(5), 100, lambda t: 0.003, final_lr=0.03, beta2=0.9, gamma=0.1, amsbound=ams
        )[-1]["w"]
        for ams in (False, True)
    ]
    assert np.max(np.abs(ref[0] - ref[1])) > 1e-6
