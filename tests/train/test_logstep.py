"""Log records from training calls: summed metrics over each interval, the others at the log step,
written late, errors before saving."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tricks import train
from tricks.metrics import TRAIN_OUTPUTS, Metrics, layer_histograms
from tricks.train._calls import Called, Packing
from tricks.train._logstep import MetricsLog
from tricks.train._writers import Writer

METRICS = Metrics(["loss", "accuracy", "grad_norm", "param_norm"], TRAIN_OUTPUTS)


class Recorder(Writer):
    def __init__(self):
        self.scalars, self.histogram_names = [], []

    def write(self, step, scalars):
        self.scalars.append((step, dict(scalars)))

    def histograms(self, step, arrays):
        self.histogram_names.append((step, sorted(arrays)))


def called(first, losses, histograms=False, log_every=10_000, before=(), skipped=-1):
    """A one-segment call over steps first+1..: the log interval's summed loss and accuracy
    (0.5 each step) up to its end, from the interval's earlier steps' losses `before` on, as
    the calls carry them; its last step's gradient norm is the step number, and its
    parameter norm 10 times it."""
    end = first + len(losses)
    loss, accuracy = METRICS.summed_classes["loss"], METRICS.summed_classes["accuracy"]
    interval = [*before, *losses]
    summed = {"loss": loss.from_model_output(loss=jnp.asarray(interval, jnp.float32)),
              "accuracy": accuracy.from_model_output(logits=jnp.eye(2), labels=jnp.array([0, 0]))}
    summed["accuracy"] = jax.tree.map(lambda x: x * len(interval), summed["accuracy"])
    gradients = {"Dense_0": {"kernel": jnp.full((1,), float(end))}}
    logged = METRICS.at_log_step({"grads": gradients, "params": {"w": jnp.full((1,), 10.0 * end)}})
    bad = next((first + i for i, v in enumerate(losses) if not np.isfinite(v)), -1)
    results = {"summed": jax.tree.map(lambda x: x[None], summed), "logged": jax.tree.map(lambda x: x[None], logged),
               "bad": jnp.int32(bad), "state_bad": jnp.int32(-1), "skipped": jnp.int32(skipped)}
    if histograms:
        results["histograms"] = layer_histograms(gradients)
    packing = Packing(jax.eval_shape(lambda: results))
    return Called(first, len(losses), packing.pack(results), packing, log_every, histograms)


def log_of(writer, log_every=10, num_steps=100, histogram_every=0, **kwargs):
    options = {"histogram_every": histogram_every, "skips_nonfinite": False} | kwargs
    return MetricsLog(writer, log_every=log_every, num_steps=num_steps, **options)


def test_a_log_step_computes_its_intervals_sums_and_takes_the_rest_at_the_step():
    writer = Recorder()
    log = log_of(writer, log_every=4, num_steps=10)
    log.add([called(0, [1.0, 2.0, 3.0])])  # steps 1-3
    log.add([called(3, [6.0], before=[1.0, 2.0, 3.0]), called(4, [5.0, 7.0])])  # step 4, then 5-6
    log.add([called(6, [8.0, 9.0], before=[5.0, 7.0]), called(8, [10.0, 11.0])])  # 7-8, then 9-10
    log.finish()
    assert [step for step, _ in writer.scalars] == [4, 8, 10]  # the run's end is logged too
    first, second, end = (scalars for _, scalars in writer.scalars)
    assert first["train/loss"] == pytest.approx(3.0)  # mean of steps 1-4
    assert second["train/loss"] == pytest.approx(7.25)  # steps 5-8
    assert end["train/loss"] == pytest.approx(10.5)  # steps 9-10
    assert first["train/grad_norm/Dense_0"] == pytest.approx(4.0) and second["train/grad_norm"] == pytest.approx(8.0)
    assert first["train/param_norm"] == pytest.approx(40) and first["train/accuracy"] == 0.5
    assert log.latest["param_norm"] == pytest.approx(100) and log.latest["accuracy"] == 0.5


def test_results_are_written_when_the_next_call_arrives_or_when_finished():
    writer = Recorder()
    log = log_of(writer)
    log.add([called(0, [1.0] * 10)])
    assert writer.scalars == [] and log.latest == {}  # dispatched only
    log.add([called(10, [0.5] * 10)])
    assert [step for step, _ in writer.scalars] == [10]
    log.finish()
    log.finish()  # nothing pending: nothing written twice
    assert [step for step, _ in writer.scalars] == [10, 20] and log.latest["loss"] == 0.5


def test_poll_writes_computed_results_without_waiting_for_the_next_call():
    writer = Recorder()
    log = log_of(writer, log_every=5)
    log.add([called(0, [2.0] * 5)])
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
            log.add([called(step, [1.0] * (end - step), histograms=due[-1])])
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
    log.add([called(0, [1.0] * 5), called(5, [1.0, 1.0, np.nan, 1.0, 1.0])])  # the state at step 7 gives NaN
    with pytest.raises(train.NonFiniteLossError, match="non-finite at step 7"):
        log.finish()
    assert [step for step, _ in writer.scalars] == [5]
    log.finish()  # the bad results are gone
    writer = Recorder()
    tolerant = log_of(writer, log_every=5, skips_nonfinite=True)
    tolerant.add([called(0, [1.0, np.nan, 1.0, 1.0, 1.0])])
    tolerant.finish()
    assert np.isnan(writer.scalars[0][1]["train/loss"])


def test_the_log_step_metrics_of_a_call_that_ends_between_log_steps_are_not_recorded():
    writer = Recorder()
    log = log_of(writer, log_every=10, num_steps=20)
    log.add([called(0, [1.0] * 7), called(7, [1.0] * 3, before=[1.0] * 7)])
    log.finish()
    assert [(step, s["train/grad_norm"]) for step, s in writer.scalars] == [(10, 10.0)]


@pytest.mark.parametrize("checkpoint_every", [10, 7])
def test_a_run_whose_loss_diverges_saves_no_checkpoint_after_it(tmp_path, checkpoint_every):
    cfg = train.default_config()
    cfg.optimizer, cfg.progress, cfg.eval_splits = "sgd(learning_rate=1e30)", False, ["validation"]
    # the log step and the checkpoint coincide, or not: the log's values are still being
    # computed when the checkpoint is due, and must be checked first
    cfg.num_steps, cfg.log_every, cfg.eval_every, cfg.checkpoint_every = 40, 10, 1000, checkpoint_every
    with pytest.raises(train.NonFiniteLossError, match=r"non-finite at step (\d+)") as info:
        train.train_and_evaluate(cfg, tmp_path)
    bad = int(re.search(r"step (\d+)", str(info.value)).group(1))
    saved = [int(p.name) for p in (tmp_path / "checkpoints").glob("[0-9]*")]
    assert bad < 7 and saved == [], (saved, bad)


def test_a_state_made_non_finite_by_the_last_update_before_a_checkpoint_is_never_saved(tmp_path):
    """Issue 15's case: the rate jumps to 1e6 at step 45; a checkpoint every 10 steps, logs every 20.
    The state goes non-finite before its loss is seen at a log step; nothing past it is saved."""
    cfg = train.default_config()
    cfg.optimizer = "sgd(learning_rate=join([0.05, 1e6], boundaries=[45]))"
    cfg.num_steps, cfg.checkpoint_every, cfg.progress, cfg.eval_splits = 200, 10, False, ["validation"]
    with pytest.raises(train.NonFiniteLossError, match=r"non-finite at step (\d+)") as info:
        train.train_and_evaluate(cfg, tmp_path)
    bad = int(re.search(r"step (\d+)", str(info.value)).group(1))
    saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").glob("[0-9]*"))
    assert 45 <= bad <= 50 and saved and max(saved) < bad, (saved, bad)
