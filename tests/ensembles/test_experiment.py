"""The snapshot-ensemble experiment runs end to end in smoke mode."""

import json

from experiments import snapshot_ensembles


def test_snapshot_ensembles_smoke(tmp_path, capsys):
    rows = snapshot_ensembles.main(["--smoke", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    arms = [row["arm"] for row in rows]
    assert arms == [
        "single (cosine)",
        "single (sgdr, last snapshot)",
        "snapshot ensemble (2 cycle ends)",
        "SWA of the snapshots",
        "2-seed ensemble (cosine)",
    ]
    assert [row["budget"] for row in rows] == [1, 1, 1, 1, 2]
    assert all(0 <= row["error_mean"] <= 100 and row["seeds"] == 1 for row in rows)
    assert "paper: CIFAR-10 ResNet-110" in out and "snapshot ensemble (2 cycle ends)" in out
    assert json.loads((tmp_path / "results.json").read_text())[0]["dataset"] == "digits"
    # Snapshots were taken at the cycle ends of the sgdr run (warmup 1, then 2 cycles of 5 steps).
    summary = json.loads((tmp_path / "digits" / "seed0" / "sgdr" / "summary.json").read_text())
    assert summary["snapshots"] == [6, 11]


def test_both_arms_train_for_the_same_steps():
    cosine, sgdr, steps = snapshot_ensembles.schedules(0.002, 200, 3376, 5)
    assert steps == 200 + 5 * 635
    assert cosine == "warmup(cosine(init_value=0.002), warmup_steps=200)"  # its length: the run's, filled
    from tricks.schedules import fit_to_run
    assert str(fit_to_run("schedule", cosine, steps)[0]) == \
        "warmup(cosine(init_value=0.002, decay_steps=3175), warmup_steps=200)"
    assert sgdr == "warmup(sgdr(init_value=0.002, t0=635), warmup_steps=200)"
