"""Fine-tuning from another run's checkpoint: init_from, init_fresh, freezing, bad input."""

import json
import warnings

import ml_collections
import numpy as np
import pytest

from tricks import train
from tricks.optimizers import leaves_by_path
from tricks.config import ConfigError

FIRST = "subset(digits, classes=[0, 1, 2, 3, 4])"
SECOND = "subset(digits, classes=[5, 6, 7, 8, 9], train_per_class=20)"


def quick(**fields):
    cfg = train.default_config()
    cfg.model = "mlp(widths=(32,))"
    cfg.num_steps, cfg.eval_every, cfg.log_every, cfg.progress = 6, 6, 3, False
    cfg.eval_splits = ["test"]
    cfg.batch_size = 50
    for key, value in fields.items():
        cfg[key] = value
    return cfg


def saved_params(workdir):
    """The final parameters of a run, restored from its last checkpoint."""
    run_cfg = train.complete(ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text())))
    run = train.setup(run_cfg)
    ckpts = train.Checkpoints(workdir, read_only=True)
    try:
        _, state, _ = ckpts.restore_latest_valid(run.state)
    finally:
        ckpts.close()
    return {k: np.asarray(v) for k, v in leaves_by_path(state.params).items()}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pretrained")
    train.train_and_evaluate(quick(dataset=FIRST, num_steps=20), workdir)
    return workdir


def test_frozen_body_keeps_pretrained_weights_and_new_head_trains(pretrained, tmp_path, capsys):
    cfg = quick(dataset=SECOND, init_from=str(pretrained), init_fresh=["head"],
                optimizer="freeze(adamw(learning_rate=0.01), patterns=['Dense_0'])")
    summary = train.train_and_evaluate(cfg, tmp_path)
    assert "init_from" in capsys.readouterr().out
    assert summary["init_from"] == {"directory": str(pretrained), "step": 20, "loaded": 2,
                                    "fresh": ["params/head/bias", "params/head/kernel"]}
    before, after = saved_params(pretrained), saved_params(tmp_path)
    np.testing.assert_array_equal(after["Dense_0/kernel"], before["Dense_0/kernel"])
    np.testing.assert_array_equal(after["Dense_0/bias"], before["Dense_0/bias"])
    assert not np.allclose(after["head/kernel"], before["head/kernel"])


def test_discriminative_rates_move_the_body_less(pretrained, tmp_path):
    cfg = quick(dataset=SECOND, init_from=f"{pretrained}:20", init_fresh=["head"],
                optimizer="group_lr(sgd(learning_rate=0.1), multipliers={'Dense_0': 0.01})")
    train.train_and_evaluate(cfg, tmp_path)
    before, after = saved_params(pretrained), saved_params(tmp_path)
    moved = np.abs(after["Dense_0/kernel"] - before["Dense_0/kernel"]).max()
    assert 0 < moved < 0.01


def test_a_resumed_fine_tuning_does_not_reload_the_pretrained_weights(pretrained, tmp_path):
    cfg = quick(dataset=SECOND, init_from=str(pretrained), init_fresh=["head"])
    first = train.train_and_evaluate(cfg, tmp_path)
    again = train.train_and_evaluate(cfg, tmp_path)  # resumes at the last step: nothing left to do
    assert again["init_from"] == first["init_from"]
    assert again["eval"]["accuracy"] == pytest.approx(first["eval"]["accuracy"])


def test_a_head_of_another_shape_is_reported_with_the_hint(tmp_path_factory, tmp_path):
    ten = tmp_path_factory.mktemp("ten")
    train.train_and_evaluate(quick(num_steps=3), ten)
    with pytest.raises(ConfigError) as info:
        train.train_and_evaluate(quick(dataset=SECOND, init_from=str(ten)), tmp_path)
    text = str(info.value)
    assert "params/head/kernel: checkpoint (32, 10), model (32, 5)" in text
    assert "params/head/bias: checkpoint (10,), model (5,)" in text and "init_fresh" in text


def test_another_model_is_reported_path_by_path(pretrained, tmp_path):
    with pytest.raises(ConfigError) as info:
        train.train_and_evaluate(quick(dataset=SECOND, model="mlp(widths=(32, 16))", init_from=str(pretrained),
                                       init_fresh=["head"]), tmp_path)
    text = str(info.value)
    assert "params/Dense_1/kernel: checkpoint absent, model (32, 16)" in text


@pytest.mark.parametrize("source, expected", [
    ("{pre}:7", "no checkpoint at step 7"),
    ("{tmp}/nowhere", "holds no checkpoints"),
])
def test_a_missing_checkpoint_is_a_clear_error(pretrained, tmp_path, source, expected):
    source = source.format(pre=pretrained, tmp=tmp_path)
    with pytest.raises(ConfigError, match=expected) as info:
        train.train_and_evaluate(quick(dataset=SECOND, init_from=source, init_fresh=["head"]), tmp_path / "run")
    if "step 7" in expected:
        assert "steps: 20" in str(info.value)


def test_an_init_fresh_pattern_that_matches_nothing_is_an_error(pretrained, tmp_path):
    with pytest.raises(ConfigError, match="'haed' matches no path"):
        train.train_and_evaluate(quick(dataset=SECOND, init_from=str(pretrained), init_fresh=["haed"]), tmp_path)


def test_finetune_experiment_smoke(tmp_path, capsys):
    from experiments import finetune

    rows = finetune.main(["--smoke", "--workdir", str(tmp_path)])
    assert [(r["labels_per_class"], r["arm"]) for r in rows] == [
        ("pretrained", "source classes"), (5, "scratch"), (5, "frozen body + new head"),
        (5, "frozen body + new head (rate x10)"), (5, "fine-tune all (one rate)"), (5, "discriminative rates")]
    assert all(0 <= r["accuracy_mean"] <= 100 and r["seeds"] == 1 for r in rows)
    assert "literature: Yosinski" in capsys.readouterr().out
    frozen = json.loads((tmp_path / "smoke" / "seed0" / "k5_frozen_body_new_head" / "summary.json").read_text())
    assert frozen["init_from"]["fresh"] == ["params/head/bias", "params/head/kernel"]
    assert "init_from" not in json.loads((tmp_path / "smoke" / "seed0" / "k5_scratch" / "summary.json").read_text())


def test_init_from_a_schedule_free_run_loads_x_where_it_was_evaluated(pretrained, tmp_path):
    from tricks.train._pretrained import load_pretrained

    source = tmp_path / "schedule_free"
    train.train_and_evaluate(quick(dataset=FIRST, optimizer="schedule_free_adamw(learning_rate=0.01)"), source)
    fresh = train.setup(quick(dataset=FIRST))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*schedule-free.*")
        state, report = load_pretrained(fresh.state, fresh.components.optimizer, str(source))
        _, plain = load_pretrained(fresh.state, fresh.components.optimizer, str(pretrained))
    assert report.schedule_free and "at x" in str(report) and not plain.schedule_free
    x = leaves_by_path(train.load(source).params)  # what its evaluation used
    y = saved_params(source)
    loaded = leaves_by_path(state.params)
    for path, value in loaded.items():
        np.testing.assert_allclose(value, x[path], rtol=1e-6, atol=1e-7)
        assert not np.allclose(value, y[path])
    summary = train.train_and_evaluate(quick(dataset=FIRST, num_steps=1, init_from=str(source)), tmp_path / "from_sf")
    assert summary["init_from"]["loaded"] == len(loaded)

def test_init_from_ema_loads_the_sources_moving_average(pretrained, tmp_path, capsys):
    source = tmp_path / "averaged"
    train.train_and_evaluate(quick(dataset=FIRST, ema_decay=0.9), source)
    average = leaves_by_path(train.load(source, ema=True).params)
    weights = saved_params(source)
    fresh = train.setup(quick(dataset=SECOND))
    state, report = train.load_pretrained(fresh.state, fresh.components.optimizer, str(source), ["head"], ema=True)
    assert report.ema and "moving average" in str(report)
    for path, value in leaves_by_path(state.params).items():
        if not path.startswith("head"):
            np.testing.assert_array_equal(value, average[path])
            assert not np.allclose(value, weights[path])
    summary = train.train_and_evaluate(quick(dataset=SECOND, num_steps=1, init_from=str(source), init_fresh=["head"],
                                             init_from_ema=True), tmp_path / "from_average")
    assert summary["init_from"]["loaded"] == 2 and "moving average" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="kept no moving average"):  # a source without one
        train.train_and_evaluate(quick(dataset=FIRST, init_from=str(pretrained), init_from_ema=True), tmp_path / "x")
    with pytest.raises(ConfigError, match="init_from names no run"):
        train.complete(quick(init_from_ema=True))
