"""Hyperparameters injected into the optimizer state: values, steps, wrappers, schedules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import jit
import numpy as np
import optax
import pytest

import registry
import tricks  # noqa: F401  (registers the optimizers and schedules)
from tricks.optimizers import hyperparams, inject, set_hyperparams

PARAMS = {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)}
GRADS = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}


def test_stored_value_is_the_one_the_last_update_used():
    """Fresh state: step 0's value. After the update of step t: step t's value."""
    opt = registry.get("optimizer", "sgd")(learning_rate=lambda t: 0.1 * (t + 1))
    state = opt.init(PARAMS)
    assert float(hyperparams(state)["learning_rate"]) == pytest.approx(0.1)
    for t in range(3):
        updates, state = opt.update(GRADS, state)
        used = -float(updates["bias"][0])
        assert used == pytest.approx(0.1 * (t + 1))
        assert float(hyperparams(state)["learning_rate"]) == pytest.approx(used)


@pytest.mark.parametrize(
    "spec, names",
    [
        ("sgd(learning_rate=0.1)", {"learning_rate"}),
        (
            "sgd(learning_rate=0.1, momentum=0.9, weight_decay=1e-4)",
            {"learning_rate", "momentum", "weight_decay"},
        ),
        ("rmsprop(momentum=0.9)", {"learning_rate", "momentum"}),
        ("adam", {"learning_rate", "b1"}),
        ("adamw", {"learning_rate", "b1", "weight_decay"}),
        ("lars(learning_rate=1.0, weight_decay=1e-4)", {"learning_rate", "momentum", "weight_decay"}),
        ("lbfgs", {"learning_rate"}),
        ("accumulate(swats(), every_k=2)", {"learning_rate", "b1"}),
        ("freeze(lamb(), patterns=['bias'])", {"learning_rate", "b1"}),
        ("lookahead(skip_nonfinite(clip_by_value(nadam(), max_delta=1.0)))", {"learning_rate", "b1"}),
        ("weight_decay(adam(), weight_decay=1e-3)", {"learning_rate", "b1", "weight_decay"}),
    ],
)
def test_found_through_wrappers(spec, names):
    assert set(hyperparams(registry.build("optimizer", spec).init(PARAMS))) == names


def test_a_name_held_twice_is_prefixed_by_its_path():
    state = registry.build("optimizer", "weight_decay(adamw(weight_decay=0.1), weight_decay=0.2)").init(
        PARAMS
    )
    found = {k: float(v) for k, v in hyperparams(state).items()}
    assert found == pytest.approx(
        {"learning_rate": 1e-3, "b1": 0.9, "inner_state/weight_decay": 0.1, "decay/weight_decay": 0.2}
    )


def test_set_hyperparams_changes_a_constant_from_the_next_update():
    opt = registry.build("optimizer", "momentum(learning_rate=0.1, momentum=0.0)")
    state = set_hyperparams(opt.init(PARAMS), learning_rate=0.5)
    updates, state = opt.update(GRADS, state)
    assert float(updates["bias"][0]) == pytest.approx(-0.5)
    assert float(hyperparams(state)["learning_rate"]) == 0.5
    with pytest.raises(KeyError, match="b2"):
        set_hyperparams(state, b2=0.9)


def test_set_hyperparams_cannot_override_a_schedule():
    opt = registry.get("optimizer", "sgd")(learning_rate=lambda t: 0.1)
    state = set_hyperparams(opt.init(PARAMS), learning_rate=0.5)
    assert float(opt.update(GRADS, state)[0]["bias"][0]) == pytest.approx(-0.1)


def test_schedule_specs_through_the_registry():
    opt = registry.build(
        "optimizer",
        "sgd(learning_rate=cosine(init_value=0.1, decay_steps=10), momentum=one_cycle_momentum(total_steps=10))",
    )
    lr = registry.build("schedule", "cosine(init_value=0.1, decay_steps=10)")
    momentum = registry.build("schedule", "one_cycle_momentum(total_steps=10)")
    state = opt.init(PARAMS)
    update = jit(opt.update)
    for t in range(10):
        _, state = update(GRADS, state)
        found = hyperparams(state)
        assert float(found["learning_rate"]) == pytest.approx(float(lr(t)), rel=1e-6)
        assert float(found["momentum"]) == pytest.approx(float(momentum(t)), rel=1e-6)


def test_readable_inside_jit_for_logging():
    opt = registry.build("optimizer", "adamw(learning_rate=3e-4)")

    @jit
    def step(state):
        _, state = opt.update(GRADS, state, PARAMS)
        return state, hyperparams(state)

    _, logged = step(opt.init(PARAMS))
    assert float(logged["learning_rate"]) == pytest.approx(3e-4)


def test_dtypes_float32_for_low_precision_float64_for_float64(x64):
    low = jax.tree.map(lambda x: x.astype(jnp.bfloat16), PARAMS)
    high = jax.tree.map(lambda x: x.astype(jnp.float64), PARAMS)
    opt = registry.build("optimizer", "adam")
    assert hyperparams(opt.init(low))["learning_rate"].dtype == jnp.float32
    assert hyperparams(opt.init(high))["learning_rate"].dtype == jnp.float64


def test_inject_hands_extra_arguments_to_the_chain():
    seen = {}

    def probe(scale):
        def update(updates, state, params=None, **extra):
            seen.update(extra)
            return jax.tree.map(lambda u: u * scale, updates), state

        return optax.GradientTransformationExtraArgs(optax.init_empty_state, update)

    opt = inject(probe, scale=2.0)
    updates, _ = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)), value=jnp.array(1.5))
    np.testing.assert_allclose(updates, [2.0, 2.0])
    assert float(seen["value"]) == 1.5
