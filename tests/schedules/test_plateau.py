"""reduce_on_plateau in an Optax chain: the scale multiplies the rate, feed_plateau advances it."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import registry
import tricks  # noqa: F401  (registers the schedules)
from tricks.schedules import Plateau, PlateauState, ScaleByPlateauState, feed_plateau, scale_by_plateau

PARAMS = {"w": jnp.array([1.0, -2.0, 3.0]), "b": jnp.array(0.5)}
GRADS = {"w": jnp.array([0.1, 0.2, -0.3]), "b": jnp.array(1.0)}


def plateau(**kwargs) -> Plateau:
    return registry.build("schedule", {"name": "reduce_on_plateau", **kwargs})


def test_builds_a_plateau_with_a_float_scale_and_int_counters():
    rule = plateau(factor=0.5, patience=2)
    assert isinstance(rule, Plateau) and rule.factor == 0.5 and rule.patience == 2
    state = rule.update(rule.init(), 1.0)
    assert isinstance(state, PlateauState)
    assert state.scale.dtype == jnp.float32 and state.num_bad_epochs.dtype == jnp.int32
    assert state.cooldown_counter.dtype == jnp.int32 and float(state.best) == 1.0


def test_nan_metric_counts_as_no_improvement():
    rule = plateau(factor=0.5, patience=0)
    state = rule.update(rule.update(rule.init(), 1.0), float("nan"))
    assert float(state.scale) == 0.5 and float(state.best) == 1.0


@pytest.mark.parametrize("make", [lambda lr: optax.sgd(lr, momentum=0.9), lambda lr: optax.adam(lr)])
def test_chained_after_an_optimizer_it_multiplies_the_learning_rate(make):
    rule = plateau(factor=0.5, patience=1)
    chained = optax.chain(make(0.1), scale_by_plateau(rule))
    state = chained.init(PARAMS)
    for loss in [1.0, 1.0, 1.0, 1.0, 1.0]:  # bad, bad -> 0.5, bad, bad -> 0.25
        state = feed_plateau(state, loss)
    assert float(state[1].plateau_state.scale) == 0.25
    reference = make(0.1 * 0.25)
    ref_state = reference.init(PARAMS)
    for _ in range(3):
        updates, state = chained.update(GRADS, state, PARAMS)
        expected, ref_state = reference.update(GRADS, ref_state, PARAMS)
        jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), updates, expected)


def test_feed_plateau_reaches_every_plateau_in_a_nested_state_under_jit():
    fast, slow = plateau(factor=0.5, patience=0), plateau(factor=0.1, patience=1)
    optimizer = optax.chain(
        optax.inject_hyperparams(optax.sgd)(learning_rate=0.1),
        optax.multi_transform(
            {"a": scale_by_plateau(fast), "b": scale_by_plateau(slow)}, {"w": "a", "b": "b"}
        ),
    )
    state = optimizer.init(PARAMS)
    feed = jax.jit(feed_plateau)
    for loss in [2.0, 3.0, 3.0]:
        state = feed(state, loss)
    found = [
        node
        for node in jax.tree_util.tree_leaves(state, is_leaf=lambda n: isinstance(n, ScaleByPlateauState))
        if isinstance(node, ScaleByPlateauState)
    ]
    assert sorted(float(n.plateau_state.scale) for n in found) == pytest.approx([0.1, 0.25])
    assert float(state[0].hyperparams["learning_rate"]) == pytest.approx(0.1)
    # Feeding keeps the pytree structure, so a jitted train step is not traced again.
    assert jax.tree_util.tree_structure(state) == jax.tree_util.tree_structure(optimizer.init(PARAMS))


def test_feed_plateau_leaves_a_state_without_plateaus_alone():
    state = optax.adam(1e-3).init(PARAMS)
    fed = feed_plateau(state, 1.0)
    assert jax.tree_util.tree_structure(fed) == jax.tree_util.tree_structure(state)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(a, b), fed, state)


def test_only_the_plateau_state_is_data():
    state = optax.chain(optax.sgd(0.1), scale_by_plateau(plateau())).init(PARAMS)
    leaves = jax.tree_util.tree_leaves(state)
    assert len(leaves) == 4 and all(isinstance(leaf, jax.Array) for leaf in leaves)


def test_scale_by_plateau_needs_a_plateau():
    with pytest.raises(registry.RegistryError, match="argument 'plateau'"):
        scale_by_plateau(registry.build("schedule", "cosine(init_value=0.1, decay_steps=10)"))
