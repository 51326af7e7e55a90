"""Log steps: dispatched at the step, written when their values are ready, errors before saving."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
from tricks import train
from tricks.train._logstep import MetricsLog, log_report
from tricks.train._step import zero_sums
from tricks.train._writers import Writer


class Recorder(Writer):
    def __init__(self):
        self.scalars, self.histogram_names = [], []

    def write(self, step, scalars):
        self.scalars.append((step, dict(scalars)))

    def histograms(self, step, arrays):
        self.histogram_names.append((step, sorted(arrays)))


PARAMS = {"Dense_0": {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)}}


def state_at(step, learning_rate=0.1):
    optimizer = registry.build("optimizer", {"name": "sgd", "learning_rate": learning_rate})
    return train.TrainState(step=jnp.int32(step), params=PARAMS, batch_stats={},
                            opt_state=optimizer.init(PARAMS), rng=jax.random.PRNGKey(0))


def sums_of(losses, first_nonfinite=-1):
    return zero_sums(PARAMS) | {"loss": jnp.float32(sum(losses)), "count": jnp.int32(len(losses)),
                                "first_nonfinite": jnp.int32(first_nonfinite)}


def test_a_log_step_is_written_when_finished_or_when_the_next_one_starts():
    writer = Recorder()
    log = MetricsLog(writer, train.sharded(), histogram_every=10, skips_nonfinite=False)
    log.start([10], sums_of([1.0, 3.0]), state_at(10))
    assert writer.scalars == [] and log.latest == {}  # dispatched only
    log.start([20], sums_of([0.5]), state_at(20, learning_rate=0.05))
    assert [step for step, _ in writer.scalars] == [10]
    log.finish()
    log.finish()  # nothing pending: nothing written twice
    (step10, first), (step20, second) = writer.scalars
    assert (step10, step20) == (10, 20)
    assert first["train/loss"] == 2.0 and second["train/loss"] == 0.5
    assert first["train/learning_rate"] == pytest.approx(0.1) and second["train/learning_rate"] == pytest.approx(0.05)
    assert second["train/param_norm"] == pytest.approx(2.0)
    assert "train/first_nonfinite" not in second
    assert writer.histogram_names == [(10, ["train/grads/Dense_0"]), (20, ["train/grads/Dense_0"])]
    assert log.latest["loss"] == 0.5


def test_histograms_at_the_first_log_step_and_then_past_each_multiple():
    writer = Recorder()
    log = MetricsLog(writer, train.sharded(), histogram_every=25, skips_nonfinite=False)
    for step in range(10, 90, 10):
        log.start([step], sums_of([1.0]), state_at(step))
    log.finish()
    assert [step for step, _ in writer.histogram_names] == [10, 30, 50, 80]
    assert len(writer.scalars) == 8


def test_poll_writes_a_computed_log_step_without_waiting_for_the_next():
    writer = Recorder()
    log = MetricsLog(writer, train.sharded(), histogram_every=0, skips_nonfinite=False)
    log.start([5], sums_of([2.0]), state_at(5))
    for _ in range(1000):  # the values are computed asynchronously; poll until they are
        log.poll()
        if writer.scalars:
            break
        jax.block_until_ready(jnp.zeros(()))
    assert [step for step, _ in writer.scalars] == [5]


def test_non_finite_loss_is_raised_with_its_step_unless_skipped():
    log = MetricsLog(Recorder(), train.sharded(), histogram_every=0, skips_nonfinite=False)
    log.start([10], sums_of([np.nan], first_nonfinite=7), state_at(10))
    with pytest.raises(train.NonFiniteLossError, match="non-finite at step 7"):
        log.finish()
    writer = Recorder()
    tolerant = MetricsLog(writer, train.sharded(), histogram_every=0, skips_nonfinite=True)
    tolerant.start([10], sums_of([np.nan], first_nonfinite=7), state_at(10))
    tolerant.finish()
    assert np.isnan(writer.scalars[0][1]["train/loss"])


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


def test_the_sums_may_be_donated_once_the_log_step_is_dispatched():
    writer = Recorder()
    log = MetricsLog(writer, train.sharded(), histogram_every=10, skips_nonfinite=False)
    sums = sums_of([2.0, 4.0])
    log.start([10], sums, state_at(10))
    jax.jit(lambda s: jax.tree.map(lambda x: x * 0, s), donate_argnums=0)(sums)  # as the next step does
    log.finish()
    assert writer.scalars[0][1]["train/loss"] == 3.0 and writer.histogram_names == [(10, ["train/grads/Dense_0"])]


def test_next_histogram_follows_the_schedule_whatever_the_process():
    for histograms in (True, False):  # a process that writes none keeps the same schedule
        writer = Recorder()
        log = MetricsLog(writer, train.sharded(), histogram_every=25, skips_nonfinite=False, histograms=histograms)
        assert log.next_histogram(0, 10) == 10  # the first log step
        log.start([10], sums_of([1.0]), state_at(10))
        assert log.next_histogram(10, 10) == 30  # the first log step at or past 25
        log.start([20, 30], sums_of([1.0]), state_at(30), report=stacked_report([(20, [1.0]), (30, [2.0])]))
        assert log.next_histogram(30, 10) == 50 and log.next_histogram(53, 10) == 60
        log.finish()
        assert [step for step, _ in writer.histogram_names] == ([10, 30] if histograms else [])
    off = MetricsLog(Recorder(), train.sharded(), histogram_every=0, skips_nonfinite=False)
    assert off.next_histogram(0, 10) == float("inf")


def stacked_report(rows):
    """What a training call that passed several log steps returns: a `log_report` row each."""
    reports = [log_report(sums_of(losses, first_nonfinite), state_at(step))
               for step, losses, first_nonfinite in [(*row, -1) if len(row) == 2 else row for row in rows]]
    return jnp.stack([values for values, _ in reports]), jnp.stack([bad for _, bad in reports])


def test_a_report_of_several_log_steps_writes_a_record_each_in_order():
    writer = Recorder()
    log = MetricsLog(writer, train.sharded(), histogram_every=0, skips_nonfinite=False)
    log.start([10, 20, 30], sums_of([0.0]), state_at(30),
              report=stacked_report([(10, [1.0, 3.0]), (20, [0.5]), (30, [0.25])]))
    log.finish()
    assert [(step, scalars["train/loss"]) for step, scalars in writer.scalars] == [(10, 2.0), (20, 0.5), (30, 0.25)]
    assert log.latest["loss"] == 0.25
    writer = Recorder()
    bad = MetricsLog(writer, train.sharded(), histogram_every=0, skips_nonfinite=False)
    bad.start([10, 20], sums_of([0.0]), state_at(20),
              report=stacked_report([(10, [1.0]), (20, [np.nan], 17)]))
    with pytest.raises(train.NonFiniteLossError, match="non-finite at step 17"):
        bad.finish()
    assert [step for step, _ in writer.scalars] == [10]  # the log step before it is written
