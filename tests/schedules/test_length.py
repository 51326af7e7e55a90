"""Schedule lengths left out of a training config are the run's; given ones that differ are warned about."""

import json
import pathlib

import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the components)
from tricks import config as config_lib
from tricks import train
from tricks.schedules import fit_to_run

CONFIGS = sorted((pathlib.Path(__file__).resolve().parents[2] / "experiments" / "configs").glob("*.py"))


def test_left_out_lengths_are_filled_through_wrappers_warmups_and_joins():
    spec, notes = fit_to_run("optimizer", {
        "name": "clip_by_global_norm",
        "optimizer": "sgd(learning_rate=join([linear(0.0, 0.1), cosine(init_value=0.1)], boundaries=[100]), "
                     "momentum=one_cycle_momentum())",
        "max_norm": 1.0}, 1000)
    assert notes == []
    assert str(spec) == ("clip_by_global_norm(optimizer=sgd(learning_rate=join([linear(0.0, 0.1, transition_steps=100), "
                         "cosine(init_value=0.1, decay_steps=900)], boundaries=[100]), "
                         "momentum=one_cycle_momentum(total_steps=1000)), max_norm=1.0)")
    registry.build("optimizer", spec)  # a valid spec
    assert str(fit_to_run("optimizer", "adam(learning_rate=one_cycle(0.4))", 50)[0]) == \
        "adam(learning_rate=one_cycle(0.4, total_steps=50))"


def test_a_standalone_schedule_needs_its_length():
    with pytest.raises(registry.RegistryError, match="decay_steps: the schedule's length is needed.*training config"):
        registry.build("schedule", "cosine(init_value=0.1)")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_no_shipped_config_states_the_runs_length_twice(path):
    cfg = config_lib.load(str(path))
    assert fit_to_run("optimizer", cfg.optimizer, 10**9)[1] == []


def test_a_longer_run_keeps_training_and_a_fixed_length_that_differs_is_named(tmp_path, capsys):
    """Issue 14 item 2: num_steps=600 on the default config trained at rate 0 from step 420 on."""
    cfg = train.default_config()
    cfg.num_steps, cfg.eval_every, cfg.log_every, cfg.progress = 600, 600, 20, False
    cfg.eval_splits = ["test"]
    train.train_and_evaluate(cfg, tmp_path / "filled")
    rates = {r["step"]: r["train/learning_rate"] for r in map(json.loads, (tmp_path / "filled" / "metrics.jsonl")
                                                              .read_text().splitlines()) if "train/learning_rate" in r}
    assert rates[580] > 1e-6 and rates[600] < rates[580] < rates[400]
    assert "warning" not in capsys.readouterr().err
    cfg.optimizer = "adam(learning_rate=cosine(init_value=0.01, decay_steps=400))"
    train.train_and_evaluate(cfg, tmp_path / "fixed")
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: optimizer: cosine(init_value=0.01, decay_steps=400) ends at step 400 of the 600 it "
                   "spans: the value stays at its final one for the last 200 steps"]
    assert np.isclose(train.setup(cfg).num_steps, 600)
