"""Every registered experiment runs in its smoke mode and saves its table, result and curves;
`tricks experiments` lists and runs them."""

import json

import pytest

import experiments
from tools.cli import main


@pytest.fixture(autouse=True)
def measurements(tmp_path_factory, monkeypatch):
    """Side-by-side measurements kept out of the home folder."""
    monkeypatch.setenv("TRICKS_CACHE", str(tmp_path_factory.getbasetemp() / "side_by_side_cache"))


@pytest.mark.parametrize("name", list(experiments.experiments()))
def test_each_experiment_runs_in_smoke_mode_and_saves_its_result(name, tmp_path):
    experiment = experiments.find(name)
    assert experiment.claim and experiment.source
    options = experiments.Options(mode="smoke", workdir=tmp_path / "runs")
    result = experiment.run(options)
    assert result.verdict in experiments.VERDICTS
    assert result.rows and all(len(row) == len(result.columns) for row in result.rows)
    assert result.reading and result.published
    folder = experiments.save(experiment, options, result, 1.0, tmp_path / "out")
    saved = json.loads((folder / "result.json").read_text())
    assert saved["verdict"] == result.verdict and saved["mode"] == "smoke" and saved["machine"]
    assert "| " + result.columns[0] in (folder / "table.md").read_text()
    assert (folder / "curves.png").is_file() == bool(result.curves)
    assert saved["plots"] == [f"{stem}.png" for stem in result.plots]
    assert all((folder / f"{stem}.png").is_file() for stem in result.plots)
    again = experiment.run(options)  # finished runs are reused: the same numbers
    assert again.rows == result.rows


def test_the_cli_lists_and_runs_experiments(tmp_path, capsys):
    assert main(["experiments", "list"]) == 0
    out = capsys.readouterr().out
    for name in experiments.experiments():
        assert name in out
    assert main(["experiments", "run", "warmpu"]) == 2
    assert "no experiment named 'warmpu' (did you mean 'warmup'?)" in capsys.readouterr().out
    assert main(["experiments", "run", "warmup", "--seeds", "-1"]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().out
    assert main(["experiments"]) == 2
    code = main(["experiments", "run", "warmup", "--smoke", "--workdir", str(tmp_path / "w"),
                 "--out", str(tmp_path / "out")])
    assert code == 0
    assert "**Verdict:" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "warmup" / "result.json").read_text())["mode"] == "smoke"


def test_a_verdict_outside_the_list_is_refused(tmp_path):
    experiment = experiments.find("warmup")
    result = experiments.Result(columns=["a"], rows=[["1"]], verdict="sort of", reading="r", published="p")
    with pytest.raises(ValueError, match="verdict 'sort of' is not one of"):
        experiments.save(experiment, experiments.Options(mode="smoke"), result, 1.0, tmp_path)
    assert not (tmp_path / "warmup" / "result.json").exists()


def test_a_grown_grid_reuses_the_runs_it_trained_before(tmp_path):
    """Runs are named by their overrides, not their place in the grid: an arm added in
    front of the others leaves their folders, and their finished runs, as they were."""
    from tricks import train
    from tricks.config import ConfigError
    from tricks import ensembles

    base = train.default_config()
    base.num_steps, base.num_epochs, base.eval_every, base.progress = 4, 0, 4, False
    first = experiments.train_arms(base, {"0.01": ["optimizer.learning_rate=0.01"]}, [0], tmp_path)
    grown = experiments.train_arms(base, {"0.003": ["optimizer.learning_rate=0.003"],
                                          "0.01": ["optimizer.learning_rate=0.01"]}, [0], tmp_path)
    assert grown["0.01"].reused == [True] and grown["0.003"].reused == [False]
    assert grown["0.01"].workdirs == first["0.01"].workdirs
    assert grown["0.01"].final() == first["0.01"].final()
    with pytest.raises(ConfigError, match="one distinct folder name per run: 2 runs, 2 names, 1 distinct"):
        ensembles.sweep(base, tmp_path / "named", [["seed=0"], ["seed=1"]], names=["a", "a"])
