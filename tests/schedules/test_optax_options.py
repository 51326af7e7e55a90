"""`transition_begin` and the exponential's `end_value` against Optax's own schedules."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import registry
import tricks  # noqa: F401  (registers the schedules)
from tricks.schedules import fit_to_run

STEPS = 160


def both(spec, reference):
    steps = jnp.arange(STEPS)
    ours = np.asarray(jax.jit(registry.build("schedule", spec))(steps))
    return ours, np.asarray(jax.jit(reference)(steps), dtype=ours.dtype)


@pytest.mark.parametrize(
    "rate, begin, staircase, end",
    [
        (0.5, 0, False, None),
        (0.5, 17, False, None),
        (0.5, 17, True, None),
        (0.5, 0, False, 0.02),
        (0.5, 30, True, 0.02),
        (0.8, 5, False, 0.07),
        (1.5, 10, False, 2.0),  # growth: end_value is a ceiling
        (1.5, 0, True, 0.2),  # growth in stairs, up to the ceiling
    ],
)
def test_exponential_matches_optax(rate, begin, staircase, end, x64):
    spec = (f"exponential(init_value=0.1, decay_steps=10, decay_rate={rate}, staircase={staircase}, "
            f"transition_begin={begin}, end_value={end})")
    reference = optax.exponential_decay(0.1, transition_steps=10, decay_rate=rate, transition_begin=begin,
                                        staircase=staircase, end_value=end)
    ours, theirs = both(spec, reference)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    if end is not None:
        assert np.any(ours == end)  # the bound is reached in the range tested


@pytest.mark.parametrize("power, begin", [(1.0, 0), (1.0, 25), (2.0, 25), (0.5, 60)])
def test_polynomial_matches_optax(power, begin, x64):
    spec = f"polynomial(init_value=0.1, decay_steps=50, end_value=0.002, power={power}, transition_begin={begin})"
    reference = optax.polynomial_schedule(0.1, 0.002, power, transition_steps=50, transition_begin=begin)
    ours, theirs = both(spec, reference)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert np.all(ours[: begin + 1] == 0.1) and ours[begin + 1] < 0.1


@pytest.mark.parametrize("begin", [0, 1, 40])
def test_linear_matches_optax(begin, x64):
    ours, theirs = both(
        f"linear(init_value=0.0, end_value=0.3, transition_steps=70, transition_begin={begin})",
        optax.linear_schedule(0.0, 0.3, transition_steps=70, transition_begin=begin),
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_float32_too():
    ours, theirs = both(
        "exponential(init_value=0.1, decay_steps=10, decay_rate=0.5, transition_begin=17, end_value=0.02)",
        optax.exponential_decay(0.1, 10, 0.5, transition_begin=17, end_value=0.02),
    )
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_cycling_polynomial_starts_its_cycles_after_the_begin(x64):
    steps = np.arange(STEPS)
    shifted = np.asarray(registry.build(
        "schedule", "polynomial(init_value=0.1, decay_steps=20, end_value=0.0, cycle=True, transition_begin=30)"
    )(jnp.asarray(steps)))
    plain = np.asarray(registry.build(
        "schedule", "polynomial(init_value=0.1, decay_steps=20, end_value=0.0, cycle=True)")(jnp.asarray(steps)))
    np.testing.assert_array_equal(shifted[:31], 0.1)
    np.testing.assert_array_equal(shifted[30:], plain[: STEPS - 30])


def test_a_runs_length_fills_the_ramp_after_the_begin():
    spec, notes = fit_to_run("optimizer", "sgd(learning_rate=linear(0.1, 0.0, transition_begin=200))", 1000)
    assert notes == []
    assert str(spec) == "sgd(learning_rate=linear(0.1, 0.0, transition_begin=200, transition_steps=800))"
    _, notes = fit_to_run("schedule", "polynomial(0.1, decay_steps=1000, transition_begin=200)", 1000)
    assert notes == ["polynomial(0.1, decay_steps=1000, transition_begin=200) runs to step 1000, but it spans 800: "
                     "it never reaches its end (decay_steps=1000)"]
