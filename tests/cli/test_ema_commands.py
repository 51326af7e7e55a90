"""`--ema` of tricks eval, predict, ensemble and hessian: the moving average, or a one-line error."""

import json

import numpy as np
import pytest

from tools.cli import main
from tricks import train


def _config(ema_decay: float) -> list[str]:
    return ["--config.num_steps=20", "--config.eval_every=20", "--config.progress=False",
            "--config.model=mlp(widths=(32,))", f"--config.ema_decay={ema_decay}"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    assert main(["train", "--workdir", str(root / "ema"), *_config(0.8)]) == 0
    assert main(["train", "--workdir", str(root / "plain"), *_config(0.0)]) == 0
    return root


def test_eval_with_ema_evaluates_the_average(runs, capsys):
    capsys.readouterr()
    assert main(["eval", "--workdir", str(runs / "ema"), "--ema"]) == 0
    found = json.loads((runs / "ema" / "eval_ema.json").read_text())
    summary = json.loads((runs / "ema" / "summary.json").read_text())
    assert found["splits"]["test"]["loss"] == pytest.approx(summary["splits_ema"]["test"]["loss"])
    assert found["splits"]["test"]["loss"] != pytest.approx(summary["splits"]["test"]["loss"])


def test_predict_with_ema_uses_the_average(runs, tmp_path, capsys):
    x, y = train.load(runs / "ema").components.dataset.stored_arrays("test")
    np.save(tmp_path / "x.npy", x[:50])
    assert main(["predict", "--workdir", str(runs / "ema"), str(tmp_path / "x.npy"), "-o",
                 str(tmp_path / "p.npy"), "--ema"]) == 0
    expected = train.load(runs / "ema", ema=True).predict(x[:50])
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, rtol=1e-6)
    assert not np.allclose(expected, train.load(runs / "ema").predict(x[:50]))


def test_ensemble_and_hessian_take_ema(runs, tmp_path, capsys):
    assert main(["ensemble", "--workdir", str(runs / "ema"), "--members", "last", "--ema"]) == 0
    assert "1 members" in capsys.readouterr().out
    assert main(["hessian", "--workdir", str(runs / "ema"), "--ema", "--k", "2", "--iters", "6",
                 "--probes", "1", "-o", str(tmp_path / "h.png")]) == 0
    assert (tmp_path / "h.png").exists()


@pytest.mark.parametrize("command", [
    ["eval"], ["predict", "X", "-o", "P"], ["ensemble", "--members", "last"], ["hessian"]])
def test_ema_of_a_run_without_one_is_a_one_line_error(runs, tmp_path, capsys, command):
    if command[0] == "predict":
        np.save(tmp_path / "x.npy", np.zeros((1, 8, 8, 1)))
        command = ["predict", str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.npy")]
    capsys.readouterr()
    assert main([*command, "--workdir", str(runs / "plain"), "--ema"]) == 2
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "Traceback" not in out, out
    assert out.startswith(f"tricks {command[0]}: ") and "without a moving average" in out, out
