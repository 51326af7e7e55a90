"""Several training steps per jitted call: the same run, the same records, fewer calls."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tricks import data as data_lib
from tricks import train
from tricks.config import ConfigError
from tricks.train import _loop
from tricks.train import _calls
from tricks.train._calls import Pace, Stops
from tricks.train._writers import TensorBoardWriter


def run_with(tmp_path, steps_per_call, **fields):
    cfg = train.default_config()
    cfg.num_steps, cfg.log_every, cfg.eval_every, cfg.checkpoint_every = 32, 10, 15, 7
    cfg.progress, cfg.eval_splits, cfg.steps_per_call = False, ["validation"], steps_per_call
    cfg.snapshot_every, cfg.keep = 12, 100
    for key, value in fields.items():
        cfg[key] = value
    workdir = tmp_path / f"calls{steps_per_call}"
    shutil.rmtree(workdir, ignore_errors=True)
    summary = train.train_and_evaluate(cfg, workdir)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        record.pop("wall_time_s")
    checkpoints = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    return summary, records, checkpoints


def assert_same_records(a, b):
    assert [sorted(r) for r in a] == [sorted(r) for r in b]
    for x, y in zip(a, b):
        assert x["step"] == y["step"]
        np.testing.assert_allclose([x[k] for k in sorted(x)], [y[k] for k in sorted(y)], rtol=2e-5, atol=1e-7)


FORMS = {"loop": (1, 4, 0), "convolutions": (1, 3, 0), "stacked": (1, 4, 0), "pmap": (1, 4, 0)}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("fields", [{}, {"dataset": "digits(validation_fraction=0.1)", "batch_size": 100,
                                         "class_balanced": True}])
def test_steps_per_call_changes_nothing_but_the_calls(monkeypatch, tmp_path, fields, form):
    """Stops at log steps (10), evaluations (15), checkpoints (7) and snapshots (12) fall
    inside would-be windows; every one of them happens at its step whatever the window.
    The reference runs each step as a call of its own. Each form of call is checked: the
    loop (traced length), the loop of a model with convolutions (laid out on a CPU:
    `tricks.train.canonical_convolutions`), and windows of stacked batches from Grain and
    under pmap, fixed calls with single-step remainders."""
    if form == "convolutions":  # (their gradients inside the loop are what gets laid out)
        fields = {**fields, "model": "cnn(channels=(4, 6), kernel_size=3, batch_norm=True)"}
    if form == "stacked":
        make_loader = data_lib.make_loader
        monkeypatch.setattr(data_lib, "make_loader", lambda *args, **kwargs: make_loader(
            *args, **kwargs, on_device=args[1] != "train"))
    if form == "pmap":
        fields = {**fields, "parallel": "pmap"}
    first, *others = FORMS[form]
    one, records_one, saved_one = run_with(tmp_path, first, **fields)
    for steps_per_call in others:
        many, records, saved = run_with(tmp_path, steps_per_call, **fields)
        assert saved == saved_one == sorted({7, 12, 14, 21, 24, 28, 32})
        assert_same_records(records, records_one)
        assert many["splits"]["validation"]["accuracy"] == pytest.approx(one["splits"]["validation"]["accuracy"])
    assert [r["step"] for r in records_one if "train/loss" in r] == [10, 20, 30, 32]
    assert [r["step"] for r in records_one if "eval/validation/accuracy" in r] == [15, 30, 32]


def test_a_call_runs_in_segments_between_log_steps():
    run = train.setup(train.default_config())
    calls = _calls.Calls(run.train_step.step, run.strategy, run.loader.iterate(0), 0,
                         (run.state, run.loader.batch(0)), run.train_metrics, log_every=10)
    assert (calls.fixed, calls.window, calls.longest) == (False, 100, 100)
    state, called = calls.run(jax.tree.map(jnp.copy, run.state), 11, histograms=True)
    assert [(c.first, c.count, c.histograms) for c in called] == [(0, 11, True)]  # one call
    assert int(state.step) == 11 and calls.dispatched == 1
    found = called[0].results()
    segments = [(end, int(summed["loss"].count)) for end, summed, _ in found.segments]
    assert segments == [(10, 10), (11, 1)]  # each segment's sums run from its log interval's start
    assert found.bad == -1 and found.state_bad == -1 and found.skipped == -1
    sizes = {layer: sum(x.size for x in jax.tree.leaves(leaves)) for layer, leaves in run.state.params.items()}
    # each layer's gradients, every one counted in a bucket
    assert {layer: (int(h["num"]), int(h["counts"].sum())) for layer, h in found.histograms.items()} == {
        layer: (size, size) for layer, size in sizes.items()}


def test_calls_with_and_without_histograms_share_one_program():
    run = train.setup(train.default_config())
    calls = _calls.Calls(run.train_step.step, run.strategy, run.loader.iterate(0), 0,
                         (run.state, run.loader.batch(0)), run.train_metrics, log_every=10)
    state, with_ = calls.run(jax.tree.map(jnp.copy, run.state), 10, histograms=True)
    state, without = calls.run(state, 10)
    assert len(calls._programs) == 1  # (a second program once cost the default run half its time)
    assert with_[0].results().histograms is not None and without[0].results().histograms is None
    lean = _calls.Calls(run.train_step.step, run.strategy, run.loader.iterate(0), 0,
                        (run.state, run.loader.batch(0)), run.train_metrics, log_every=10, histograms=False)
    with pytest.raises(ValueError, match="without histograms"):
        lean.run(jax.tree.map(jnp.copy, run.state), 10, histograms=True)


def test_calls_stop_at_every_event(monkeypatch, tmp_path):
    ends = []
    run_and_evaluate = train.train_and_evaluate
    monkeypatch.setattr(train, "train_and_evaluate", lambda cfg, workdir: run_and_evaluate(
        cfg, workdir, on_call=lambda step, state: ends.append(step)))
    monkeypatch.setattr(_loop, "MAX_CALL_SECONDS", 1e9)  # calls not cut by the pace (timing)

    def counts():
        found = np.diff([0] + ends).tolist()
        ends.clear()
        return found

    run_with(tmp_path, 0)
    # stops: checkpoints 7 14 21 28, snapshots 12 24, evaluations 15 30, the end 32, and the
    # histogram at the first log step (10); the log step 20 is passed inside a call
    assert counts() == [7, 3, 2, 2, 1, 6, 3, 4, 2, 2]
    run_with(tmp_path, 3, log_every=8, eval_every=0, checkpoint_every=0, snapshot_every=0)
    # at most 3 per call; an evaluation each epoch (10 steps), the histogram at the first log step (8)
    assert counts() == [3, 3, 2, 2, 3, 3, 3, 1, 3, 3, 3, 1, 2]
    histograms = []
    monkeypatch.setattr(TensorBoardWriter, "histograms", lambda self, step, arrays: histograms.append(step))
    run_with(tmp_path, 0, log_every=4, histogram_every=10, eval_every=0, checkpoint_every=0, snapshot_every=0)
    # histograms at the first log step, then at the first log step at or past each multiple of 10:
    # 4, 12, 20, 32; with the evaluations (10, 20, 30), the end, and the log step 8 (the pace is
    # known from the third call on), these are the calls' ends
    assert histograms == [4, 12, 20, 32]
    assert counts() == [4, 4, 2, 2, 8, 10, 2]


def test_pace_cuts_calls_to_about_its_seconds(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(_calls.time, "perf_counter", lambda: clock[0])
    pace = Pace(0.5, log_every=20, adaptive=True)
    assert pace.until(0) == 20  # not measured yet: to the next log step
    for step in range(0, 100, 20):  # calls of 20 steps, 10 ms a step
        pace.called(20)
        clock[0] += 0.2
    assert pace.until(100) == 150  # 0.5 s of 10 ms steps
    for _ in range(5):  # now 100 ms a step: 5 steps, log steps or not
        pace.called(20)
        clock[0] += 2.0
    assert pace.until(105) == 110
    for _ in range(5):  # 1 s a step, and a hook of 0.5 s after each call, left out: one step per call
        pace.called(2)
        clock[0] += 2.5
        pace.exclude(0.5)
    assert pace.until(105) == 106
    unrolled = Pace(0.5, log_every=20, adaptive=True, multiple=4)
    for _ in range(3):  # 70 ms a step: 7 steps, rounded down to whole unrolled calls
        unrolled.called(10)
        clock[0] += 0.7
    assert unrolled.until(8) == 12
    fixed = Pace(0.5, log_every=20, adaptive=False)  # several processes
    for _ in range(3):
        fixed.called(20)
        clock[0] += 0.01
    assert fixed.until(100) == 120


def test_stops():
    stops = Stops((10, 15, 0), [12, 40], 50)
    assert [stops.after(s) for s in (0, 10, 12, 14, 29, 30, 39, 45)] == [10, 12, 15, 15, 30, 40, 40, 50]


@pytest.mark.parametrize("field, value", [("steps_per_call", -1), ("log_every", 0), ("batch_size", 0),
                                          ("num_steps", 2.5), ("eval_every", "often"), ("log_every", True)])
def test_bad_counts_are_config_errors(field, value):
    cfg = train.default_config()
    cfg[field] = value
    with pytest.raises(ConfigError, match=f"'{field}' must be a whole number"):
        train.complete(cfg)
