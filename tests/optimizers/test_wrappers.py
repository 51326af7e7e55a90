"""What each wrapper does, and the weight-decay masks and regex groups.

(That clip_by_global_norm, clip_by_value and the decoupled weight_decay wrapper equal
their Optax chains is checked with the benchmark's cases, test_benchmark_cases.py.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import jit
import numpy as np
import optax
import pytest

import registry
import tricks
from tricks.optimizers import default_decay_mask, find_state, hyperparams

PARAMS = {
    "backbone": {"Dense_0": {"kernel": jnp.full((2, 3), 0.5), "bias": jnp.full(3, 0.1)}},
    "head": {"kernel": jnp.full((3, 1), -0.3), "bias": jnp.zeros(1)},
}


def grads(seed: int):
    keys = jax.random.split(jax.random.key(seed), 4)
    leaves, treedef = jax.tree.flatten(PARAMS)
    return jax.tree.unflatten(treedef, [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])


def trajectory(opt, steps=5, params=PARAMS):
    state, out, update = opt.init(params), [], jit(opt.update)
    for t in range(steps):
        updates, state = update(grads(t), state, params)
        params = optax.apply_updates(params, updates)
        out.append(params)
    return out, state


def assert_same(a, b, rtol=1e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-7)


def build(spec):
    return registry.build("optimizer", spec)


def test_accumulate_makes_one_update_of_the_mean_every_k():
    opt = build("accumulate(adam(learning_rate=0.1), every_k=3)")
    state, update = opt.init(PARAMS), jit(opt.update)
    for t in range(3):
        updates, state = update(grads(t), state, PARAMS)
        if t < 2:
            assert all(float(jnp.abs(u).max()) == 0 for u in jax.tree.leaves(updates))
    mean = jax.tree.map(lambda *g: sum(g) / 3, *[grads(t) for t in range(3)])
    single = build("adam(learning_rate=0.1)")
    expected, _ = single.update(mean, single.init(PARAMS), PARAMS)
    assert_same(updates, expected, rtol=1e-5)
    assert int(find_state(state, tricks.optimizers.InjectState).count) == 1


@pytest.mark.parametrize("use_grad_mean, factor", [(True, 1 / 3), (False, 1.0)])
def test_accumulate_averages_or_sums(use_grad_mean, factor):
    """With plain SGD (unlike Adam, not scale-invariant) the mean and the sum differ."""
    opt = build(f"accumulate(sgd(learning_rate=0.1), every_k=3, use_grad_mean={use_grad_mean})")
    state, update = opt.init(PARAMS), jit(opt.update)
    for t in range(3):
        updates, state = update(grads(t), state, PARAMS)
    total = jax.tree.map(lambda *g: sum(g), *[grads(t) for t in range(3)])
    assert_same(updates, jax.tree.map(lambda g: -0.1 * factor * g, total), rtol=1e-5)


def test_skip_nonfinite_skips_and_counts():
    opt = build("skip_nonfinite(adam(learning_rate=0.1))")
    state, update = opt.init(PARAMS), jit(opt.update)
    bad = jax.tree.map(lambda g: g.at[0].set(jnp.nan), grads(0))
    updates, state = update(bad, state, PARAMS)
    assert all(float(jnp.abs(u).max()) == 0 for u in jax.tree.leaves(updates))
    assert int(state.total_notfinite) == 1
    after, _ = update(grads(1), state, PARAMS)
    fresh = build("adam(learning_rate=0.1)")
    assert_same(after, fresh.update(grads(1), fresh.init(PARAMS), PARAMS)[0])


def test_decoupled_weight_decay_follows_the_inner_learning_rate_schedule():
    schedule = optax.linear_schedule(0.1, 0.01, 5)
    wrapper = registry.get("optimizer", "weight_decay")
    ours, _ = trajectory(wrapper(registry.get("optimizer", "adam")(learning_rate=schedule), weight_decay=0.3))
    adamw, _ = trajectory(registry.get("optimizer", "adamw")(learning_rate=schedule, weight_decay=0.3))
    assert_same(ours, adamw)


def test_l2_weight_decay_wrapper_is_adam_with_weight_decay():
    ours, _ = trajectory(
        build("weight_decay(adam(learning_rate=0.1), weight_decay=0.3, mask='all', decoupled=False)")
    )
    l2, _ = trajectory(build("adam(learning_rate=0.1, weight_decay=0.3)"))
    assert_same(ours, l2)


def test_decoupled_weight_decay_needs_an_injected_learning_rate():
    wrapper = registry.get("optimizer", "weight_decay")(optax.sgd(0.1), weight_decay=1e-3)
    with pytest.raises(registry.RegistryError) as info:
        wrapper.init(PARAMS)
    assert info.value.argument == "decoupled" and "optimizer 'weight_decay'" in str(info.value)


def test_default_mask_spares_biases_and_normalization():
    params = {
        "Conv_0": {"kernel": jnp.ones((3, 3, 1, 4)), "bias": jnp.ones(4)},
        "BatchNorm_0": {"scale": jnp.ones(4), "bias": jnp.ones(4)},
        "LayerNorm_0": {"scale": jnp.ones(4)},
        "Embed_0": {"embedding": jnp.ones((10, 4))},
        "ScanBlock": {"Dense_0": {"kernel": jnp.ones((2, 4, 4)), "bias": jnp.ones((2, 4))}},
        "rms_norm_weight": jnp.ones((2, 4)),
    }
    decayed = {
        path
        for path, m in zip(
            tricks.optimizers.parameter_paths(params), jax.tree.leaves(default_decay_mask(params))
        )
        if m
    }
    assert decayed == {"Conv_0/kernel", "Embed_0/embedding", "ScanBlock/Dense_0/kernel"}


@pytest.mark.parametrize(
    "spec",
    [
        "adamw(learning_rate=0.1, weight_decay=0.5)",
        "sgdw(learning_rate=0.1, weight_decay=0.5)",
        "lamb(learning_rate=0.1, weight_decay=0.5)",
        "lars(learning_rate=0.1, weight_decay=0.5)",
        "weight_decay(sgd(learning_rate=0.1), weight_decay=0.5)",
    ],
)
def test_default_mask_in_each_decaying_optimizer(spec):
    """With zero gradients only decay moves a parameter: kernels move, biases do not."""
    opt = build(spec)
    zeros = jax.tree.map(jnp.zeros_like, PARAMS)
    updates, _ = opt.update(zeros, opt.init(PARAMS), PARAMS)
    assert float(jnp.abs(updates["head"]["kernel"]).max()) > 0
    assert float(jnp.abs(updates["backbone"]["Dense_0"]["bias"]).max()) == 0


def test_regex_mask_selects_what_decays():
    opt = build("adamw(learning_rate=0.1, weight_decay=0.5, mask='^head/')")
    zeros = jax.tree.map(jnp.zeros_like, PARAMS)
    updates, _ = opt.update(zeros, opt.init(PARAMS), PARAMS)
    moved = {
        k for k, u in zip(tricks.optimizers.parameter_paths(PARAMS), jax.tree.leaves(updates)) if jnp.any(u)
    }
    assert moved == {"head/kernel"}


def test_group_lr_scales_each_group_first_match_wins():
    opt = build("group_lr(sgd(learning_rate=1.0), multipliers={'Dense_0/kernel': 0.0, 'backbone': 0.1})")
    g = grads(0)
    updates, _ = opt.update(g, opt.init(PARAMS), PARAMS)
    np.testing.assert_array_equal(updates["backbone"]["Dense_0"]["kernel"], 0.0)
    np.testing.assert_allclose(
        updates["backbone"]["Dense_0"]["bias"], -0.1 * g["backbone"]["Dense_0"]["bias"], rtol=1e-6
    )
    np.testing.assert_allclose(updates["head"]["kernel"], -g["head"]["kernel"])


def test_freeze_zeroes_and_keeps_no_state_for_frozen_parameters():
    opt = build("freeze(adam(learning_rate=0.1), patterns=['^backbone'])")
    (params, *_), state = trajectory(opt, steps=1)
    assert jax.tree.map(jnp.array_equal, params["backbone"], PARAMS["backbone"]) == {
        "Dense_0": {"kernel": True, "bias": True}
    }
    assert not jnp.array_equal(params["head"]["kernel"], PARAMS["head"]["kernel"])
    adam = find_state(state, optax.ScaleByAdamState)
    assert sum(x.size for x in jax.tree.leaves(adam.mu)) == 3 + 1  # the head only


@pytest.mark.parametrize(
    "spec, argument",
    [
        ("freeze(adam(), patterns=['backbone', 'decoder'])", "patterns"),
        ("group_lr(adam(), multipliers={'encoder': 0.1})", "multipliers"),
        ("adamw(mask='encoder')", "mask"),
        ("weight_decay(adam(), weight_decay=1e-4, mask='encoder')", "mask"),
        ("lamb(mask='encoder')", "mask"),
        ("sgdw(learning_rate=0.1, weight_decay=0.0, mask='encoder')", "mask"),
    ],
)
def test_a_regex_that_matches_nothing_raises_at_init(spec, argument):
    opt = build(spec)
    with pytest.raises(registry.RegistryError) as info:
        opt.init(PARAMS)
    name = registry.parse(spec).name
    assert info.value.argument == argument and info.value.name == name
    assert "matches no parameter" in str(info.value) and "backbone/Dense_0/kernel" in str(info.value)


def test_lookahead_matches_a_hand_computation():
    k, alpha, lr = 3, 0.5, 0.1
    opt = build(f"lookahead(sgd(learning_rate={lr}), sync_period={k}, slow_step_size={alpha})")
    ours, state = trajectory(opt, steps=7)
    fast = slow = jax.tree.map(np.asarray, PARAMS)
    for t in range(7):
        fast = jax.tree.map(lambda p, g: p - lr * np.asarray(g), fast, grads(t))
        if (t + 1) % k == 0:
            slow = jax.tree.map(lambda s, f: s + alpha * (f - s), slow, fast)
            fast = slow
        assert_same(ours[t], fast)
    assert_same(state.slow, slow)
    assert float(hyperparams(state)["learning_rate"]) == pytest.approx(lr)


@pytest.mark.parametrize("spec", [
    "lookahead(sgd(learning_rate=0.1), sync_period=2)",
    "weight_decay(sgd(learning_rate=0.1), weight_decay=0.1)",
    "lbfgs(memory_size=3, linesearch='none', convention='torch')",
])
def test_update_without_params_is_a_clear_value_error(spec):
    opt = registry.build("optimizer", spec)
    params = {"kernel": jnp.ones((2, 2))}
    with pytest.raises(ValueError, match="needs the current parameters"):
        opt.update(params, opt.init(params))
