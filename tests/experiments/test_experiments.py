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
