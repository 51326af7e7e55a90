"""Lion, AdaBelief, Yogi, Adan, Prodigy and ADOPT: Optax's own trajectories, closed-form first
steps, and Lion against Keras's golden values."""

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

START = {"kernel": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "bias": jnp.array([0.3, -0.2])}
TARGET = jnp.array([[0.5, 1.0], [-1.5, 2.0]])


def loss(params):
    """Not quadratic (a quartic and a log-cosh), so every method's moments vary from step to step."""
    k, b = params["kernel"], params["bias"]
    return jnp.sum((k - TARGET) ** 4 + (k - TARGET) ** 2) + jnp.sum(jnp.log(jnp.cosh(3 * b - 1)))


def path(opt, steps=25, params=START):
    """The parameters after each of `steps` full-batch steps (jitted scan)."""

    def step(carry, _):
        params, state = carry
        updates, state = opt.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
        return (params, state), params

    return jit(lambda p: jax.lax.scan(step, (p, opt.init(p)), length=steps)[1])(params)


def decayed(opt, learning_rate, weight_decay):
    """Decoupled decay added to an Optax optimizer by hand: u − α·λ·θ on every parameter."""
    return optax.chain(opt, optax.add_decayed_weights(-learning_rate * weight_decay))


PAIRS = {
    "lion": ("lion(learning_rate=0.01, weight_decay=0.0)", lambda: optax.lion(0.01, weight_decay=0.0)),
    "lion_decay_all": (
        "lion(learning_rate=0.01, b1=0.8, b2=0.95, weight_decay=0.5, mask='all')",
        lambda: optax.lion(0.01, b1=0.8, b2=0.95, weight_decay=0.5),
    ),
    "lion_decay_default_mask": (
        "lion(learning_rate=0.01, weight_decay=0.5)",
        lambda: optax.lion(0.01, weight_decay=0.5, mask=default_decay_mask),
    ),
    "adabelief": ("adabelief(learning_rate=0.05)", lambda: optax.adabelief(0.05)),
    "adabelief_decay": (
        "adabelief(learning_rate=0.05, b1=0.8, b2=0.99, weight_decay=0.1, mask='all')",
        lambda: decayed(optax.adabelief(0.05, b1=0.8, b2=0.99), 0.05, 0.1),
    ),
    "yogi": ("yogi(learning_rate=0.05)", lambda: optax.yogi(0.05)),
    "yogi_b": ("yogi(learning_rate=0.1, b1=0.5, b2=0.9, eps=1e-2)", lambda: optax.yogi(0.1, b1=0.5, b2=0.9, eps=1e-2)),
    "adan": ("adan(learning_rate=0.05)", lambda: optax.adan(0.05)),
    "adan_decay_all": (
        "adan(learning_rate=0.05, b1=0.9, b2=0.8, b3=0.95, weight_decay=0.1, mask='all')",
        lambda: optax.adan(0.05, b1=0.9, b2=0.8, b3=0.95, weight_decay=0.1),
    ),
    "adan_decay_default_mask": (
        "adan(learning_rate=0.05, weight_decay=0.1)",
        lambda: optax.adan(0.05, weight_decay=0.1, mask=default_decay_mask),
    ),
    "prodigy": ("prodigy()", lambda: optax.contrib.prodigy()),
    "prodigy_options": (
        "prodigy(learning_rate=0.5, b1=0.8, b2=0.99, beta3=0.9, estim_lr0=1e-4, estim_lr_coef=2.0, "
        "safeguard_warmup=True)",
        lambda: optax.contrib.prodigy(0.5, (0.8, 0.99), 0.9, estim_lr0=1e-4, estim_lr_coef=2.0, safeguard_warmup=True),
    ),
    # mask='all' hands the decay to Prodigy itself; a regex matching every path takes our
    # masked route (the same term added outside): both must give Prodigy's trajectory.
    "prodigy_decay_all": (
        "prodigy(weight_decay=0.3, mask='all')",
        lambda: optax.contrib.prodigy(weight_decay=0.3),
    ),
    "prodigy_decay_masked_route": (
        "prodigy(weight_decay=0.3, mask='kernel|bias')",
        lambda: optax.contrib.prodigy(weight_decay=0.3),
    ),
    "adopt": ("adopt(learning_rate=0.05)", lambda: optax.contrib.adopt(0.05)),
    "adopt_options": (
        "adopt(learning_rate=0.05, b1=0.8, b2=0.99, eps=1e-4, nesterov=True, use_clipping=False)",
        lambda: optax.contrib.adopt(0.05, b1=0.8, b2=0.99, eps=1e-4, nesterov=True, use_clipping=False),
    ),
    "adopt_decay": (
        "adopt(learning_rate=0.05, weight_decay=0.1, mask='all')",
        lambda: decayed(optax.contrib.adopt(0.05), 0.05, 0.1),
    ),
}


@pytest.mark.parametrize("case", sorted(PAIRS))
def test_trajectory_is_optaxs(case):
    spec, reference = PAIRS[case]
    ours, theirs = path(registry.build("optimizer", spec)), path(reference())
    leaves = zip(jax.tree.leaves(ours), jax.tree.leaves(START), strict=True)
    moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in leaves)
    assert moved > 1e-4, "the run must move for the comparison to mean something"
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        # float32 rounding: our b1 is a float32 array, Optax's a Python float (1 − β1 rounds differently)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_scheduled_rate_follows_optaxs_schedule():
    schedule = optax.cosine_decay_schedule(1.0, 20)
    ours = path(tricks.optimizers.prodigy(learning_rate=schedule), steps=20)
    theirs = path(optax.contrib.prodigy(learning_rate=schedule), steps=20)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
    lion = path(tricks.optimizers.lion(learning_rate=optax.linear_schedule(0.02, 0.0, 20), weight_decay=0.0), 20)
    reference = path(optax.lion(optax.linear_schedule(0.02, 0.0, 20), weight_decay=0.0), 20)
    for a, b in zip(jax.tree.leaves(lion), jax.tree.leaves(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["lion", "adabelief", "yogi", "adan", "prodigy", "adopt"])
def test_rate_and_b1_are_injected(name):
    opt = registry.build("optimizer", f"{name}(b1=0.5)")
    found = hyperparams(opt.init(START))
    assert float(found["b1"]) == 0.5 and "learning_rate" in found


# Closed-form first steps: g and θ chosen by hand, each method's formula written out.
G = np.array([[2.0, -0.5], [0.0, 4.0]], np.float32)
THETA = np.array([[1.0, -1.0], [2.0, 0.5]], np.float32)
PARAMS = {"kernel": jnp.asarray(THETA), "bias": jnp.asarray(THETA[0])}
GRADS = {"kernel": jnp.asarray(G), "bias": jnp.asarray(G[0])}


def first_update(spec):
    opt = registry.build("optimizer", spec)
    updates, _ = opt.update(GRADS, opt.init(PARAMS), PARAMS)
    return {k: np.asarray(v) for k, v in updates.items()}


def assert_first(spec, kernel, bias, rtol=1e-6):
    updates = first_update(spec)
    np.testing.assert_allclose(updates["kernel"], kernel, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(updates["bias"], bias, rtol=rtol, atol=1e-12)


def test_lion_first_step():
    """−α(sign((1−β1)g) + λθ), the decay on the kernel only (the default mask)."""
    a, lam = 0.01, 0.5
    step = -a * np.sign(G)
    assert_first(f"lion(learning_rate={a}, weight_decay={lam})", step - a * lam * THETA, step[0])


def test_adabelief_first_step():
    """m = (1−β1)g, s = (1−β2)(β1g)²: m̂ = g, ŝ = β1²g², so u = −αg/(β1|g| + ε), plus −αλθ."""
    a, b1, eps, lam = 0.1, 0.9, 1e-3, 0.2
    step = -a * G / (b1 * np.abs(G) + eps)
    spec = f"adabelief(learning_rate={a}, eps={eps}, eps_root=0.0, weight_decay={lam})"
    assert_first(spec, step - a * lam * THETA, step[0], rtol=1e-5)


def test_yogi_first_step():
    """m0 = v0 = c: m̂ = (β1c + (1−β1)g)/(1−β1); v1 = c − (1−β2)·sign(c − g²)·g², v̂ = v1/(1−β2)."""
    a, b1, b2, eps, c = 0.1, 0.9, 0.999, 1e-3, 0.5
    m_hat = (b1 * c + (1 - b1) * G) / (1 - b1)
    v_hat = (c - (1 - b2) * np.sign(c - G**2) * G**2) / (1 - b2)
    step = -a * m_hat / (np.sqrt(v_hat) + eps)
    assert_first(f"yogi(learning_rate={a}, initial_accumulator_value={c})", step, step[0], rtol=1e-5)


def test_adan_first_step():
    """No previous gradient (Δ = 0): m̂ = g, v̂ = 0, n̂ = g², u = −α(g/(√(g² + ε_root) + ε) + λθ)."""
    a, eps, eps_root, lam = 0.1, 1e-8, 1e-8, 0.3
    step = -a * G / (np.sqrt(G.astype(np.float64) ** 2 + eps_root) + eps)
    assert_first(f"adan(learning_rate={a}, weight_decay={lam})", step - a * lam * THETA, step[0], rtol=1e-5)


def test_prodigy_first_step():
    """d = d0: u = −d0·α·g/(|g| + ε/√(1−β2)) − λ·d0·α·bc·θ with bc = √(1−β2)/(1−β1)."""
    a, d0, lam, b1, b2, eps = 0.5, 1e-3, 0.2, 0.9, 0.999, 1e-8
    step = -d0 * a * G / (np.abs(G) + eps / np.sqrt(1 - b2))
    decay = -lam * d0 * a * np.sqrt(1 - b2) / (1 - b1) * THETA
    assert_first(f"prodigy(learning_rate={a}, estim_lr0={d0}, weight_decay={lam})", step + decay, step[0], rtol=1e-5)


def test_prodigy_raises_its_estimate():
    """The point of the method: from d0 = 1e-6 the step size estimate grows by orders of magnitude."""
    opt = registry.build("optimizer", "prodigy()")
    state, params, update = opt.init(START), START, jit(opt.update)
    for _ in range(80):
        updates, state = update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    assert float(find_state(state, optax.contrib.ProdigyState).estim_lr) > 1e5 * 1e-6
    assert float(loss(params)) < 1e-3 * float(loss(START))


def test_adopt_first_two_steps():
    """Step 0 only records v = g0² (no update); step 1: −α(1−β1)·clip(g1/max(|g0|, ε), ±1)."""
    a, b1, eps = 0.1, 0.9, 1e-6
    opt = registry.build("optimizer", f"adopt(learning_rate={a})")
    state = opt.init(PARAMS)
    first, state = opt.update(GRADS, state, PARAMS)
    assert all(float(jnp.max(jnp.abs(u))) == 0 for u in jax.tree.leaves(first))
    g1 = {"kernel": jnp.asarray(-3 * G + 1), "bias": jnp.asarray(-3 * G[0] + 1)}
    second, _ = opt.update(g1, state, PARAMS)
    expected = -a * (1 - b1) * np.clip((-3 * G + 1) / np.maximum(np.abs(G), eps), -1, 1)
    np.testing.assert_allclose(second["kernel"], expected, rtol=1e-6)
    np.testing.assert_allclose(second["bias"], expected[0], rtol=1e-6)


def test_lion_reproduces_keras_golden_values():
    """keras-team/keras, keras/src/optimizers/lion_test.py, ``test_correctness_with_golden``:
    ``Lion()`` (learning_rate=1e-3, beta_1=0.9, beta_2=0.99, no weight decay) on x = ones(10),
    one step with gradient 0.01, then steps with gradient arange(0.1, 1.1, 0.1); before each of
    those, x must equal the golden row (Keras checks to rtol = atol = 5e-4)."""
    golden = np.tile([[0.999], [0.998], [0.997], [0.996], [0.995]], (1, 10))  # transcribed from Keras
    opt = registry.build("optimizer", "lion(learning_rate=1e-3, b1=0.9, b2=0.99, weight_decay=0.0)")
    x = jnp.ones(10)
    state = opt.init(x)
    grads = jnp.arange(0.1, 1.1, 0.1)[:10]
    first_grads = jnp.full((10,), 0.01)
    updates, state = opt.update(first_grads, state, x)
    x = optax.apply_updates(x, updates)
    for i in range(5):
        np.testing.assert_allclose(x, golden[i], rtol=1e-6, atol=1e-6)  # tighter than Keras's 5e-4
        updates, state = opt.update(grads, state, x)
        x = optax.apply_updates(x, updates)


def test_bad_arguments_name_the_argument():
    for spec, argument in [
        ("lion(b2=1.0)", "b2"),
        ("adabelief(eps_root=-1.0)", "eps_root"),
        ("adan(b3=-0.1)", "b3"),
        ("prodigy(estim_lr_coef=0.0)", "estim_lr_coef"),
        ("adopt(weight_decay=-0.1)", "weight_decay"),
        ("yogi(eps=0.0)", "eps"),
    ]:
        with pytest.raises(registry.RegistryError) as info:
            registry.build("optimizer", spec)
        assert info.value.argument == argument
