"""`tricks bench loop` runs and reports the loop against the bare step (timings are not asserted)."""

import re

from tools.cli import main


def test_bench_loop_prints_both_times_and_the_overhead(capsys):
    code = main(["bench", "loop", "--repeats", "1", "--steps", "40", "--config.log_every=30",
                 "--config.model=mlp(widths=(16,))", "--config.progress=false"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "30 steps per call" in out, out  # up to the log step
    for row in ("bare jitted step", "bare, 30 steps per call", "training loop"):
        assert re.search(rf"{row}\s+\d+\.\d+\s+\d+\.\d+\s+ms", out), out
    for row in ("bare jitted step", "bare, 30 per call"):
        assert re.search(rf"overhead vs {row}\s+[+-]\d+\.\d\s+[+-]\d+\.\d\s+%\s+per repeat: ", out), out

