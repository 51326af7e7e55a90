"""The moving average of the weights (``ema_decay``): its update against a NumPy
transcription, its evaluation records, loading, resume, populations and devices."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest

from tricks import train
from tricks.config import ConfigError
from tricks.train._ema import EmaTrainState, ema_decay_at

ROOT = pathlib.Path(__file__).parents[2]


def _config(**fields) -> ml_collections.ConfigDict:
    cfg = train.default_config()
    cfg.model = "mlp(widths=(32,), batch_norm=True)"  # statistics too, averaged as timm's
    cfg.optimizer = "momentum(learning_rate=0.05, momentum=0.9)"
    cfg.num_steps, cfg.eval_every, cfg.log_every, cfg.checkpoint_every, cfg.progress = 40, 20, 10, 20, False
    cfg.ema_decay, cfg.ema_warmup = 0.9, True
    for key, value in fields.items():
        cfg[key] = value
    return cfg


def _records(workdir: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ema")
    return workdir, train.train_and_evaluate(_config(), workdir)


@pytest.mark.parametrize("warmup", [False, True])
def test_the_average_follows_a_numpy_transcription(warmup):
    """ema_t = d_t ema_{t-1} + (1 - d_t) θ_t from θ_0, d_t = min(d, (1 + t)/(10 + t)) with
    warmup (TensorFlow's num_updates form, t counting the updates before), over parameters
    and batch statistics."""
    cfg = _config(ema_decay=0.8, ema_warmup=warmup)
    run = train.setup(cfg)
    state = run.state
    assert isinstance(state, EmaTrainState)
    host = lambda s: jax.device_get((s.params, s.batch_stats))  # noqa: E731
    expected = host(state)
    for t in range(6):
        state, _ = run.train_step(state, run.loader.batch(t))
        d = min(0.8, (1 + t) / (10 + t)) if warmup else 0.8
        expected = jax.tree.map(lambda e, x: d * e + (1 - d) * x, expected, host(state))  # noqa: B023
    got = jax.device_get((state.ema["params"], state.ema["batch_stats"]))
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(jax.tree.leaves(got)[0], jax.tree.leaves(host(state))[0])  # an average, not θ


def test_decay_warmup_is_tensorflows_form():
    assert [float(ema_decay_at(0.99, True, np.int32(t))) for t in (0, 10, 10**6)] == pytest.approx(
        [0.1, 11 / 20, 0.99])
    assert float(ema_decay_at(0.99, False, np.int32(0))) == pytest.approx(0.99)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, "0.9", True, float("nan")])
def test_a_bad_decay_is_a_config_error_naming_the_field(bad):
    with pytest.raises(ConfigError, match="ema_decay"):
        train.complete(ml_collections.ConfigDict({"ema_decay": bad}))


def test_without_ema_the_state_is_todays():
    run = train.setup(_config(ema_decay=0.0))
    assert type(run.state) is train.TrainState


def test_evaluation_reports_both_and_load_gives_the_average(ema_run):
    workdir, summary = ema_run
    evals = [r for r in _records(workdir) if any(k.startswith("eval") for k in r)]
    assert [r["step"] for r in evals] == [20, 40]
    for record in evals:
        for prefix in ("eval", "eval_ema"):
            assert {f"{prefix}/{s}/{m}" for s in ("validation", "test") for m in ("loss", "accuracy")} <= set(record)
    assert summary["splits_ema"]["test"]["accuracy"] == evals[-1]["eval_ema/test/accuracy"]
    assert summary["eval_ema"] == summary["splits_ema"]["test"]
    saved = json.loads((workdir / "summary.json").read_text())
    assert saved["eval_ema"] == pytest.approx(summary["eval_ema"])
    averaged, plain = train.load(workdir, ema=True), train.load(workdir)
    assert averaged.evaluate_splits()["test"]["loss"] == pytest.approx(summary["splits_ema"]["test"]["loss"])
    assert plain.evaluate_splits()["test"]["loss"] == pytest.approx(summary["splits"]["test"]["loss"])
    assert summary["splits_ema"]["test"]["loss"] != summary["splits"]["test"]["loss"]
    raw, _ = train.Checkpoints(workdir, read_only=True).restore(40, train.setup(_config()).state)
    for a, b in zip(jax.tree.leaves(averaged.variables), jax.tree.leaves(raw.ema), strict=True):
        np.testing.assert_array_equal(a, b)
    assert train.evaluate_workdir(workdir, ema=True)["splits"]["test"]["loss"] == pytest.approx(
        summary["splits_ema"]["test"]["loss"])


def test_load_with_ema_of_a_run_without_one_says_so(tmp_path):
    train.train_and_evaluate(_config(ema_decay=0.0, num_steps=10, eval_every=10), tmp_path)
    with pytest.raises(ValueError, match="without a moving average"):
        train.load(tmp_path, ema=True)


class _Stop(Exception):
    pass


def test_resume_keeps_the_average_exactly(ema_run, tmp_path):
    """Killed after its checkpoint at step 20 and resumed: the same two weight sets at 40."""
    whole, _ = ema_run

    def stop(step, state):
        if step == 40:
            raise _Stop

    with pytest.raises(_Stop):
        train.train_and_evaluate(_config(), tmp_path, on_call=stop)
    train.train_and_evaluate(_config(), tmp_path)
    target = train.setup(_config()).state
    a, _ = train.Checkpoints(whole, read_only=True).restore(40, target)
    b, _ = train.Checkpoints(tmp_path, read_only=True).restore(40, target)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    without_time = lambda records: [{k: v for k, v in r.items() if k != "wall_time_s"} for r in records]  # noqa: E731
    assert without_time(_records(tmp_path)) == without_time(_records(whole))


def test_population_members_differing_in_decay_are_not_grouped(tmp_path):
    configs = [_config(num_steps=10, eval_every=10), _config(num_steps=10, eval_every=10, ema_decay=0.5)]
    with pytest.raises(train.NotVectorizable) as info:
        train.train_population(configs, [tmp_path / "a", tmp_path / "b"])
    assert info.value.fields == ["ema_decay"]


def test_population_members_with_ema_train_as_single_runs(vmapped, tmp_path):
    configs = [_config(num_steps=20, eval_every=20, seed=seed) for seed in (0, 1)]
    summaries = train.train_population(configs, [tmp_path / "p0", tmp_path / "p1"])
    for seed, summary in zip((0, 1), summaries, strict=True):
        single = train.train_and_evaluate(configs[seed], tmp_path / f"s{seed}")
        assert "population" in summary
        for split in ("validation", "test"):
            for key in ("loss", "accuracy"):
                assert summary["splits_ema"][split][key] == pytest.approx(single["splits_ema"][split][key],
                                                                           rel=1e-4, abs=1e-5)


_WORKER = """
import sys
from tests.train.test_ema import _config
from tricks import train
cfg = _config(num_steps=20, eval_every=20, checkpoint_every=0, parallel=sys.argv[2])
train.train_and_evaluate(cfg, sys.argv[1])
"""


def _on_devices(workdir: pathlib.Path, devices: int, parallel: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_", "TRICKS_"))}
    session = os.environ.get("XLA_FLAGS", "")
    env.update(XLA_FLAGS=f"{session} --xla_force_host_platform_device_count={devices}".strip(),
               JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", _WORKER, str(workdir), parallel], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def test_pmap_over_two_devices_averages_as_one_device(tmp_path):
    """The average is updated on each device from its replicated parameters, with no
    communication: pmap over two devices gives one device's numbers."""
    _on_devices(tmp_path / "one", 1, "sharded")
    _on_devices(tmp_path / "pmap", 2, "pmap")
    target = train.setup(_config()).state
    a, _ = train.Checkpoints(tmp_path / "one", read_only=True).restore(20, target)
    b, _ = train.Checkpoints(tmp_path / "pmap", read_only=True).restore(20, target)
    for x, y in zip(jax.tree.leaves(a.ema), jax.tree.leaves(b.ema), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)
    last = [_records(tmp_path / name)[-1] for name in ("one", "pmap")]
    assert any(k.startswith("eval_ema/") for k in last[0])
    for key in last[0]:
        if key.startswith("eval"):
            assert last[1][key] == pytest.approx(last[0][key], rel=1e-4, abs=1e-6), key


def test_a_workdir_written_before_the_fields_existed_still_resumes_and_loads(tmp_path):
    cfg = _config(ema_decay=0.0, ema_warmup=False, num_steps=10, eval_every=10)  # as every run was then
    train.train_and_evaluate(cfg, tmp_path)
    path = tmp_path / "config.json"
    old = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in old.items() if k not in ("ema_decay", "ema_warmup")}))
    cfg.num_steps = 20
    with pytest.raises(ConfigError, match="num_steps: 10 -> 20"):  # a real change is still refused ...
        train.train_and_evaluate(cfg, tmp_path)
    cfg.num_steps = 10
    train.train_and_evaluate(cfg, tmp_path)  # ... the fields it lacks are not
    assert type(train.load(tmp_path).state) is train.TrainState


def test_fine_tuning_starts_the_average_from_the_loaded_weights(tmp_path):
    source = _config(ema_decay=0.0, num_steps=10, eval_every=10)
    train.train_and_evaluate(source, tmp_path / "source")
    target = _config(ema_decay=0.5, ema_warmup=False, num_steps=1, eval_every=1, init_from=str(tmp_path / "source"))
    train.train_and_evaluate(target, tmp_path / "target")
    loaded, _ = train.Checkpoints(tmp_path / "source", read_only=True).restore(10, train.setup(source).state)
    after, _ = train.Checkpoints(tmp_path / "target", read_only=True).restore(1, train.setup(target).state)
    start = jax.tree.map(lambda e, p: 2 * np.asarray(e) - np.asarray(p), after.ema["params"], after.params)
    for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(loaded.params), strict=True):  # ema = (θ_0 + θ_1)/2
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
