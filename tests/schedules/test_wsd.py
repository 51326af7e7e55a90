"""`wsd` against the authors' code of Hägele et al. 2024, transcribed; its checks and run length."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the schedules)
from tricks.schedules import fit_to_run


def paper_wsd(n_iterations, final_lr_factor=0.0, n_warmup=1000, init_div_factor=100, fract_decay=0.1,
              decay_type="linear"):
    """epfml/schedules-and-scaling, src/optim/utils.py, ``wsd_schedule``, transcribed: the rate's factor."""
    n_anneal_steps = int(fract_decay * n_iterations)
    n_hold = n_iterations - n_anneal_steps

    def schedule(step):
        if step < n_warmup:
            return (step / n_warmup) + (1 - step / n_warmup) / init_div_factor
        elif step < n_hold:
            return 1.0
        elif step < n_iterations:
            p = (step - n_hold) / n_anneal_steps
            linear = final_lr_factor + (1 - final_lr_factor) * (1 - p)
            cosine = final_lr_factor + (1 - final_lr_factor) * (1 + math.cos(math.pi * p)) * 0.5
            return {
                "linear": linear,
                "exp": final_lr_factor**p,
                "cosine": cosine,
                "miror_cosine": linear * 2 - cosine,
                "square": final_lr_factor + (1 - final_lr_factor) * (1 - p**2),
                "sqrt": final_lr_factor + (1 - final_lr_factor) * (1 - math.sqrt(p)),
            }[decay_type]
        else:
            return final_lr_factor

    return schedule


OURS_TO_PAPER = {
    "linear": "linear", "cosine": "cosine", "sqrt": "sqrt", "square": "square", "mirror_cosine": "miror_cosine",
    "exponential": "exp",
}
PEAK, END, INIT, TOTAL, WARMUP, FRACTION = 0.3, 0.003, 0.0015, 200, 20, 0.25


def _spec(shape, **changes):
    args = dict(peak_value=PEAK, total_steps=TOTAL, warmup_steps=WARMUP, decay_fraction=FRACTION,
                decay_shape=shape, init_value=INIT, end_value=END) | changes
    return "wsd(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"


def _expected(shape, steps, end=END, warmup=WARMUP, fraction=FRACTION, total=TOTAL):
    factor = paper_wsd(total, final_lr_factor=end / PEAK, n_warmup=warmup, init_div_factor=PEAK / INIT,
                       fract_decay=fraction, decay_type=OURS_TO_PAPER[shape])
    return np.array([PEAK * factor(t) for t in steps])


@pytest.mark.parametrize("shape", list(OURS_TO_PAPER))
def test_matches_the_papers_code_in_float64(shape, x64):
    steps = np.arange(0, 2 * TOTAL)
    got = np.asarray(jax.jit(registry.build("schedule", _spec(shape)))(jnp.asarray(steps)))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _expected(shape, steps), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", list(OURS_TO_PAPER))
def test_matches_the_papers_code_in_float32(shape):
    steps = np.arange(0, 2 * TOTAL)
    got = np.asarray(jax.jit(registry.build("schedule", _spec(shape)))(jnp.asarray(steps, jnp.int32)))
    np.testing.assert_allclose(got, _expected(shape, steps), rtol=2e-6, atol=1e-9)


@pytest.mark.parametrize("shape", ["linear", "cosine", "sqrt", "square", "mirror_cosine"])
def test_no_warmup_a_zero_end_and_a_decay_over_the_whole_run(shape, x64):
    steps = np.arange(0, 130)
    spec = _spec(shape, warmup_steps=0, end_value=0.0, decay_fraction=1.0, total_steps=100)
    got = np.asarray(registry.build("schedule", spec)(jnp.asarray(steps)))
    np.testing.assert_allclose(got, _expected(shape, steps, end=0.0, warmup=0, fraction=1.0, total=100),
                               rtol=1e-12, atol=1e-15)
    assert got[0] == PEAK and np.all(got[100:] == 0.0)


@pytest.mark.parametrize("shape", list(OURS_TO_PAPER))
def test_the_phases_and_a_continuous_decay(shape, x64):
    got = np.asarray(registry.build("schedule", _spec(shape))(jnp.arange(0, 400)))
    start = TOTAL - int(FRACTION * TOTAL)
    assert got[0] == INIT and got[WARMUP] == PEAK and np.all(got[WARMUP:start + 1] == PEAK)
    assert np.all(np.diff(got[:WARMUP + 1]) > 0) and np.all(np.diff(got[start:TOTAL + 1]) < 0)
    assert np.all(got[TOTAL:] == pytest.approx(END, rel=1e-12))
    fine = np.asarray(registry.build("schedule", _spec(shape))(jnp.linspace(TOTAL - 1e-6, TOTAL, 3)))
    np.testing.assert_allclose(fine, END, rtol=1e-4)  # no jump at the end of the decay


def test_the_decay_is_rounded_to_whole_steps(x64):
    # 0.29 * 100 is 28.999999999999996 in floating point: the paper's int() gives 28, we round to 29.
    s = registry.build("schedule", "wsd(peak_value=1.0, total_steps=100, decay_fraction=0.29, decay_shape='linear')")
    got = np.asarray(s(jnp.arange(0, 101)))
    assert got[71] == 1.0 and got[72] == pytest.approx(1 - 1 / 29, rel=1e-12) and got[100] == 0.0


def test_a_run_fills_total_steps_and_keeps_the_fraction():
    spec, notes = fit_to_run("optimizer", "adam(learning_rate=wsd(peak_value=0.01, warmup_steps=100))", 5000)
    assert notes == []
    assert str(spec) == "adam(learning_rate=wsd(peak_value=0.01, warmup_steps=100, total_steps=5000))"
    assert fit_to_run("schedule", "wsd(peak_value=0.01, total_steps=400)", 600)[1] == [
        "wsd(peak_value=0.01, total_steps=400) ends at step 400 of the 600 it spans: the value stays at its final "
        "one for the last 200 steps"]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("wsd(0.1, 100, warmup_steps=81, decay_fraction=0.2)", "by the decay's first step 80"),
        ("wsd(0.1, 100, decay_fraction=0.004)", "rounds to no decay step"),
        ("wsd(0.1, 100, decay_shape='exponential', end_value=0.0)", "must be > 0"),
    ],
)
def test_errors_say_why(spec, message):
    with pytest.raises(registry.RegistryError, match=message):
        registry.build("schedule", spec)
    registry.build("schedule", "wsd(0.1, 100, warmup_steps=80, decay_fraction=0.2)")  # the warmup may end at S
