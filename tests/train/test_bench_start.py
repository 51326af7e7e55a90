"""`tricks bench start` times cold and warm starts in fresh processes (timings are not asserted)."""

import re

from tools.cli import main


def test_bench_start_times_a_cold_and_a_warm_run(capsys):
    code = main(["bench", "start", "--runs", "1", "--config.num_steps=4", "--config.eval_every=4",
                 "--config.eval_splits=['validation']"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"\| cold \| [\d.]+ s \| [\d.]+ s \| [\d.]+ s \|", out)
    assert re.search(r"\| warm \| [\d.]+ s \| [\d.]+ s \| [\d.]+ s \|", out)
    assert re.search(r"warm / cold to the first step: [\d.]+ \(goal: at most 0.33\)", out)


def test_a_failing_run_is_reported_with_its_error(capsys):
    code = main(["bench", "start", "--runs", "1", "--config.model=no_such_model"])
    assert code == 2
    assert "no_such_model" in capsys.readouterr().out
