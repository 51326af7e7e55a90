"""Stalled layers named from per-layer gradient norms, and by 'tricks plot grads'."""

import json
import math

import pytest

from tools.cli import main
from tricks import diagnostics


def test_a_layer_typically_far_below_the_largest_stalls():
    norms = {"Dense_0": [1e-6, 5e-3, 1e-6], "Dense_1": [0.01, 0.02, 0.01], "head": [1.0, 1.0, 2.0]}
    assert diagnostics.stalled_layers(norms) == {"Dense_0": pytest.approx(1e-6)}  # the median share
    assert diagnostics.stalled_layers(norms, ratio=0.02) == {"Dense_0": pytest.approx(1e-6),
                                                             "Dense_1": pytest.approx(0.01)}


def test_missing_steps_and_zero_gradients_name_nothing_wrongly():
    assert diagnostics.stalled_layers({}) == {}
    assert diagnostics.stalled_layers({"a": [0.0, 0.0], "b": [0.0, 0.0]}) == {}  # no largest layer
    # a non-finite step is left out of every layer's shares
    assert diagnostics.stalled_layers({"a": [math.nan, 1.0], "b": [1e-9, 1.0]}) == {}
    with pytest.raises(ValueError, match="same number of log steps"):
        diagnostics.stalled_layers({"a": [1.0], "b": [1.0, 2.0]})


def test_plot_grads_names_the_stalled_layers(tmp_path, capsys):
    lines = [{"step": step, f"{diagnostics.GRAD_NORM_PREFIX}Dense_0": 1e-7 * step,
              f"{diagnostics.GRAD_NORM_PREFIX}Dense_1": 0.5, f"{diagnostics.GRAD_NORM_PREFIX}head": 1.0}
             for step in (10, 20, 30)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["plot", "grads", str(tmp_path), "-o", str(tmp_path / "grads.png")]) == 0
    out = capsys.readouterr().out
    assert "stalled layers (gradient norm typically below 0.001 of the largest layer's): Dense_0 (2e-06)" in out
    assert "Dense_1 (" not in out
