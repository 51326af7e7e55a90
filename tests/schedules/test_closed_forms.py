"""Schedules without a library reference, against their formulas at listed steps; composition; cycle ends."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the schedules)
from tricks import schedules

STEPS = [0, 1, 2, 5, 9, 10, 11, 99, 100, 101, 1000, 123457]


def values(spec, steps=STEPS):
    schedule = registry.build("schedule", spec) if isinstance(spec, (str, dict)) else spec
    return np.asarray(jax.jit(schedule)(jnp.asarray(steps)), np.float64)


def check(spec, formula, steps=STEPS):
    np.testing.assert_allclose(values(spec, steps), [formula(t) for t in steps], rtol=1e-6, atol=1e-12)


def test_constant_and_linear():
    check("constant(value=0.25)", lambda t: 0.25)
    check(
        "linear(init_value=0.1, end_value=0.3, transition_steps=100)", lambda t: 0.1 + 0.2 * min(t, 100) / 100
    )


@pytest.mark.parametrize("staircase", [False, True])
def test_natural_exp(staircase):
    def formula(t):
        p = t // 10 if staircase else t / 10
        return 0.1 * math.exp(-0.5 * p)

    check(f"natural_exp(init_value=0.1, decay_steps=10, decay_rate=0.5, staircase={staircase})", formula)


def test_natural_exp_is_exponential_with_rate_e_to_the_minus_beta():
    ours = values("natural_exp(init_value=0.1, decay_steps=10, decay_rate=0.5)")
    other = values(f"exponential(init_value=0.1, decay_steps=10, decay_rate={math.exp(-0.5)})")
    np.testing.assert_allclose(ours, other, rtol=1e-5)  # float32: exp and pow round differently


def test_noam():
    def formula(t):
        n = t + 1
        return 2.0 * 512**-0.5 * min(n**-0.5, n * 10**-1.5)

    check("noam(d_model=512, warmup_steps=10, scale=2.0)", formula)


def test_inverse_sqrt():
    check("inverse_sqrt(init_value=0.01)", lambda t: 0.01 / math.sqrt(t + 1))
    check(
        "inverse_sqrt(init_value=0.01, warmup_steps=10)",
        lambda t: 0.01 * min((t + 1) / 10, math.sqrt(10 / (t + 1))),
    )


def test_noam_is_inverse_sqrt_with_the_peak_it_reaches():
    peak = 2.0 * (512 * 10) ** -0.5
    np.testing.assert_allclose(
        values("noam(d_model=512, warmup_steps=10, scale=2.0)"),
        values(f"inverse_sqrt(init_value={peak!r}, warmup_steps=10)"),
        rtol=1e-6,
    )


def _inner(t):  # cosine(init_value=0.1, decay_steps=50, alpha=0.1)
    return 0.1 * (0.9 * (1 + math.cos(math.pi * min(t, 50) / 50)) / 2 + 0.1)


@pytest.mark.parametrize(
    "mode, ramp",
    [
        ("linear", lambda t: 0.001 + (0.1 - 0.001) * t / 10),
        ("exponential", lambda t: 0.001 * (0.1 / 0.001) ** (t / 10)),
        ("constant", lambda t: 0.001),
    ],
)
def test_warmup_modes(mode, ramp):
    inner = "cosine(init_value=0.1, decay_steps=50, alpha=0.1)"
    spec = f"warmup({inner}, warmup_steps=10, init_value=0.001, mode={mode!r})"
    check(spec, lambda t: ramp(t) if t < 10 else _inner(t - 10))


def test_warmup_of_zero_steps_is_the_schedule_itself():
    check("warmup(cosine(init_value=0.1, decay_steps=50, alpha=0.1), warmup_steps=0)", _inner)


def test_warmup_of_a_number_ramps_to_it():
    check("warmup(0.2, warmup_steps=100)", lambda t: 0.2 * min(t, 100) / 100)


def test_scaled_multiplies_by_the_batch_ratio():
    check(
        "scaled(cosine(init_value=0.1, decay_steps=50, alpha=0.1), batch_size=1024, base_batch_size=256)",
        lambda t: 4 * _inner(t),
    )
    check("scaled(0.1, batch_size=64)", lambda t: 0.1 / 4)


def test_join_runs_each_schedule_on_its_own_clock():
    spec = (
        "join(schedules=[linear(init_value=0.0, end_value=0.1, transition_steps=10), "
        "cosine(init_value=0.1, decay_steps=50, alpha=0.1), 0.005], boundaries=[10, 100])"
    )

    def formula(t):
        if t < 10:
            return 0.01 * t
        return _inner(t - 10) if t < 100 else 0.005

    check(spec, formula)


def test_nested_specs_strings_mappings_and_built_schedules_agree():
    text = registry.build("schedule", "warmup(cosine(init_value=0.1, decay_steps=900), warmup_steps=100)")
    mapping = registry.build(
        "schedule",
        {
            "name": "warmup",
            "schedule": {"name": "cosine", "init_value": 0.1, "decay_steps": 900},
            "warmup_steps": 100,
        },
    )
    built = registry.build(
        "schedule",
        {"name": "warmup", "schedule": schedules.cosine(0.1, decay_steps=900), "warmup_steps": 100},
    )
    direct = schedules.warmup(schedules.cosine(0.1, 900), warmup_steps=100)
    expected = values(text, range(0, 1200, 50))
    for other in (mapping, built, direct):
        np.testing.assert_allclose(values(other, range(0, 1200, 50)), expected, rtol=1e-7)
    np.testing.assert_allclose(expected[[0, 1, 2, 11, 20, 23]], [0.0, 0.05, 0.1, 0.05, 0.0, 0.0], atol=1e-7)


def test_momentum_schedules_mirror_their_rates():
    steps = range(0, 200)
    rate = values(
        "cyclic(base_lr=0.01, max_lr=0.11, step_size_up=7, step_size_down=13, mode='triangular2')", steps
    )
    momentum = values(
        "cyclic_momentum(0.85, 0.95, step_size_up=7, step_size_down=13, mode='triangular2')", steps
    )
    np.testing.assert_allclose((rate - 0.01) / 0.1, (0.95 - momentum) / 0.1, atol=1e-6)
    rate = values("one_cycle(max_lr=0.4, total_steps=100, div_factor=1e9)", steps)
    momentum = values("one_cycle_momentum(total_steps=100, base_momentum=0.85, max_momentum=0.95)", steps)
    np.testing.assert_allclose(rate / 0.4, (0.95 - momentum) / 0.1, atol=1e-6)


# Cycle ends -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, total, ends",
    [
        ("sgdr(init_value=0.1, t0=10)", 45, [10, 20, 30, 40]),
        ("sgdr(init_value=0.1, t0=10, t_mult=2)", 150, [10, 30, 70, 150]),
        ("sgdr(init_value=0.1, t0=10, t_mult=1.5)", 100, [10, 25, 48, 82]),  # starts 10, 25, 47.5, 81.25
        ("cyclic(base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=6)", 35, [10, 20, 30]),
        ("one_cycle(max_lr=0.1, total_steps=100)", 100, [100]),
        ("one_cycle(max_lr=0.1, total_steps=100)", 99, []),
        ("warmup(sgdr(init_value=0.1, t0=10), warmup_steps=5)", 40, [15, 25, 35]),
        ("scaled(sgdr(init_value=0.1, t0=10, t_mult=2), batch_size=512)", 100, [10, 30, 70]),
        ("join([sgdr(init_value=0.1, t0=10), 0.001], boundaries=[35])", 100, [10, 20, 30]),
        ("join([linear(0.0, 0.1, 5), sgdr(init_value=0.1, t0=10)], boundaries=[5])", 40, [15, 25, 35]),
        (
            "join([sgdr(init_value=0.1, t0=10), sgdr(init_value=0.1, t0=20)], boundaries=[20])",
            80,
            [10, 20, 40, 60, 80],
        ),
    ],
)
def test_cycle_ends(spec, total, ends):
    assert schedules.cycle_ends(spec, total) == ends
    assert registry.build("schedule", spec).cycle_ends(total) == ends


@pytest.mark.parametrize("t_mult", [1, 2, 3, 1.5])
def test_sgdr_restarts_exactly_at_its_cycle_ends(t_mult):
    schedule = registry.build(
        "schedule", f"sgdr(init_value=1.0, t0=7, t_mult={t_mult}, eta_min=0.1, m_mul=0.9)"
    )
    ends = schedule.cycle_ends(600)
    got = values(schedule, range(601))
    jumps = np.flatnonzero(np.diff(got) > 0) + 1  # the value rises only at a restart
    assert list(jumps) == ends and len(ends) >= 4
    if t_mult == int(t_mult):  # whole cycle lengths: each cycle starts exactly at its peak
        np.testing.assert_allclose(got[ends], 0.1 + 0.9 * 0.9 ** np.arange(1, len(ends) + 1), rtol=1e-6)


def test_cycle_ends_from_a_mapping_and_errors():
    assert schedules.cycle_ends({"name": "sgdr", "init_value": 0.1, "t0": 5}, 12) == [5, 10]
    with pytest.raises(registry.RegistryError, match="argument 'schedule': has no cycles"):
        schedules.cycle_ends("cosine(init_value=0.1, decay_steps=10)", 100)
    with pytest.raises(registry.RegistryError, match="argument 'total_steps'"):
        schedules.cycle_ends("sgdr(init_value=0.1, t0=5)", -1)
