"""Members from checkpoints: snapshots, last checkpoints, a sweep's best runs; bad input."""

import json
import shutil

import numpy as np
import pytest

from tricks import ensembles


def test_cycle_ends_are_the_runs_snapshots(snapshot_run):
    members = ensembles.load_members([snapshot_run], "cycle_ends")
    assert [m.step for m in members] == [6, 12, 18, 24, 30]
    assert [m.name for m in members][:2] == ["00_seed=0@6", "00_seed=0@12"]
    assert members.dataset.name == "tricks_digits" or "digits" in members.dataset.name
    kernels = [np.asarray(m.variables["params"]["Dense_0"]["kernel"]) for m in members]
    assert not np.allclose(kernels[0], kernels[-1])
    assert [m.step for m in ensembles.load_members([snapshot_run], "cycle_ends:2")] == [24, 30]


def test_last_takes_each_runs_newest_checkpoint(sweep_root):
    root, _ = sweep_root
    members = ensembles.load_members([root / "00_seed=0", root / "01_seed=1"], "last")
    assert [m.name for m in members] == ["00_seed=0@30", "01_seed=1@30"]
    assert members[0].architecture == members[1].architecture
    # A sweep's root stands for its runs.
    assert [m.name for m in ensembles.load_members([root], "last")] == ["00_seed=0@30", "01_seed=1@30"]


def test_best_k_ranks_runs_by_validation_accuracy(sweep_root):
    root, _ = sweep_root
    accuracy = {run: ensembles.validation_accuracy(root / run) for run in ("00_seed=0", "01_seed=1")}
    best = max(accuracy, key=accuracy.get)
    assert accuracy["00_seed=0"] != accuracy["01_seed=1"], "the test needs two different accuracies"
    members = ensembles.load_members([root], "best:1")
    assert [m.name for m in members] == [f"{best}@30"]
    assert members[0].workdir == root / best
    with pytest.raises(
        ensembles.EnsembleError, match="best:3 needs 3 runs with a validation accuracy, found 2"
    ):
        ensembles.load_members([root], "best:3")


def test_fewer_snapshots_than_asked_for(snapshot_run, tmp_path):
    with pytest.raises(
        ensembles.EnsembleError,
        match=r"has 5 snapshots \(steps \[6, 12, 18, 24, 30\]\), fewer than "
        r"the 9 asked for",
    ):
        ensembles.load_members([snapshot_run], "cycle_ends:9")
    partial = tmp_path / "partial"
    shutil.copytree(snapshot_run, partial)
    shutil.rmtree(partial / "checkpoints" / "12")
    with pytest.raises(
        ensembles.EnsembleError,
        match=r"has 4 snapshots .* fewer than the 5 its config asks for "
        r"\(steps \[6, 12, 18, 24, 30\]; missing \[12\]\)",
    ):
        ensembles.load_members([partial], "cycle_ends")


def test_a_run_without_snapshots(snapshot_run, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(snapshot_run, plain)
    config = json.loads((plain / "config.json").read_text())
    config["snapshots"] = ""
    (plain / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ensembles.EnsembleError, match="takes no snapshots: train with snapshots='cycle_ends'"
    ):
        ensembles.load_members([plain], "cycle_ends")


def test_a_workdir_without_checkpoint_or_run(snapshot_run, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(snapshot_run / "config.json", empty / "config.json")
    with pytest.raises(ensembles.EnsembleError, match="has no finished checkpoint; train it first"):
        ensembles.load_members([empty], "last")
    with pytest.raises(ensembles.EnsembleError, match="holds no run"):
        ensembles.load_members([tmp_path], "last")
    with pytest.raises(ensembles.EnsembleError, match="does not exist"):
        ensembles.load_members([tmp_path / "nowhere"], "last")


def test_members_must_share_a_dataset(snapshot_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(snapshot_run, other)
    config = json.loads((other / "config.json").read_text())
    config["dataset"] = "digits(validation_fraction=0.2)"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ensembles.EnsembleError, match="members must share a dataset"):
        ensembles.load_members([snapshot_run, other], "last")


@pytest.mark.parametrize("selection", ["first", "best", "best:0", "cycle_ends:x", "last:2"])
def test_unknown_selections(selection):
    with pytest.raises(ensembles.EnsembleError, match="unknown member selection"):
        ensembles.parse_selection(selection)
