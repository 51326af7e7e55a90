"""Every schedule against torch.optim.lr_scheduler and keras.optimizers.schedules values.

The values come from tools/fixtures/make_schedule_fixtures.py (run with torch and Keras in
a separate environment); these tests need neither library.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the schedules)
from tests.schedules.conftest import load_fixtures

FIXTURES = load_fixtures()
CASES = FIXTURES["schedules"]
IDS = [case["reference"] for case in CASES]
PAST_THE_END = 1.5


def test_the_fixtures_cover_every_library_backed_schedule():
    covered = {registry.parse(case["spec"]).name for case in CASES}
    assert covered >= {
        "linear",
        "step",
        "multistep",
        "piecewise",
        "exponential",
        "inverse_time",
        "polynomial",
        "cosine",
        "warmup",
        "cyclic",
        "cyclic_momentum",
        "one_cycle",
        "one_cycle_momentum",
        "sgdr",
    }
    assert {registry.parse(case["spec"]).name for case in FIXTURES["plateau"]} == {"reduce_on_plateau"}


def test_the_fixtures_run_well_past_each_schedule_end():
    for case in CASES:
        if case["end"] is not None and not case["spec"].startswith("one_cycle"):
            assert len(case["values"]) >= PAST_THE_END * case["end"], case["reference"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_the_reference_in_float64(case, x64):
    schedule = registry.build("schedule", case["spec"])
    expected = np.asarray(case["values"])
    got = np.asarray(jax.jit(schedule)(jnp.arange(len(expected), dtype=jnp.int64)))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_the_reference_in_float32(case):
    schedule = registry.build("schedule", case["spec"])
    expected = np.asarray(case["values"])
    got = np.asarray(jax.jit(schedule)(jnp.arange(len(expected), dtype=jnp.int32)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["spec"].startswith("one_cycle")], ids=lambda c: c["spec"]
)
def test_one_cycle_holds_its_last_value_past_total_steps(case, x64):
    # torch raises past total_steps; the schedule stays where torch's last step left it.
    schedule = registry.build("schedule", case["spec"])
    total = case["end"]
    tail = np.asarray(jax.jit(schedule)(jnp.arange(total - 1, int(PAST_THE_END * total) + 1)))
    np.testing.assert_allclose(tail, case["values"][-1], rtol=1e-9)  # torch rounds its last step


@pytest.mark.parametrize("case", FIXTURES["plateau"], ids=lambda c: c["reference"])
def test_reduce_on_plateau_matches_torch(case, x64):
    plateau = registry.build("schedule", case["spec"])
    update = jax.jit(plateau.update)
    state, scales = plateau.init(), []
    for metric in case["metrics"]:
        state = update(state, metric)
        scales.append(float(state.scale))
    np.testing.assert_allclose(scales, case["scales"], rtol=1e-12)
    assert len(set(case["scales"])) > 2  # the case does reduce, more than once
