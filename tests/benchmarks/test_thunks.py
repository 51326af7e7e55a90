"""`tricks bench thunks` traces the loop's calls and the bare step and sums their operations (times not asserted)."""

import os
import pathlib
import re
import subprocess
import sys

from tools.benchmarks import thunks
from tools.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_without_xla_cpus_trace_flag_it_says_how_to_run_it(capsys, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "")
    assert main(["bench", "thunks", "--steps", "10"]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and f"XLA_FLAGS={thunks.FLAG} tricks bench thunks" in out


def test_report_lists_both_programs_per_step_and_sums_them_by_how_often_they_ran():
    programs = {"loop": {"dot.1": [200, 3000.0], "gather": [2, 200.0], "while.5": [2, 9000.0], "bits": [1000, 500.0]},
                "batched": {"dot.7": [200, 2000.0], "while.3": [2, 5000.0]}}
    text = thunks.report(programs, {"loop": 200, "batched": 200}, top=3)
    assert re.search(r"^\s+45\.0\s+0\.01  while\.5\s+25\.0\s+0\.01  while\.3$", text, re.M), text
    assert re.search(r"^\s+15\.0\s+1\.00  dot\.1\s+10\.0\s+1\.00  dot\.7$", text, re.M), text
    sums = dict(re.findall(r"^(once a step|more often|less often|all)\s+(\S+ +\S+)$", text, re.M))
    assert {k: v.split() for k, v in sums.items()} == {  # the loops left out
        "once a step": ["15.0", "10.0"], "more often": ["2.5", "0.0"], "less often": ["1.0", "0.0"],
        "all": ["18.5", "10.0"]}


def test_a_traced_run_lists_the_operations_of_the_loops_calls_and_of_the_bare_step():
    env = {**os.environ, "XLA_FLAGS": thunks.FLAG, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "tools.cli", "bench", "thunks", "--config", "experiments/configs/mnist1d_mlp.py:smoke",
         "--steps", "40", "--top", "5"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "loop: the training calls" in line)
    rows = lines[header + 1: header + 6]
    assert all(len(re.findall(r"\d+\.\d+\s+\d+\.\d\d  \S+", row)) == 2 for row in rows), result.stdout
    assert re.search(r"^once a step\s+\d+\.\d+\s+\d+\.\d+$", result.stdout, re.M), result.stdout
