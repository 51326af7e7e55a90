"""'tricks ensemble' and 'tricks sweep' from the command line."""

import json
import re
import shutil

import pytest

from tools.cli import main
from tricks import ensembles
from tricks.config import ConfigError


def test_sweep_writes_its_runs_ranked_by_validation_accuracy(sweep_root):
    root, printed = sweep_root
    result = json.loads((root / "sweep.json").read_text())
    assert [run["name"] for run in result["runs"]] == ["00_seed=0", "01_seed=1"]
    assert [run["overrides"] for run in result["runs"]] == [["seed=0"], ["seed=1"]]
    accuracy = {run["name"]: run["validation"]["accuracy"] for run in result["runs"]}
    assert result["ranking"] == sorted(accuracy, key=lambda name: -accuracy[name])
    assert all(run["test"]["accuracy"] > 0 and run["step"] == 30 for run in result["runs"])
    table = printed[printed.index("rank") :]
    lines = table.splitlines()
    assert lines[1].split()[:2] == ["1", result["ranking"][0]]
    assert lines[2].split()[:2] == ["2", result["ranking"][1]]
    assert json.loads((root / "00_seed=0" / "config.json").read_text())["seed"] == 0
    assert json.loads((root / "01_seed=1" / "config.json").read_text())["seed"] == 1


def _run(name: str, accuracy: float, loss: float) -> dict:
    return {"name": name, "validation": {"accuracy": accuracy, "loss": loss}, "test": {"accuracy": 0.5},
            "wall_time_s": 3.0}


def test_sweep_breaks_accuracy_ties_by_validation_nll(sweep_root, tmp_path):
    runs = [_run("00_seed=0", 0.9, 0.40), _run("01_seed=1", 0.9, 0.25), _run("02_seed=2", 0.95, 0.5)]
    assert [run["name"] for run in ensembles.ranked(runs)] == ["02_seed=2", "01_seed=1", "00_seed=0"]
    lines = ensembles.sweep_table({"runs": runs}).splitlines()
    assert [line.split()[:2] for line in lines[1:]] == [
        ["1", "02_seed=2"],
        ["2", "01_seed=1"],
        ["3", "00_seed=0"],
    ]
    # best:K ranks the same way: of two runs tied on accuracy, the one of lower NLL.
    root, _ = sweep_root
    copies = []
    for name, loss in (("a", 0.4), ("b", 0.25)):
        copy = tmp_path / name
        shutil.copytree(root / "00_seed=0", copy)
        summary = json.loads((copy / "summary.json").read_text())
        summary["splits"]["validation"].update(accuracy=0.9, loss=loss)
        (copy / "summary.json").write_text(json.dumps(summary))
        copies.append(copy)
    assert [m.workdir for m in ensembles.load_members(copies, "best:1")] == [copies[1]]


def test_sweep_table_follows_the_longest_run_name():
    long = "03_optimizer=adamw(learning_rate=0.003,weight_decay=0.0001),model=mlp_widths=_512,512__,seed=2"
    unvalidated = {**_run("02_x", 0.7, 0.3), "validation": None}
    runs = [_run("00_seed=0", 0.9, 0.3), _run(long, 0.8, 12.5), unvalidated]
    lines = ensembles.sweep_table({"runs": runs}).splitlines()
    spans = [[m.span() for m in re.finditer(r"\S+(?: \S+)*", line)] for line in lines]
    assert [len(s) for s in spans] == [6, 6, 6, 6]
    for column in (0, 2, 3, 4, 5):  # numbers flush right: their cells end together
        assert len({s[column][1] for s in spans}) == 1, "\n".join(lines)
    assert len({s[1][0] for s in spans}) == 1  # run names flush left


def test_sweep_again_reuses_finished_runs(sweep_root, capsys):
    root, _ = sweep_root
    before = (root / "sweep.json").read_text()
    config = root.parent / "config.json"
    assert main(["sweep", "--config", str(config), "--workdir", str(root), "--grid", "seed=[0,1]"]) == 0
    out = capsys.readouterr().out
    assert out.count("finished before, summary reused") == 2
    after = json.loads((root / "sweep.json").read_text())
    assert after["ranking"] == json.loads(before)["ranking"]


def test_ensemble_command_prints_and_writes_ensemble_json(snapshot_run, capsys):
    assert (
        main(
            ["ensemble", "--workdir", str(snapshot_run), "--members", "cycle_ends", "--combine", "mean_prob"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "5 members (cycle_ends)" in out and "ensemble (mean_prob)" in out
    assert "best single (by validation accuracy): 00_seed=0@" in out
    written = json.loads((snapshot_run / "ensemble.json").read_text())
    assert written["best_member"]["chosen_on"] == "validation"
    assert [m["name"] for m in written["members"]] == [f"00_seed=0@{s}" for s in (6, 12, 18, 24, 30)]
    assert set(written["ensemble"]) == {"accuracy", "nll", "ece"}
    assert set(written["members"][0]) >= {"name", "step", "accuracy", "nll", "ece"}


def test_ensemble_command_defaults_to_last_for_several_runs(sweep_root, capsys):
    root, _ = sweep_root
    runs = [str(root / "00_seed=0"), str(root / "01_seed=1")]
    assert (
        main(
            [
                "ensemble",
                "--workdir",
                runs[0],
                "--workdir",
                runs[1],
                "--combine",
                "fused",
                "--strategy",
                "loop",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "2 members (last); evaluated with loop" in out and "weights: " in out
    written = json.loads((root / "00_seed=0" / "ensemble.json").read_text())
    assert len(written["weights"]) == 2 and written["combine"] == "fused"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--members", "cycle_ends:9"], "fewer than the 9 asked for"),
        (["--members", "best"], "unknown member selection 'best'"),
        (["--combine", "median"], "unknown"),
        (["--split", "train2"], "no (non-empty) split 'train2'"),
    ],
)
def test_ensemble_command_bad_input(snapshot_run, capsys, argv, message):
    assert main(["ensemble", "--workdir", str(snapshot_run), *argv]) == 2
    assert message in capsys.readouterr().out


def test_ensemble_command_on_a_folder_without_a_run(tmp_path, capsys):
    assert main(["ensemble", "--workdir", str(tmp_path)]) == 2
    assert "holds no run (no config.json) and no sweep" in capsys.readouterr().out


def test_sweep_command_bad_input(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"num_steps": 2}))
    assert main(["sweep", "--config", str(config), "--workdir", str(tmp_path / "s")]) == 2
    assert "give --grid" in capsys.readouterr().out
    assert (
        main(["sweep", "--config", str(config), "--workdir", str(tmp_path / "s"), "--grid", "sede=[0,1]"])
        == 2
    )
    assert "unknown key 'sede'" in capsys.readouterr().out
    assert main(["sweep", "--config", str(config), "--workdir", str(tmp_path / "s"), "--grid", "seed"]) == 2
    assert "must look like key=[value1, value2, ...]" in capsys.readouterr().out
    assert not (tmp_path / "s" / "sweep.json").exists()


def test_overrides_file_and_grid_combine(tmp_path):
    path = tmp_path / "runs.json"
    path.write_text(
        json.dumps([{"model": "mlp(widths=(8,))"}, ["model=cnn(channels=(4,))", "batch_size=64"]])
    )
    runs = [a + b for a in ensembles.read_overrides(path) for b in ensembles.grid(["seed=[0, 1]"])]
    assert runs == [
        ["model=mlp(widths=(8,))", "seed=0"],
        ["model=mlp(widths=(8,))", "seed=1"],
        ["model=cnn(channels=(4,))", "batch_size=64", "seed=0"],
        ["model=cnn(channels=(4,))", "batch_size=64", "seed=1"],
    ]
    path.write_text(json.dumps({"seed": 1}))
    with pytest.raises(ConfigError, match="expected a non-empty list of runs"):
        ensembles.read_overrides(path)
    path.write_text(json.dumps([3]))
    with pytest.raises(ConfigError, match="run 0 must be a mapping"):
        ensembles.read_overrides(path)
