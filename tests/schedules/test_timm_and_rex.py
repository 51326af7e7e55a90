"""`tanh` and `cosine(k_decay=...)` against timm's formulas, transcribed; `rex` against its paper.

timm is not installed (and torch is never imported here): its ``_get_lr`` methods are
transcribed below, without warmup or noise, from huggingface/pytorch-image-models.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the schedules)


def timm_tanh(t, base, t_initial, lb=-7.0, ub=3.0, lr_min=0.0, cycle_decay=1.0, cycle_limit=1):
    """timm/scheduler/tanh_lr.py, ``TanhLRScheduler._get_lr`` with ``cycle_mul=1``, no warmup."""
    i = t // t_initial
    t_i = t_initial
    t_curr = t - (t_initial * i)
    if i < cycle_limit:
        lr_max = base * cycle_decay**i
        tr = t_curr / t_i
        return lr_min + 0.5 * (lr_max - lr_min) * (1 - math.tanh(lb * (1.0 - tr) + ub * tr))
    return lr_min


def timm_cosine(t, base, t_initial, lr_min=0.0, k_decay=1.0, cycle_limit=1):
    """timm/scheduler/cosine_lr.py, ``CosineLRScheduler._get_lr`` with ``cycle_mul=1``, no warmup."""
    i = t // t_initial
    t_i = t_initial
    t_curr = t - (t_initial * i)
    k = k_decay
    if i < cycle_limit:
        return lr_min + 0.5 * (base - lr_min) * (1 + math.cos(math.pi * t_curr**k / t_i**k))
    return lr_min


def values(spec, steps):
    return np.asarray(jax.jit(registry.build("schedule", spec))(jnp.asarray(steps)))


@pytest.mark.parametrize(
    "base, t_initial, lb, ub, lr_min",
    [(0.1, 50, -7.0, 3.0, 0.0), (0.4, 37, -6.0, 4.0, 0.004), (1.0, 10, -3.0, 3.0, 0.1)],
)
def test_tanh_matches_timm(base, t_initial, lb, ub, lr_min, x64):
    steps = np.arange(0, 2 * t_initial)
    spec = f"tanh(init_value={base}, decay_steps={t_initial}, end_value={lr_min}, lb={lb}, ub={ub})"
    expected = [timm_tanh(int(t), base, t_initial, lb, ub, lr_min) for t in steps]
    np.testing.assert_allclose(values(spec, steps), expected, rtol=1e-12, atol=1e-15)


def test_tanh_in_float32_and_its_step_at_the_end():
    steps = np.arange(0, 100)
    got = values("tanh(init_value=0.1, decay_steps=50, end_value=0.001)", jnp.asarray(steps, jnp.int32))
    expected = [timm_tanh(int(t), 0.1, 50, lr_min=0.001) for t in steps]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)
    assert got[49] > 0.001 + 1e-4 and got[50] == np.float32(0.001)  # timm's lr_min once its cycle is over


def test_tanh_restarts_are_a_join(x64):
    # timm's cycle_limit=3, cycle_decay=0.5: three decays of 20 steps, each peak half the last.
    spec = ("join([tanh(0.2, 20, end_value=0.01), tanh(0.1, 20, end_value=0.01), tanh(0.05, 20, end_value=0.01)], "
            "boundaries=[20, 40])")
    steps = np.arange(0, 90)
    expected = [timm_tanh(int(t), 0.2, 20, lr_min=0.01, cycle_decay=0.5, cycle_limit=3) for t in steps]
    np.testing.assert_allclose(values(spec, steps), expected, rtol=1e-12)


def test_tanh_after_a_warmup_is_timms_warmup_prefix(x64):
    # timm (warmup_prefix=True) ramps to the base rate; `warmup` ramps to tanh(0), (1 - tanh(-7)) / 2 of it.
    def timm(t, w=5, init=0.001, base=0.1):
        return init + t * (base - init) / w if t < w else timm_tanh(t - w, base, 40)

    steps = np.arange(0, 60)
    got = values("warmup(tanh(0.1, 40), warmup_steps=5, init_value=0.001)", steps)
    np.testing.assert_allclose(got, [timm(int(t)) for t in steps], rtol=1e-6)


@pytest.mark.parametrize("k_decay, lr_min", [(1.0, 0.0), (2.0, 0.0), (0.5, 0.01), (3.0, 0.02)])
def test_cosine_k_decay_matches_timm(k_decay, lr_min, x64):
    base, t_initial = 0.1, 40
    steps = np.arange(0, 60)
    spec = f"cosine(init_value={base}, decay_steps={t_initial}, alpha={lr_min / base!r}, k_decay={k_decay})"
    expected = [timm_cosine(int(t), base, t_initial, lr_min, k_decay) for t in steps]
    np.testing.assert_allclose(values(spec, steps), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("k_decay", [0.5, 2.0])
def test_cosine_k_decay_in_float32_keeps_its_digits_near_the_end(k_decay):
    steps = np.arange(0, 1001)
    got = values(f"cosine(init_value=1.0, decay_steps=1000, k_decay={k_decay})", jnp.asarray(steps, jnp.int32))
    expected = np.array([timm_cosine(int(t), 1.0, 1000, k_decay=k_decay) for t in steps])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-12)  # relative, down to the last step's 1e-6


def rex_paper(t, init, total):
    """Chen, Wolfe & Kyrillidis 2022, eq. 1: ``eta_t = eta_0 (1 - t/T) / (1/2 + 1/2 (1 - t/T))``."""
    z = 1 - min(t, total) / total
    return init * z / (0.5 + 0.5 * z)


def test_rex_matches_the_paper(x64):
    steps = np.arange(0, 150)
    np.testing.assert_allclose(
        values("rex(init_value=0.3, decay_steps=100)", steps), [rex_paper(int(t), 0.3, 100) for t in steps],
        rtol=1e-12, atol=1e-15)


def test_rex_lies_above_the_line_and_falls_faster_at_the_end():
    got = values("rex(init_value=1.0, decay_steps=100)", np.arange(0, 101))
    line = 1 - np.arange(0, 101) / 100
    assert np.all(got[1:100] > line[1:100]) and got[100] == 0.0
    assert got[99] - got[100] > 1.5 * (got[0] - got[1])
