"""Every registered schedule: built from a spec, jittable, vmappable, any int or float step, huge steps."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the schedules)
from tests.schedules.examples import BAD, HUGE, STATEFUL, STEP_FUNCTIONS

NAMES = registry.names("schedule")
STEPS = [n for n in NAMES if n not in STATEFUL]


def test_every_registered_schedule_has_an_example_and_bad_inputs():
    assert sorted([*STEP_FUNCTIONS, *STATEFUL]) == NAMES
    assert sorted(BAD) == NAMES


def build(name):
    return registry.build("schedule", STEP_FUNCTIONS[name][0])


@pytest.mark.parametrize("name", STEPS)
def test_jit_vmap_and_step_types_agree(name):
    schedule = build(name)
    steps = np.arange(0, 400, 7)
    eager = np.asarray(schedule(steps.astype(np.float32)))
    assert eager.shape == steps.shape and np.isfinite(eager).all()
    np.testing.assert_allclose(np.asarray(jax.jit(schedule)(jnp.asarray(steps, jnp.int32))), eager, rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(jax.vmap(schedule)(jnp.asarray(steps, jnp.int32))), eager, rtol=1e-6
    )
    scalar = schedule(int(steps[3]))
    assert jnp.shape(scalar) == () and jnp.issubdtype(jnp.result_type(scalar), jnp.floating)
    np.testing.assert_allclose(float(scalar), eager[3], rtol=1e-6)


@pytest.mark.parametrize("name", STEPS)
def test_int64_steps_past_2_31_give_the_closed_form(name, x64):
    schedule = build(name)
    expected = STEP_FUNCTIONS[name][1](HUGE)
    for step in (jnp.asarray(HUGE, jnp.int64), HUGE):
        value = jax.jit(schedule)(step)
        assert value.dtype == jnp.float64
        np.testing.assert_allclose(float(value), expected, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("name", STEPS)
def test_float32_and_int32_extremes_stay_finite(name):
    schedule = build(name)
    jitted = jax.jit(schedule)
    int32_max = jnp.asarray(np.iinfo(np.int32).max, jnp.int32)  # int32 + 1 would wrap to -2**31
    values = [jitted(int32_max), jitted(jnp.float32(HUGE)), jitted(jnp.float32(1e15)), schedule(HUGE)]
    for value in values:
        assert value.dtype == jnp.float32 and math.isfinite(float(value)), values


@pytest.mark.parametrize("name", STEPS)
def test_specs_as_strings_mappings_and_built_functions_agree(name):
    spec = registry.parse(STEP_FUNCTIONS[name][0])
    mapping = {
        "name": spec.name,
        **dict(zip([p.name for p in registry.describe("schedule", name).parameters], spec.args)),
        **spec.kwargs,
    }
    steps = jnp.arange(0, 300, 11)
    expected = build(name)(steps)
    np.testing.assert_allclose(registry.build("schedule", mapping)(steps), expected, rtol=1e-6)
    np.testing.assert_allclose(
        registry.build("schedule", f"join([{spec}], boundaries=[])")(steps), expected, rtol=1e-6
    )


@pytest.mark.parametrize(
    "name, spec, argument", [(name, spec, arg) for name, cases in BAD.items() for spec, arg in cases]
)
def test_bad_input_raises_naming_the_argument(name, spec, argument):
    with pytest.raises(registry.RegistryError) as info:
        registry.build("schedule", spec)
    assert info.value.argument == argument, str(info.value)
    assert info.value.kind == "schedule" and info.value.name == name
    assert f"argument {argument!r}" in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_describe_has_a_summary(name):
    assert registry.describe("schedule", name).summary
