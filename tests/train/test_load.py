"""From a workdir to predictions: `tricks.train.load` and `tricks predict` apply the run's own preprocessing."""

import numpy as np
import pytest

from tools.cli import main
from tricks import train


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    cfg = train.default_config()
    cfg.num_steps, cfg.eval_every, cfg.progress, cfg.eval_splits = 40, 40, False, ["test"]
    cfg.augment = ["normalize(mean=0.3, std=0.4)"]  # preprocessing a prediction must repeat
    path = tmp_path_factory.mktemp("run")
    train.train_and_evaluate(cfg, path)
    return path


def test_predictions_and_evaluation_are_the_runs_own(workdir):
    run = train.load(workdir)
    x, y = run.components.dataset.stored_arrays("test")
    expected = train.evaluate_workdir(workdir)["splits"]["test"]
    found = run.evaluate(x, y)
    assert found["examples"] == expected["examples"] == 360
    assert found["accuracy"] == pytest.approx(expected["accuracy"]) and found["loss"] == pytest.approx(expected["loss"])
    probs = run.predict(x, batch_size=100)
    assert probs.shape == (360, 10) and np.allclose(probs.sum(-1), 1, atol=1e-5)
    assert np.mean(probs.argmax(-1) == y) == pytest.approx(expected["accuracy"])
    nll = -np.mean(np.log(probs[np.arange(360), y]))
    assert nll == pytest.approx(expected["loss"], rel=1e-4)
    np.testing.assert_allclose(run.predict(x[7]), probs[7], rtol=1e-5)  # one example
    assert run.step == 40 and run.config.num_steps == 40 and run.params is run.state.params
    assert run.model.apply(run.variables, np.zeros((1, 8, 8, 1), np.float32), train=False).shape == (1, 10)


def test_bad_inputs_and_labels_say_what_is_expected(workdir):
    run = train.load(workdir)
    with pytest.raises(ValueError, match=r"inputs must have shape \(8, 8, 1\) .* got \(3, 8, 8\)"):
        run.predict(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match=r"labels must be 2 integers in \[0, 10\)"):
        run.evaluate(np.zeros((2, 8, 8, 1)), np.array([0, 10]))
    with pytest.raises(FileNotFoundError, match="no checkpoint at step 3"):
        train.load(workdir, step=3)


def test_predict_command(workdir, tmp_path, capsys):
    run = train.load(workdir)
    x, y = run.components.dataset.stored_arrays("test")
    np.save(tmp_path / "x.npy", x[:20])
    np.save(tmp_path / "y.npy", y[:20])
    out = tmp_path / "out" / "p.npy"
    assert main(["predict", "--workdir", str(workdir), str(tmp_path / "x.npy"), "-o", str(out),
                 "--labels", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_allclose(np.load(out), run.predict(x[:20]), rtol=1e-5)
    printed = capsys.readouterr().out
    assert "class probabilities (20, 10) from step 40" in printed and "examples 20" in printed
    np.save(tmp_path / "bad.npy", x[:2, :4])
    assert main(["predict", "--workdir", str(workdir), str(tmp_path / "bad.npy"), "-o", str(out)]) == 2
    assert capsys.readouterr().out.startswith("tricks predict: inputs must have shape")
    assert main(["predict", "--workdir", str(workdir), str(tmp_path / "missing.npy"), "-o", str(out)]) == 2
    assert "no such file" in capsys.readouterr().out
