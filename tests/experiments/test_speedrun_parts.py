"""`tools.speedrun_parts` keeps finished runs' records and brings them back, starts no run
that would pass its deadline, and never restores over a finished run."""

import json
import pathlib
import shutil
import subprocess

import pytest

from experiments import Options, speedrun
from experiments._study import run_folder
from tools import speedrun_parts

ROOT = pathlib.Path(__file__).resolve().parents[2]


def fill(folder, accuracy):
    folder.mkdir(parents=True)
    for name in speedrun_parts.FILES:
        (folder / name).write_text(json.dumps({"accuracy": accuracy}))


def test_restore_copies_kept_runs_the_workdir_lacks(tmp_path):
    kept, root = tmp_path / "kept", tmp_path / "root"
    fill(kept / "a", 0.9)
    fill(kept / "b", 0.8)
    fill(root / "b", 0.7)  # finished here: left as it is
    (root / "c").mkdir()
    (root / "c" / "metrics.jsonl").write_text("{}")  # unfinished, and kept elsewhere: replaced
    fill(kept / "c", 0.6)
    assert speedrun_parts.restore(kept, root) == 2
    assert json.loads((root / "a" / "summary.json").read_text()) == {"accuracy": 0.9}
    assert json.loads((root / "b" / "summary.json").read_text()) == {"accuracy": 0.7}
    assert json.loads((root / "c" / "metrics.jsonl").read_text()) == {"accuracy": 0.6}
    assert speedrun_parts.restore(tmp_path / "nothing kept", root) == 0


def test_keep_copies_only_the_records(tmp_path):
    root, kept = tmp_path / "root", tmp_path / "kept"
    fill(root / "run", 0.9)
    (root / "run" / "checkpoints").mkdir()
    speedrun_parts.keep(root, "run", kept)
    assert sorted(p.name for p in (kept / "run").iterdir()) == sorted(speedrun_parts.FILES)


def test_a_passed_deadline_starts_no_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(speedrun_parts, "train_arms", lambda *args, **kwargs: 1 / 0)
    assert speedrun_parts.main(["--until", "00:00"]) == 0
    out = capsys.readouterr().out
    assert "recipe, seed 0: not started" in out and out.rstrip().endswith("0 of 34 runs finished")
    assert speedrun_parts.main(["--until", "noon"]) == 2
    assert "expected HH:MM" in capsys.readouterr().out


def test_calibrate_compares_the_baseline_with_its_kept_run_and_logs_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    class Found:
        def wall_times(self):
            return [190.0]

        def final(self):
            return [0.9173]

    trained = []
    monkeypatch.setattr(speedrun_parts, "train_arms",
                        lambda base, arms, seeds, root, vectorize: trained.append((list(arms), seeds, root))
                        or {"baseline": Found()})
    task, root = speedrun.TASKS["fashion_mnist"], tmp_path / "root"
    assert "no kept run" in speedrun_parts.calibrate(task, None, root)
    assert trained[0][:2] == (["baseline"], [0]) and trained[0][2] != root  # a scratch folder, never the study's
    run = root / run_folder([*task.arms()["baseline"], "seed=0"])
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"wall_time_s": 176.0, "splits": {"test": {"accuracy": 0.9173}}}))
    (tmp_path / speedrun_parts.KEPT).mkdir(parents=True)
    said = speedrun_parts.calibrate(task, None, root)
    assert "190.0 s against 176.0 s kept (1.080x); the same test accuracy" in said
    logged = json.loads((tmp_path / speedrun_parts.KEPT / "calibration.jsonl").read_text())
    assert (logged["wall_time_s"], logged["kept_test_accuracy"]) == (190.0, 0.9173)


def test_the_kept_runs_are_finished_runs_of_the_study_as_it_stands():
    """A change to Fashion-MNIST's recipe, arms or shipped config makes the kept records
    another study's: the experiment would train those runs again, and this says so first."""
    task = speedrun.TASKS["fashion_mnist"]
    base = speedrun.base_config(task, smoke=False)
    wanted = {run_folder([*overrides, f"seed={seed}"]): [*overrides, f"seed={seed}"]
              for _, overrides, seed in speedrun_parts.plan(task, Options(mode="full"))}
    kept = sorted((ROOT / speedrun_parts.KEPT / "fashion_mnist").iterdir())
    assert kept
    for folder in kept:
        assert folder.name in wanted, f"{folder.name}: no run of the study"
        assert speedrun_parts.finished(base, wanted[folder.name], folder), f"{folder.name}: another config"


def test_the_kept_runs_are_not_ignored_by_git():
    """Session 18 kept 13 runs under a folder named ``runs``, which .gitignore's ``runs/``
    ignored: they never reached the repository."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    path = speedrun_parts.KEPT / "fashion_mnist" / "some run" / "summary.json"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, check=False)
    assert ignored.returncode == 1, f"{path} is ignored by git"
