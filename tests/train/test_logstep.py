"""Log records from per-step rows: interval means, values at the log step, written late, errors before saving."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tricks import train
from tricks.train._calls import Rows
from tricks.train._logstep import MetricsLog
from tricks.train._writers import Writer

NAMES = ["accuracy", "grad_norm", "grad_norm/Dense_0", "learning_rate", "loss", "param_norm"]


class Recorder(Writer):
    def __init__(self):
        self.scalars, self.histogram_names = [], []

    def write(self, step, scalars):
        self.scalars.append((step, dict(scalars)))

    def histograms(self, step, arrays):
        self.histogram_names.append((step, sorted(arrays)))


def rows(first, losses, grads=False, lr=None):
    """Rows of steps first+1..: loss as given; the rate and the norms (taken at log steps) count the step."""
    steps = np.arange(first + 1, first + 1 + len(losses), dtype=np.float32)
    columns = {"accuracy": np.full_like(steps, 0.5), "grad_norm": 2 * steps, "grad_norm/Dense_0": steps,
               "learning_rate": steps / 100 if lr is None else np.full_like(steps, lr),
               "loss": np.asarray(losses, np.float32), "param_norm": steps * 10}
    values = jnp.asarray(np.stack([columns[k] for k in NAMES], axis=1))
    gradients = {"Dense_0": {"kernel": jnp.ones((2, 2))}} if grads else None
    return Rows(first, len(losses), values, gradients)


def log_of(writer, log_every=10, num_steps=100, histogram_every=0, **kwargs):
    options = {"histogram_every": histogram_every, "skips_nonfinite": False} | kwargs
    return MetricsLog(writer, train.sharded(), NAMES, log_every=log_every, num_steps=num_steps, **options)


def test_a_log_step_averages_its_interval_across_calls_and_takes_the_rest_at_the_step():
    writer = Recorder()
    log = log_of(writer, log_every=4, num_steps=10)
    log.add([rows(0, [1.0, 2.0, 3.0])])  # steps 1-3
    log.add([rows(3, [6.0, 5.0, 7.0]), rows(6, [8.0, 9.0, 10.0, 11.0])])  # steps 4-6, then 7-10
    log.finish()
    assert [step for step, _ in writer.scalars] == [4, 8, 10]  # the run's end is logged too
    first, second, end = (scalars for _, scalars in writer.scalars)
    assert first["train/loss"] == pytest.approx(3.0)  # mean of steps 1-4
    assert second["train/loss"] == pytest.approx(7.25)  # steps 5-8
    assert end["train/loss"] == pytest.approx(10.5)  # steps 9-10
    assert first["train/grad_norm/Dense_0"] == pytest.approx(4.0) and second["train/grad_norm"] == pytest.approx(16.0)
    assert first["train/learning_rate"] == pytest.approx(0.04) and first["train/param_norm"] == pytest.approx(40)
    assert log.latest["param_norm"] == pytest.approx(100) and log.latest["accuracy"] == 0.5


def test_rows_are_written_when_the_next_call_arrives_or_when_finished():
    writer = Recorder()
    log = log_of(writer)
    log.add([rows(0, [1.0] * 10)])
    assert writer.scalars == [] and log.latest == {}  # dispatched only
    log.add([rows(10, [0.5] * 10)])
    assert [step for step, _ in writer.scalars] == [10]
    log.finish()
    log.finish()  # nothing pending: nothing written twice
    assert [step for step, _ in writer.scalars] == [10, 20] and log.latest["loss"] == 0.5


def test_poll_writes_computed_rows_without_waiting_for_the_next_call():
    writer = Recorder()
    log = log_of(writer, log_every=5)
    log.add([rows(0, [2.0] * 5)])
    for _ in range(1000):  # the values are computed asynchronously; poll until they are
        log.poll()
        if writer.scalars:
            break
        jax.block_until_ready(jnp.zeros(()))
    assert [step for step, _ in writer.scalars] == [5]


def test_histograms_at_the_first_log_step_and_then_past_each_multiple():
    for histograms in (True, False):  # a process that writes none keeps the same schedule
        writer = Recorder()
        log = log_of(writer, histogram_every=25, histograms=histograms)
        due = []
        step = 0
        while step < 90:
            end = min(step + 10, log.next_histogram(step))
            due.append(end == log.next_histogram(step))
            log.add([rows(step, [1.0] * (end - step), grads=due[-1])])
            step = end
        log.finish()
        assert [s for s, d in zip(range(10, 100, 10), due) if d] == [10, 30, 50, 80]
        expected = [(s, ["train/grads/Dense_0"]) for s in (10, 30, 50, 80)] if histograms else []
        assert writer.histogram_names == expected
        assert len(writer.scalars) == 9
    assert log_of(Recorder()).next_histogram(0) == float("inf")


def test_non_finite_loss_is_raised_with_its_step_after_the_log_steps_before_it():
    writer = Recorder()
    log = log_of(writer, log_every=5)
    log.add([rows(0, [1.0] * 7 + [np.nan, 1.0, 1.0])])  # step 8's loss (computed at step 7) is NaN
    with pytest.raises(train.NonFiniteLossError, match="non-finite at step 7"):
        log.finish()
    assert [step for step, _ in writer.scalars] == [5]
    log.finish()  # the bad rows are gone
    writer = Recorder()
    tolerant = log_of(writer, log_every=5, skips_nonfinite=True)
    tolerant.add([rows(0, [1.0, np.nan, 1.0, 1.0, 1.0])])
    tolerant.finish()
    assert np.isnan(writer.scalars[0][1]["train/loss"])


def test_rows_of_a_replicated_step_are_read_once():
    """Under pmap a one-step call returns a row per device; the first is the step's."""
    writer = Recorder()
    log = log_of(writer, log_every=1)
    one = rows(0, [3.0])
    log.add([Rows(0, 1, jnp.concatenate([one.values] * 4), None)])
    log.finish()
    assert [(step, s["train/loss"]) for step, s in writer.scalars] == [(1, 3.0)]


def test_a_run_whose_loss_diverges_saves_no_checkpoint_after_it(tmp_path):
    cfg = train.default_config()
    cfg.optimizer, cfg.progress, cfg.eval_splits = "sgd(learning_rate=1e30)", False, ["validation"]
    # the log step and the checkpoint coincide: the log's values are still being computed
    # when the checkpoint is due, and must be checked first
    cfg.num_steps, cfg.log_every, cfg.eval_every, cfg.checkpoint_every = 40, 10, 1000, 10
    with pytest.raises(train.NonFiniteLossError, match=r"non-finite at step (\d+)") as info:
        train.train_and_evaluate(cfg, tmp_path)
    bad = int(re.search(r"step (\d+)", str(info.value)).group(1))
    saved = [int(p.name) for p in (tmp_path / "checkpoints").glob("[0-9]*")]
    assert bad < 10 and saved == [], (saved, bad)
