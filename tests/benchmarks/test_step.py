"""`tricks bench step` runs, prints its tables and writes bench.json; PyTorch is optional (timings are not asserted)."""

import json
import re
import sys

import jax
import pytest

from tools.benchmarks import step
from tools.cli import main
from tricks import train


def test_quick_run_without_torch_prints_the_tables_and_writes_bench_json(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    code = main(["bench", "step", "--quick", "--models", "mlp", "--batch-sizes", "16", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    for variant in ("loop", "bare", "batched"):
        assert re.search(rf"^  {variant}\s+\d+\.\d+\s+\d+\s+\d+\.\d\d$", out, re.M), out
    assert re.search(r"^  torch\s+skipped: torch is not importable", out, re.M), out
    assert "| model | batch | loop | bare | batched |" in out and "| mlp | 16 | " in out, out
    assert "goals (issue #20): none measured here" in out, out
    found = json.loads((tmp_path / "bench.json").read_text())
    assert {"platform", "device_kind", "cpu_count", "jax", "jaxlib", "date"} <= set(found["machine"])
    assert "torch" not in found["machine"] and found["goals"] == []
    (result,) = found["results"]
    assert (result["model"], result["batch_size"], result["input_shape"]) == ("mlp", 16, [28, 28, 1])
    assert result["flops_per_step"] > 0 and set(result["skipped"]) == {"torch"}
    assert set(result["figures"]) == {"loop", "bare", "batched"} and result["figures"]["loop"]["x_loop"] == 1.0


def test_the_torch_twins_have_our_models_parameter_counts():
    torch = pytest.importorskip("torch")
    for name in step.MODELS:
        ours = train.setup(step.config(name, 8)).state.params
        theirs = step.torch_twin(name)
        assert sum(p.size for p in jax.tree.leaves(ours)) == sum(p.numel() for p in theirs.parameters()), name
        assert torch.is_tensor(next(theirs.parameters()))


def test_a_conv_net_has_three_torch_variants_and_one_is_timed(monkeypatch):
    pytest.importorskip("torch")
    variants = step.torch_variants("cnn", 4, bf16=False)
    assert set(variants) == {"torch eager", "torch channels-last", "torch.compile"}
    monkeypatch.setattr(step, "TORCH_WARM", 1)
    assert step.torch_seconds(variants["torch channels-last"](), steps=4, samples=2) > 0


def test_on_a_gpu_the_loop_runs_in_bfloat16_too_and_mfu_is_a_column(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setattr(step, "on_gpu", lambda: True)  # (the bf16 loop runs on the CPU here)
    assert main(["bench", "step", "--quick", "--models", "mlp", "--batch-sizes", "8", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"variant\s+ms/step\s+images/s\s+x loop\s+MFU", out), out
    (result,) = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert {"loop bf16", "bare bf16"} <= set(result["figures"]), out
    assert re.search(r"^  loop bf16\s+\d+\.\d+\s+\d+\s+\d+\.\d\d\s*$", out, re.M), out


def test_bf16_measures_the_bfloat16_variants_off_a_gpu_and_keeps_the_float32_goals(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["bench", "step", "--quick", "--bf16", "--models", "mlp", "--batch-sizes", "8",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    found = json.loads((tmp_path / "bench.json").read_text())
    (result,) = found["results"]
    assert {"loop", "loop bf16", "bare bf16", "batched bf16"} <= set(result["figures"]), out
    assert found["settings"]["bf16"] is True and "MFU" not in out
    times = {"loop": 1.0, "loop bf16": 0.1, "torch eager": 1.2, "torch eager bf16": 0.5}
    assert step.goals([{"model": "mlp", "batch_size": 8, "seconds_per_step": times}], gpu=False)[0]["met"] is False
