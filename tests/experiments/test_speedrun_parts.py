"""`tools.speedrun_parts` keeps finished runs' records and brings them back, starts no run
that would pass its deadline, and never restores over a finished run."""

import json

from tools import speedrun_parts


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
    monkeypatch.setattr(speedrun_parts.speedrun, "base_config", lambda task, smoke: None)
    assert speedrun_parts.main(["--until", "00:00"]) == 0
    out = capsys.readouterr().out
    assert "recipe, seed 0: not started" in out and out.rstrip().endswith("0 of 34 runs finished")
    assert speedrun_parts.main(["--until", "noon"]) == 2
    assert "expected HH:MM" in capsys.readouterr().out
