"""Runs trained side by side (`train_population`): each member as its own run, in its own workdir."""

import dataclasses
import json
import re
import pathlib
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tricks import config as config_lib
from tricks import ensembles
from tricks import train
from tricks.config import ConfigError
from tricks.train import _population

SEEDS = (0, 1, 2, 3)
RATES = (0.003, 0.01)
MEMBERS = [(seed, rate) for rate in RATES for seed in SEEDS]


@pytest.fixture(autouse=True)
def measurements(tmp_path_factory, monkeypatch):
    """The side-by-side measurements of this module kept in a folder of its own."""
    monkeypatch.setenv("TRICKS_CACHE", str(tmp_path_factory.getbasetemp() / "side_by_side_cache"))


def config(seed: int, rate: float = 0.003, **fields):
    cfg = train.default_config()
    cfg.seed, cfg.num_steps, cfg.log_every, cfg.eval_every, cfg.checkpoint_every = seed, 30, 10, 15, 10
    cfg.progress, cfg.histogram_every = False, 20
    cfg.optimizer.learning_rate = f"warmup(cosine(init_value={rate}), warmup_steps=10)"
    for key, value in fields.items():
        cfg[key] = value
    return cfg


def records(workdir: pathlib.Path) -> list[dict]:
    lines = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k != "wall_time_s"} for line in lines]


def final_params(workdir: pathlib.Path, cfg) -> list[np.ndarray]:
    state, _ = train.Checkpoints(workdir, read_only=True).restore(cfg.num_steps, train.setup(cfg).state)
    return [np.asarray(x) for x in jax.tree.leaves((state.params, state.opt_state))]


@pytest.fixture(scope="module")
def separate(tmp_path_factory):
    """Each (seed, rate) trained alone, as `tricks train` does."""
    root = tmp_path_factory.mktemp("separate")
    return {member: train.train_and_evaluate(config(*member), root / str(member)) | {"workdir": root / str(member)}
            for member in MEMBERS}


def assert_records_close(a: list[dict], b: list[dict]) -> None:
    assert [sorted(r) for r in a] == [sorted(r) for r in b]
    for x, y in zip(a, b, strict=True):
        assert x["step"] == y["step"]
        np.testing.assert_allclose([x[k] for k in sorted(x)], [y[k] for k in sorted(y)], rtol=1e-5, atol=1e-6)


def test_members_equal_separate_runs(vmapped, separate, tmp_path, capsys):
    """4 seeds x 2 peak rates of a warmup-cosine schedule, side by side: over these 30 steps
    of the digits MLP the members' records are those of the separate runs to within 1e-5
    relative, and their final parameters to within 5e-5 (measured: records at most 4e-7
    apart, parameters at most 1.2e-5, at the rate 0.01; the batched matrix products sum in
    another order, and over thousands of Adam steps at a high rate that grows as any
    rounding change does: on the MNIST-1D MLP at 0.01, records first differ in the 7th
    digit at step 200)."""
    workdirs = [tmp_path / f"m{i}" for i in range(len(MEMBERS))]
    summaries = train.train_population([config(*member) for member in MEMBERS], workdirs)
    assert "8 members side by side (differing in seed, optimizer.learning_rate.schedule.init_value; vmap)" in \
        capsys.readouterr().out
    for member, workdir, summary in zip(MEMBERS, workdirs, summaries, strict=True):
        alone = separate[member]
        assert_records_close(records(workdir), records(alone["workdir"]))
        for a, b in zip(final_params(workdir, config(*member)), final_params(alone["workdir"], config(*member)),
                        strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=5e-5)
        assert summary["splits"]["test"]["accuracy"] == pytest.approx(alone["splits"]["test"]["accuracy"])
        assert json.loads((workdir / "summary.json").read_text())["step"] == 30
        assert json.loads((workdir / "config.json").read_text()) == json.loads(
            (alone["workdir"] / "config.json").read_text())
        saved = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
        assert saved == sorted(int(p.name) for p in (alone["workdir"] / "checkpoints").iterdir() if p.name.isdigit())
        assert list(workdir.glob("tensorboard/events.out.tfevents.*"))  # TensorBoard, as a single run writes it
    assert len({s["splits"]["test"]["loss"] for s in summaries}) == len(MEMBERS)  # the members differ
    member = train.load(workdirs[1])  # a member's workdir reads as any run's
    assert int(member.state.step) == 30


def test_a_resumed_group_logs_what_an_uninterrupted_one_does(vmapped, tmp_path):
    workdirs = [tmp_path / f"m{seed}" for seed in SEEDS[:2]]
    configs = [config(seed) for seed in SEEDS[:2]]
    train.train_population(configs, workdirs)
    whole = [records(w) for w in workdirs]
    for workdir in workdirs:  # as if killed after step 20's checkpoint
        shutil.rmtree(workdir / "checkpoints" / "30")
        (workdir / "summary.json").unlink()
    train.train_population(configs, workdirs)
    assert [records(w) for w in workdirs] == whole  # bit for bit
    assert (workdirs[0] / "summary.json").exists()


def test_a_diverging_member_stops_alone(vmapped, separate, tmp_path, monkeypatch, capsys):
    """Member 1's loss is made NaN in the steps from step 12 on (the first taking the state
    from 12 to 13): it stops there, reported as a single run reports it, while the others
    train on to the same numbers as alone."""
    setup = _population.setup

    def poisoned(cfg):
        run = setup(cfg)
        key = jax.random.split(jax.random.PRNGKey(1), 3)[2]  # seed 1's state key (`create_state`)

        def step(state, batch):
            bad = jnp.all(state.rng == key) & (state.step >= 12)
            state, outputs = run.train_step.step(state, batch)
            return state, outputs | {"loss": jnp.where(bad, jnp.nan, outputs["loss"])}

        return dataclasses.replace(run, train_step=dataclasses.replace(run.train_step, step=step))

    monkeypatch.setattr(_population, "setup", poisoned)
    workdirs = [tmp_path / f"m{seed}" for seed in SEEDS[:3]]
    summaries = train.train_population([config(seed) for seed in SEEDS[:3]], workdirs)
    assert "non-finite at step 12" in summaries[1]["error"]
    assert "the last good checkpoint is step 10" in summaries[1]["error"]
    assert "non-finite at step 12" in capsys.readouterr().out
    assert not (workdirs[1] / "summary.json").exists()
    assert [r["step"] for r in records(workdirs[1]) if "train/loss" in r] == [10]  # logged up to the failure
    for seed in (0, 2):
        assert_records_close(records(workdirs[seed]), records(separate[seed, RATES[0]]["workdir"]))
        assert summaries[seed]["step"] == 30


def test_label_smoothing_varies_between_members(vmapped, tmp_path):
    smoothing = (0.0, 0.2)
    configs = [config(0, loss=f"cross_entropy(label_smoothing={e})") for e in smoothing]
    train.train_population(configs, [tmp_path / f"m{e}" for e in smoothing])
    for e, cfg in zip(smoothing, configs, strict=True):
        train.train_and_evaluate(cfg, tmp_path / f"s{e}")
        assert_records_close(records(tmp_path / f"m{e}"), records(tmp_path / f"s{e}"))
    assert records(tmp_path / "m0.0") != records(tmp_path / "m0.2")


@pytest.mark.parametrize("fields, other, message", [
    ({"batch_size": 64}, {}, "members differ in batch_size, which cannot differ inside one vectorized group"),
    ({"parallel": "pmap"}, {"parallel": "pmap"}, "vectorized members train with parallel='sharded'"),
    ({"optimizer": "adam(0.01)"}, {"optimizer": "sgd(0.01)"}, "members differ in optimizer beyond numbers"),
    ({"optimizer": "adam(warmup(0.01, warmup_steps=5))"}, {"optimizer": "adam(warmup(0.01, warmup_steps=9))"},
     "members differ in optimizer.learning_rate.warmup_steps, which their factories need as concrete numbers"),
    ({"optimizer": "adamw(0.01, weight_decay=0.0)"}, {"optimizer": "adamw(0.01, weight_decay=0.1)"},
     "member 1's values give its optimizer state another structure"),
    ({"init_from": "/elsewhere"}, {"init_from": "/elsewhere"}, "train runs that start from a checkpoint one by one"),
])
def test_members_that_cannot_train_together_are_refused(vmapped, tmp_path, fields, other, message):
    configs = [config(0, **fields), config(1, **other)]
    with pytest.raises(ConfigError, match=message):
        train.train_population(configs, [tmp_path / "a", tmp_path / "b"])
    assert not (tmp_path / "a").exists()  # nothing written
    with pytest.raises(ConfigError, match="one workdir per config"):
        train.train_population([config(0)], [])


def test_a_vectorized_sweep_groups_runs_by_what_does_not_vectorize(vmapped, tmp_path, capsys):
    base = config(0, num_steps=10, eval_every=10, checkpoint_every=0)
    runs = ensembles.grid(["batch_size=[32,64]", "optimizer.weight_decay=[0.01,0.001]", "seed=[0,1]"])[4:]
    result = ensembles.sweep(base, tmp_path, runs, vectorize=True)
    out = capsys.readouterr().out
    assert "4 runs in 1 group(s)" in out
    assert out.count("training 4 members side by side (differing in seed, optimizer.weight_decay; vmap)") == 1
    assert len(result["runs"]) == 4 and all(run["step"] == 10 for run in result["runs"])
    alone = train.train_and_evaluate(config_lib.apply_overrides(base, runs[3]), tmp_path / "alone")
    assert result["runs"][3]["test"]["accuracy"] == pytest.approx(alone["splits"]["test"]["accuracy"])
    again = ensembles.sweep(base, tmp_path, runs, vectorize=True)  # finished: reused
    assert "finished before, summary reused" in capsys.readouterr().out
    assert again["ranking"] == result["ranking"]


def test_a_vectorized_sweep_splits_a_group_whose_numbers_cannot_be_traced(vmapped, tmp_path, capsys):
    """Runs that differ in a warmup length (concrete) and a rate (traced) train in one group
    per warmup length, its rates and seeds side by side."""
    base = config(0, num_steps=10, eval_every=10, checkpoint_every=0)
    runs = ensembles.grid(["optimizer.learning_rate.warmup_steps=[5,9]",
                           "optimizer.learning_rate.schedule.init_value=[0.003,0.01]", "seed=[0,1]"])
    result = ensembles.sweep(base, tmp_path, runs, vectorize=True)
    out = capsys.readouterr().out
    assert "8 runs in 1 group(s)" in out
    assert "which their factories need as concrete numbers" in out
    assert ("train in 2 groups that agree in optimizer.learning_rate.schedule.decay_steps, "  # (the cosine's decay
            "optimizer.learning_rate.warmup_steps instead") in out  # spans the steps after the warmup)
    assert out.count("training 4 members side by side (differing in seed, "
                     "optimizer.learning_rate.schedule.init_value; vmap)") == 2
    assert sorted(run["step"] for run in result["runs"]) == [10] * 8


def test_more_members_than_memory_holds_are_refused_or_split(vmapped, tmp_path, monkeypatch, capsys):
    """With room for 2 members by `member_bytes`' estimate, 3 are refused, naming how many
    fit, before anything is written; a sweep trains them in groups of 2 instead."""
    each = sum(train.member_bytes(train.setup(config(0))).values())
    monkeypatch.setattr(_population, "free_memory", lambda: int(2.5 * each / _population.MEMORY_HEADROOM))
    with pytest.raises(train.TooManyMembers, match="3 members side by side need about .* at most 2 fit") as info:
        train.train_population([config(seed) for seed in range(3)], [tmp_path / f"m{i}" for i in range(3)])
    assert info.value.fits == 2 and not (tmp_path / "m0").exists()
    base = config(0, num_steps=10, eval_every=10, checkpoint_every=0)
    result = ensembles.sweep(base, tmp_path / "sweep", ensembles.grid(["seed=[0,1,2]"]), vectorize=True)
    out = capsys.readouterr().out
    assert "at most 2 fit; train them in groups of 2: in 2 groups" in out
    assert "training 2 members side by side" in out and "sweep run 02_seed=2" in out
    assert [run["step"] for run in result["runs"]] == [10, 10, 10]


def test_members_spread_over_eight_devices_equal_separate_runs(separate, tmp_path):
    """8 members on 8 simulated devices, one per device, each training on its whole batch:
    the records are those of the runs alone on one device."""
    from tests.train.test_scale import _env

    worker = pathlib.Path(__file__).with_name("population_worker.py")
    env = _env(8, TRICKS_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, str(worker), str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "spread over the 8 devices, 1 per device" in done.stdout
    for seed in SEEDS:
        assert_records_close(records(tmp_path / f"m{seed}"), records(separate[seed, RATES[0]]["workdir"]))


def test_members_train_one_by_one_where_that_is_faster(separate, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_population, "side_by_side", lambda run, members: (None, "measured: faster apart"))
    workdirs = [tmp_path / f"m{seed}" for seed in SEEDS[:2]]
    summaries = train.train_population([config(seed) for seed in SEEDS[:2]], workdirs)
    assert "training 2 members one after another: measured: faster apart" in capsys.readouterr().out
    for seed, workdir, summary in zip(SEEDS[:2], workdirs, summaries, strict=True):
        assert records(workdir) == records(separate[seed, RATES[0]]["workdir"])  # they are single runs
        assert summary["step"] == 30


def test_members_mapped_one_after_another_in_one_program_equal_separate_runs(separate, tmp_path, monkeypatch,
                                                                            capsys):
    """The members' program mapped over them (`jax.lax.map`) instead of vmapped: the same
    numbers, evaluation included."""
    form = "map"
    monkeypatch.setattr(_population, "side_by_side", lambda run, members: (form, "as the test says"))
    workdirs = [tmp_path / f"m{seed}" for seed in SEEDS[:2]]
    summaries = train.train_population([config(seed) for seed in SEEDS[:2]], workdirs)
    assert f"training 2 members side by side (differing in seed; {form})" in capsys.readouterr().out
    for seed, workdir, summary in zip(SEEDS[:2], workdirs, summaries, strict=True):
        alone = separate[seed, RATES[0]]
        assert_records_close(records(workdir), records(alone["workdir"]))
        assert summary["splits"]["test"]["accuracy"] == pytest.approx(alone["splits"]["test"]["accuracy"])


def test_the_choice_is_measured_once_and_cached(tmp_path, monkeypatch):
    from tricks.train import _side_by_side

    monkeypatch.setenv("TRICKS_CACHE", str(tmp_path))
    calls = []
    measure = _side_by_side.measure
    monkeypatch.setattr(_side_by_side, "measure", lambda run, members: calls.append(members) or measure(run, members))
    run = train.setup(config(0))
    first, why = _side_by_side.side_by_side(run, 3)
    assert "measured now" in why and calls == [3]
    again, why = _side_by_side.side_by_side(run, 3)
    assert (again, calls) == (first, [3]) and "cached" in why
    flipped = train.setup(config(0, augment=["random_flip"]))  # another augmentation: the same model's steps
    assert _side_by_side.side_by_side(flipped, 3)[0] == first and calls == [3]
    (tmp_path / "side_by_side.json").write_text("{not json")  # damaged: measured again
    remeasured, why = _side_by_side.side_by_side(run, 3)  # (a loaded CPU may choose otherwise)
    assert remeasured in ("vmap", "map", None) and "measured now" in why and calls == [3, 3]
    assert first in ("vmap", "map", None) and "s vmap," in why and "s one by one (a step:" in why
    assert _side_by_side.side_by_side(run, 1) == ("vmap", "one member")


def test_bench_population_prints_each_way_and_the_choice(capsys):
    from tools.cli import main

    code = main(["bench", "population", "--members", "2", "--configs", "digits", "--steps", "6", "--sequential", "1",
                 "--config.eval_every=3", "--config.model=mlp(widths=(16,))"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"digits\s+6\s+\d+\.\d\s+\d+\.\d\s+(vmap|map|unrolled|one by one)\s+\d+\.\d\s+\d+\.\d\*", out), out
    assert "1 of the 2 one-by-one runs timed" in out
    assert main(["bench", "population", "--members", "0"]) == 2
    assert "--members must be at least 1" in capsys.readouterr().out


@pytest.mark.parametrize("vectorize", [True, False])
def test_a_sweep_keeps_a_run_stopped_by_a_non_finite_loss(tmp_path, capsys, vectorize):
    """A run whose loss became non-finite is an outcome of the sweep: it is recorded
    (``summary.json`` with its error) and reused by the next sweep in the same folder
    instead of being trained again, side by side or alone."""
    base = config(0, num_steps=10, eval_every=10, checkpoint_every=0, optimizer="sgd(learning_rate=0.01)")
    runs = ensembles.grid(["optimizer.learning_rate=[0.01,1e30]"])
    result = ensembles.sweep(base, tmp_path, runs, vectorize=vectorize)
    assert "error" not in result["runs"][0] and "non-finite" in result["runs"][1]["error"]
    saved = json.loads((tmp_path / result["runs"][1]["name"] / "summary.json").read_text())
    assert saved["error"] == result["runs"][1]["error"]
    capsys.readouterr()
    again = ensembles.sweep(base, tmp_path, runs, vectorize=vectorize)
    assert capsys.readouterr().out.count("finished before, summary reused") == 2
    assert again["runs"] == result["runs"]
