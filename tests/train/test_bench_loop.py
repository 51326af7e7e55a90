"""`tricks bench loop` runs and reports the loop against the bare step (timings are not asserted)."""

import re

from tools.benchmarks import loop
from tools.cli import main
from tricks import train
from tricks.train import _loop


def test_bench_loop_prints_both_times_and_the_overhead(capsys, monkeypatch):
    monkeypatch.setattr(_loop, "MAX_CALL_SECONDS", 1e9)  # calls not cut by the pace while compiling
    code = main(["bench", "loop", "--steps", "120", "--warm", "60", "--segment", "2", "--config.steps_per_call=30", "--config.log_every=30",
                 "--config.model=mlp(widths=(16,))", "--config.progress=false"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "up to 30 per call" in out and "2 samples of 2 calls" in out, out  # pauses at 60, 120, 180
    for row in ("bare jitted step", "bare, 30 steps per call", "training loop"):
        assert re.search(rf"{row}\s+\d+\.\d+\s+\d+\.\d+\s+ms", out), out
    for row in ("bare jitted step", "bare, 30 steps per call"):
        assert re.search(rf"vs {row}\s+[+-]\d+\.\d\s+[+-]\d+\.\d\s+%\s+[+-]\d+\.\d \.\. [+-]\d+\.\d", out), out


def test_samples_are_taken_between_whole_calls_and_the_run_is_unchanged(monkeypatch):
    monkeypatch.setattr(_loop, "MAX_CALL_SECONDS", 1e9)
    cfg = train.default_config()
    cfg.model, cfg.steps_per_call = "mlp(widths=(16,))", 10
    samples, calls = loop.measure(train.complete(cfg), steps=100, segment=3, warm=40)
    assert calls.window == 10 and not calls.fixed
    # pauses every 3 calls (30 steps): at steps 30, 60, ..., 120; samples of segments starting at >= 40
    assert len(samples["loop"]) == len(samples["bare"]) == len(samples["batched"]) == 2
    assert all(t > 0 for times in samples.values() for t in times)
