"""Momentum schedules as an optimizer's ``momentum`` or ``b1``: they drive the update and are readable."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the schedules and optimizers)
from tricks.optimizers import hyperparams

T = 30
PAIRS = [
    ("sgd", "momentum", f"one_cycle(max_lr=0.4, total_steps={T})", f"one_cycle_momentum(total_steps={T})"),
    (
        "sgd",
        "momentum",
        "cyclic(base_lr=0.01, max_lr=0.1, step_size_up=4, mode='triangular2')",
        "cyclic_momentum(step_size_up=4, mode='triangular2')",
    ),
    ("adam", "b1", f"one_cycle(max_lr=0.01, total_steps={T})", f"one_cycle_momentum(total_steps={T})"),
]


@pytest.mark.parametrize("optimizer, argument, rate_spec, momentum_spec", PAIRS)
def test_a_momentum_pair_cycles_both_and_is_readable_from_the_state(
    optimizer, argument, rate_spec, momentum_spec
):
    # The config: sgd(learning_rate=one_cycle(...), momentum=one_cycle_momentum(...)).
    opt = registry.build("optimizer", f"{optimizer}(learning_rate={rate_spec}, {argument}={momentum_spec})")
    rate = registry.build("schedule", rate_spec)
    momentum = registry.build("schedule", momentum_spec)
    params = {"w": jnp.zeros(3)}
    state, update = opt.init(params), jax.jit(opt.update)
    grads = np.random.RandomState(0).randn(T + 5, 3)
    buf, first, second = np.zeros(3), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads):  # past the end of the cycle too
        updates, state = update({"w": jnp.asarray(g, jnp.float32)}, state, params)
        found = hyperparams(state)  # the values used by the update just done: step t's
        np.testing.assert_allclose(float(found["learning_rate"]), float(rate(t)), rtol=1e-6)
        np.testing.assert_allclose(float(found[argument]), float(momentum(t)), rtol=1e-6)
        mu = float(momentum(t))
        if optimizer == "sgd":  # torch SGD: buf = mu * buf + g, step -lr * buf
            buf = mu * buf + g
            expected = -float(rate(t)) * buf
        else:  # optax's Adam with this step's b1, bias-corrected by it
            first = mu * first + (1 - mu) * g
            second = 0.999 * second + 0.001 * g**2
            m_hat, v_hat = first / (1 - mu ** (t + 1)), second / (1 - 0.999 ** (t + 1))
            expected = -float(rate(t)) * m_hat / (np.sqrt(v_hat) + 1e-8)
        np.testing.assert_allclose(np.asarray(updates["w"]), expected, rtol=1e-4, atol=1e-9)
    assert len({round(float(momentum(t)), 6) for t in range(T)}) > 5  # the momentum did move
