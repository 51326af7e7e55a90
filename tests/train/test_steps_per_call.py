"""Several training steps per jitted call: the same run, the same records, fewer calls."""

import json
import shutil

import numpy as np
import pytest

from tricks import train
from tricks.config import ConfigError
from tricks.train import _loop
from tricks.train import _calls
from tricks.train._calls import Pace, Stops
from tricks.train._parallel import TrainStep
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


@pytest.mark.parametrize("fields", [{}, {"dataset": "digits(validation_fraction=0.1)", "batch_size": 100,
                                         "class_balanced": True}])
def test_steps_per_call_changes_nothing_but_the_calls(monkeypatch, tmp_path, fields):
    """Stops at log steps (10), evaluations (15), checkpoints (7) and snapshots (12) fall
    inside would-be windows; every one of them happens at its step whatever the window.
    The reference runs each step as a call of its own, with the log values and the reset
    of the sums as calls of their own too (the path of `pmap` and Grain)."""
    with monkeypatch.context() as patch:
        patch.setattr(TrainStep, "fed_by", lambda self, loader, finish, step=None: None)
        one, records_one, saved_one = run_with(tmp_path, 1, **fields)
    for steps_per_call in (1, 4, 0):
        many, records, saved = run_with(tmp_path, steps_per_call, **fields)
        assert saved == saved_one == sorted({7, 12, 14, 21, 24, 28, 32})
        assert_same_records(records, records_one)
        assert many["splits"]["validation"]["accuracy"] == pytest.approx(one["splits"]["validation"]["accuracy"])
    assert [r["step"] for r in records_one if "train/loss" in r] == [10, 20, 30, 32]
    assert [r["step"] for r in records_one if "eval/validation/accuracy" in r] == [15, 30, 32]


def test_calls_stop_at_every_event(monkeypatch, tmp_path):
    counts = []
    original = _loop._stepper

    def counting(run, batches, config):
        advance, window = original(run, batches, config)

        def recorded(state, sums, count, log):
            counts.append(count)
            return advance(state, sums, count, log)

        return recorded, window

    monkeypatch.setattr(_loop, "_stepper", counting)
    monkeypatch.setattr(_loop, "MAX_CALL_SECONDS", 1e9)  # calls not cut by the pace (timing)
    run_with(tmp_path, 0)
    # stops: checkpoints 7 14 21 28, snapshots 12 24, evaluations 15 30, the end 32, and the
    # histogram at the first log step (10); the log step 20 is passed inside a call
    assert counts == [7, 3, 2, 2, 1, 6, 3, 4, 2, 2]
    counts.clear()
    run_with(tmp_path, 3, log_every=8, eval_every=0, checkpoint_every=0, snapshot_every=0)
    # at most 3 per call; an evaluation each epoch (10 steps), the histogram at the first log step (8)
    assert counts == [3, 3, 2, 2, 3, 3, 3, 1, 3, 3, 3, 1, 2]
    counts.clear()
    histograms = []
    monkeypatch.setattr(TensorBoardWriter, "histograms", lambda self, step, arrays: histograms.append(step))
    run_with(tmp_path, 0, log_every=4, histogram_every=10, eval_every=0, checkpoint_every=0, snapshot_every=0)
    # histograms at the first log step, then at the first log step at or past each multiple of 10:
    # 4, 12, 20, 32; with the evaluations (10, 20, 30), the end, and the log step 8 (the pace is
    # known from the third call on), these are the calls' ends
    assert histograms == [4, 12, 20, 32]
    assert counts == [4, 4, 2, 2, 8, 10, 2]


def test_pace_lets_a_call_pass_log_steps_for_as_long_as_it_is_allowed(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(_calls.time, "perf_counter", lambda: clock[0])
    pace = Pace(0.5, log_every=20, adaptive=True)
    assert pace.until(0) == 20  # not measured yet: to the next log step
    for step in range(0, 100, 20):  # calls of 20 steps, 10 ms a step
        pace.called(20)
        clock[0] += 0.2
    assert pace.until(100) == 150  # 0.5 s of 10 ms steps
    for _ in range(5):  # now 100 ms a step: a call stops at the next log step
        pace.called(20)
        clock[0] += 2.0
    assert pace.until(105) == 120
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
