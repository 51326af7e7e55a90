"""`noisy`: timm's scheduler noise, deterministic per step; its distribution and range.

timm seeds a torch generator with ``noise_seed + t`` and redraws a normal until it falls
inside the bound (timm/scheduler/scheduler.py, ``Scheduler._add_noise``); we fold the
step into a JAX key instead, so the draws cannot equal timm's. These tests check what
can be equal: the distribution of the noise (truncated normal or uniform, by its CDF,
mean, spread and independence between steps), the steps it applies to, and that a step
always gets the same value.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the schedules)

N = 20000


def noise_of(spec, steps, base="exponential(init_value=0.1, decay_steps=5000, decay_rate=0.5)"):
    """The relative noise ``value / base - 1`` of `spec` wrapped around `base`."""
    steps = jnp.asarray(steps)
    noisy = np.asarray(jax.jit(registry.build("schedule", f"noisy({base}, {spec})"))(steps), np.float64)
    plain = np.asarray(registry.build("schedule", base)(steps), np.float64)
    return noisy / plain - 1


def _phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _ks(sample, cdf):
    """The Kolmogorov-Smirnov distance between `sample` and `cdf`."""
    x = np.sort(sample)
    model = np.array([cdf(v) for v in x])
    n = len(x)
    return max(np.max(np.arange(1, n + 1) / n - model), np.max(model - np.arange(n) / n))


KS_LIMIT = 1.95 / math.sqrt(N)  # the 0.1% critical value


@pytest.mark.parametrize("pct, std", [(0.67, 1.0), (0.3, 0.5), (0.1, 1.0)])
def test_normal_noise_is_a_truncated_normal(pct, std, x64):
    noise = noise_of(f"noise_pct={pct}, noise_std={std}, noise_seed=3", np.arange(N))
    assert np.all(np.abs(noise) < pct)
    a = pct / std
    mass = 2 * _phi(a) - 1
    assert _ks(noise, lambda v: (_phi(v / std) - _phi(-a)) / mass) < KS_LIMIT
    density = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    sd = std * math.sqrt(1 - 2 * a * density / mass)
    assert abs(noise.mean()) < 4 * sd / math.sqrt(N)
    assert noise.std() == pytest.approx(sd, rel=0.03)
    assert abs(np.corrcoef(noise[:-1], noise[1:])[0, 1]) < 4 / math.sqrt(N)


def test_uniform_noise_is_uniform(x64):
    noise = noise_of("noise_pct=0.4, noise_type='uniform'", np.arange(N))
    assert np.all(np.abs(noise) <= 0.4)
    assert _ks(noise, lambda v: (v + 0.4) / 0.8) < KS_LIMIT
    assert noise.std() == pytest.approx(0.8 / math.sqrt(12), rel=0.03)
    assert abs(np.corrcoef(noise[:-1], noise[1:])[0, 1]) < 4 / math.sqrt(N)


def test_the_range_as_a_pair_and_as_a_first_step():
    steps = np.arange(0, 60)
    pair = noise_of("noise_range_t=[10, 50]", steps)
    assert np.all(pair[:10] == 0) and np.all(pair[50:] == 0) and np.all(pair[10:50] != 0)
    first = noise_of("noise_range_t=10", steps)
    assert np.all(first[:10] == 0) and np.all(first[10:] != 0)
    np.testing.assert_allclose(first[10:50], pair[10:50], rtol=1e-6)  # the draw depends on the step only


def test_each_step_always_gets_the_same_value():
    spec = "noisy(cosine(init_value=0.1, decay_steps=1000), noise_seed=7)"
    schedule = registry.build("schedule", spec)
    steps = jnp.arange(0, 300)
    eager = np.asarray(schedule(steps))
    np.testing.assert_array_equal(np.asarray(registry.build("schedule", spec)(steps)), eager)
    same = dict(rtol=1e-6)  # the same draws; jit may fuse the last multiplications differently (1 ulp)
    np.testing.assert_allclose(np.asarray(jax.jit(schedule)(steps)), eager, **same)
    np.testing.assert_allclose(np.asarray(schedule(steps.reshape(20, 15))).reshape(-1), eager, **same)
    np.testing.assert_allclose([float(schedule(int(t))) for t in (0, 17, 299)], eager[[0, 17, 299]], **same)
    np.testing.assert_allclose(np.asarray(jax.vmap(schedule)(steps.astype(jnp.float32))), eager, **same)
    assert len(set(eager.tolist())) == len(eager)


def test_the_same_in_float64(x64):
    steps = np.arange(0, 300)
    f64 = noise_of("noise_seed=7", steps)
    jax.config.update("jax_enable_x64", False)
    f32 = noise_of("noise_seed=7", steps)
    np.testing.assert_allclose(f64, f32, atol=1e-6)


def test_seeds_and_steps_past_2_32_give_other_draws(x64):
    steps = np.arange(0, 2000)
    a, b = noise_of("noise_seed=1", steps), noise_of("noise_seed=2", steps)
    assert np.mean(a == b) < 0.01 and abs(np.corrcoef(a, b)[0, 1]) < 0.1
    far = noise_of("noise_seed=1", steps + 2**32, base="constant(0.1)")  # the low 32 bits as in `a`, the high ones not
    assert np.all(np.abs(far) < 0.67) and np.mean(far == a) < 0.01 and len(set(far.tolist())) == len(steps)
    huge = noise_of("noise_seed=1", np.asarray([3 * 2**40 + 5, 3 * 2**40 + 6]), base="constant(0.1)")
    assert np.all(np.abs(huge) < 0.67) and huge[0] != huge[1]


def test_cycle_ends_are_kept():
    schedule = registry.build("schedule", "noisy(sgdr(init_value=0.1, t0=10, t_mult=2), noise_pct=0.1)")
    assert schedule.cycle_ends(100) == [10, 30, 70]
