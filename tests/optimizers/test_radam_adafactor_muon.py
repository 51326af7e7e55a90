"""Keras's ε convention for adam/adamw, and the pieces of radam, adafactor and muon.

Their trajectories against torch.optim are in test_torch_reference.py; their equality with
the hand-written Optax chains in test_benchmark_cases.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import jit
import numpy as np
import optax
import pytest

import registry
import tricks  # noqa: F401  (registers the optimizers)
from tricks.optimizers import orthogonalize

# Transcribed from keras-team/keras, keras/src/optimizers/adamw_test.py,
# AdamWTest.test_correctness_with_golden: AdamW(learning_rate=1.0, weight_decay=0.5,
# epsilon=2) on x = ones(10), one step with gradient 0.01 then steps with 0.1, ..., 1.0;
# row i is x after step i + 1 (compared there with rtol = atol = 5e-4).
KERAS_ADAMW_GOLDEN = np.array(
    [
        [0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998],
        [0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382],
        [0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003],
        [0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258],
        [0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159],
    ]
)


def keras_golden_path(spec: str) -> np.ndarray:
    opt = registry.build("optimizer", spec)
    grads = [jnp.full(10, 0.01)] + [jnp.arange(1, 11) / 10.0] * 4
    x, state, out = jnp.ones(10), opt.init(jnp.ones(10)), []
    for g in grads:
        updates, state = opt.update(g, state, x)
        x = optax.apply_updates(x, updates)
        out.append(np.asarray(x))
    return np.stack(out)


def test_adamw_keras_eps_reproduces_keras_golden_values():
    ours = keras_golden_path("adamw(learning_rate=1.0, weight_decay=0.5, eps=2.0, mask='all', eps_convention='keras')")
    np.testing.assert_allclose(ours, KERAS_ADAMW_GOLDEN, rtol=5e-4, atol=5e-4)
    optax_form = keras_golden_path("adamw(learning_rate=1.0, weight_decay=0.5, eps=2.0, mask='all')")
    assert optax_form[0, 0] == pytest.approx(0.4950, abs=1e-4)  # ε added to √v̂: not Keras's


def test_adam_keras_eps_is_eps_over_root_of_bias_correction():
    """Keras's ε on the uncorrected √v equals Optax's form with ε/√(1 − β2^t), each step."""
    grads = jnp.array([[0.3, -2.0], [1.0, 0.5], [-0.2, 0.1]])
    keras = registry.build("optimizer", "adam(learning_rate=1.0, eps=0.5, eps_convention='keras')")
    state = keras.init(jnp.zeros(2))
    for t, g in enumerate(grads, start=1):
        ours, state = keras.update(g, state)
        m = sum(0.1 * 0.9 ** (t - s) * grads[s - 1] for s in range(1, t + 1))
        v = sum(0.001 * 0.999 ** (t - s) * grads[s - 1] ** 2 for s in range(1, t + 1))
        alpha = np.sqrt(1 - 0.999**t) / (1 - 0.9**t)  # Keras's step
        np.testing.assert_allclose(ours, -alpha * m / (np.sqrt(v) + 0.5), rtol=1e-5)


def test_bad_eps_convention_raises():
    with pytest.raises(registry.RegistryError, match="eps_convention"):
        registry.build("optimizer", "adam(eps_convention='torch')")


def test_radam_follows_optax_radam():
    ours = registry.build("optimizer", "radam(learning_rate=0.1)")
    theirs = optax.radam(0.1)
    params = jnp.array([1.0, -1.0])
    s1, s2 = ours.init(params), theirs.init(params)
    for t in range(8):  # across the threshold (ρ_t > 5 from t = 6 with β2 = 0.999)
        g = jnp.array([jnp.sin(t + 1.0), jnp.cos(2.0 * t)])
        u1, s1 = ours.update(g, s1, params)
        u2, s2 = theirs.update(g, s2, params)
        np.testing.assert_allclose(u1, u2, rtol=1e-6)


def test_adafactor_relative_step_is_min_of_rate_and_inverse_root():
    opt = registry.build(
        "optimizer", "adafactor(learning_rate=0.4, relative_step=True, multiply_by_parameter_scale=False)"
    )
    params = jnp.ones(3)
    state, update = opt.init(params), jit(opt.update)
    steps = []
    for _ in range(10):
        updates, state = update(jnp.array([1.0, -1.0, 1.0]), state, params)  # |u| = 1 (g/√v̂, v̂ = g²)
        steps.append(float(-updates[0]))
    expected = [min(0.4, 1 / np.sqrt(t)) for t in range(1, 11)]
    np.testing.assert_allclose(steps, expected, rtol=1e-5)


def test_orthogonalize_matches_a_numpy_transcription_and_its_transpose(x64):
    x = np.asarray(jax.random.normal(jax.random.key(0), (3, 5)), np.float64)

    def numpy_ns(x):  # torch's _zeropower_via_newtonschulz, float64
        a, b, c = 3.4445, -4.7750, 2.0315
        wide = x.T if x.shape[0] > x.shape[1] else x
        wide = wide / max(np.linalg.norm(wide), 1e-7)
        for _ in range(5):
            gram = wide @ wide.T
            wide = a * wide + (b * gram + c * gram @ gram) @ wide
        return wide.T if x.shape[0] > x.shape[1] else wide

    np.testing.assert_allclose(orthogonalize(jnp.asarray(x)), numpy_ns(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(orthogonalize(jnp.asarray(x.T)), numpy_ns(x).T, rtol=1e-10, atol=1e-12)
    singular = np.linalg.svd(np.asarray(orthogonalize(jnp.asarray(x))), compute_uv=False)
    assert np.all((singular > 0.6) & (singular < 1.3)), singular


PARAMS = {
    "Dense_0": {"kernel": jnp.ones((3, 4)), "bias": jnp.ones(4)},
    "Embed_0": {"embedding": jnp.ones((5, 3))},
    "LayerNorm_0": {"scale": jnp.ones(4)},
    "Conv_0": {"kernel": jnp.ones((3, 3, 2, 4))},
}


def muon_leaves(mask: str) -> list[str]:
    """The paths that get Muon: its updates of a random gradient have equal singular values."""
    from tricks.optimizers import leaves_by_path

    opt = registry.build("optimizer", f"muon(learning_rate=1.0, momentum=0.0, adjust_lr='none', mask={mask!r})")
    keys = iter(jax.random.split(jax.random.key(1), 8))
    grads = jax.tree.map(lambda p: jax.random.normal(next(keys), p.shape), PARAMS)
    updates = opt.update(grads, opt.init(PARAMS), PARAMS)[0]
    adam_step = {path: bool(jnp.allclose(jnp.abs(u), 1.0)) for path, u in leaves_by_path(updates).items()}
    return sorted(path for path, is_adam in adam_step.items() if not is_adam)


def test_muon_default_mask_gives_muon_to_2d_kernels_only():
    assert muon_leaves("default") == ["Dense_0/kernel"]
    assert muon_leaves("all") == ["Dense_0/kernel", "Embed_0/embedding"]  # Optax's rule: every matrix
    assert muon_leaves("Embed") == ["Embed_0/embedding"]


def test_muon_regex_mask_must_select_matrices():
    for mask, message in [("Conv_0", "Muon takes matrices only"), ("nothing", "matches no parameter")]:
        opt = registry.build("optimizer", f"muon(mask={mask!r})")
        with pytest.raises(registry.RegistryError, match=message):
            opt.init(PARAMS)
