"""The training engine end to end: configs, outputs, the default run's accuracy, bad input."""

import json
import os
import pathlib
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

import registry
from tricks import config as config_lib
from tricks import train
from tests.data.conftest import write_fashion
from tricks.config import ConfigError
from tricks.data._builders import FASHION_MNIST_DIR
from tools.cli import main

CONFIGS = sorted((pathlib.Path(__file__).parents[2] / "experiments" / "configs").glob("*.py"))


def quick(**fields):
    cfg = train.default_config()
    cfg.num_steps, cfg.eval_every, cfg.log_every, cfg.progress = 6, 3, 3, False
    cfg.eval_splits = ["validation"]
    for key, value in fields.items():
        cfg[key] = value
    return cfg


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """The default digits config, trained for real (the README's main job)."""
    workdir = tmp_path_factory.mktemp("digits")
    cfg = config_lib.load(str(CONFIGS[0].parent / "digits.py"), ["--config.progress=false"])
    return workdir, train.train_and_evaluate(cfg, workdir)


def test_default_digits_run_reaches_97_percent(digits_run):
    workdir, summary = digits_run
    assert summary["splits"]["test"]["accuracy"] >= 0.97, summary
    assert summary["eval"] == summary["splits"]["test"]


def test_outputs_of_a_run(digits_run):
    workdir, summary = digits_run
    saved = json.loads((workdir / "summary.json").read_text())
    assert saved["step"] == summary["step"] == 400
    assert set(saved["eval"]) >= {"accuracy", "loss"} and saved["wall_time_s"] > 0
    assert {"loss", "accuracy", "learning_rate", "grad_norm", "param_norm"} <= set(saved["train"])
    assert {"grad_norm/Dense_0", "grad_norm/Dense_1", "grad_norm/head"} <= set(saved["train"])  # per layer
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if "train/loss" in r]
    assert [r["step"] for r in train_records] == list(range(20, 401, 20))
    times = [r["wall_time_s"] for r in records]
    assert times == sorted(times) and 0 < times[-1] <= saved["wall_time_s"]
    assert any("eval/test/accuracy" in r for r in records)
    events = list((workdir / "tensorboard").glob("events.out.tfevents.*"))
    assert events and b"train/grads/Dense_0" in events[0].read_bytes()  # gradient histograms
    assert json.loads((workdir / "config.json").read_text())["dataset"] == "digits"
    assert (workdir / "checkpoints" / "400").is_dir()


def test_eval_and_plot_commands(digits_run, tmp_path, capsys):
    workdir, summary = digits_run
    assert main(["eval", "--workdir", str(workdir), "--splits", "test"]) == 0
    out = capsys.readouterr().out
    assert f"{summary['splits']['test']['accuracy']:.4f}" in out
    assert json.loads((workdir / "eval.json").read_text())["step"] == 400
    picture = tmp_path / "curves.png"
    assert main(["plot", "curves", str(workdir), "-o", str(picture)]) == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 10_000


def with_synthetic_fashion(cfg, tmp_path):
    """`cfg` reading small synthetic Fashion-MNIST files where Debian's package is absent
    (prepared in a data dir of their own, so no other test sees them)."""
    if os.path.isdir(FASHION_MNIST_DIR) or not str(cfg.dataset).startswith("fashion_mnist"):
        return cfg
    write_fashion(tmp_path / "idx", num_train=300, num_test=40)
    spec = registry.parse(str(cfg.dataset))
    cfg.dataset = str(registry.Spec(spec.name, spec.args, {**spec.kwargs, "source_dir": str(tmp_path / "idx"),
                                                           "data_dir": str(tmp_path / "tfds")}))
    return cfg


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_experiment_config_runs_in_smoke_mode(path, tmp_path):
    cfg = with_synthetic_fashion(config_lib.load(f"{path}:smoke", ["--config.progress=false"]), tmp_path)
    summary = train.train_and_evaluate(cfg, tmp_path)
    assert summary["step"] == cfg.num_steps <= 10
    assert 0.0 <= summary["eval"]["accuracy"] <= 1.0


def test_a_component_field_takes_a_spec_string_whatever_the_file_used(tmp_path):
    cfg = config_lib.apply_overrides(quick(), ["--config.optimizer=sgd(learning_rate=0.1, momentum=0.9)"])
    summary = train.train_and_evaluate(cfg, tmp_path)
    assert summary["train"]["learning_rate"] == pytest.approx(0.1, rel=1e-6)
    assert summary["train"]["momentum"] == pytest.approx(0.9, rel=1e-6)


def test_unknown_components_suggest_names(tmp_path):
    with pytest.raises(registry.RegistryError, match=r"dataset 'digts': unknown name \(did you mean 'digits'"):
        train.train_and_evaluate(quick(dataset="digts"), tmp_path)
    with pytest.raises(registry.RegistryError, match=r"model 'mpl': unknown name \(did you mean 'mlp'"):
        train.train_and_evaluate(quick(model="mpl"), tmp_path / "b")


def test_model_that_does_not_fit_the_classes(tmp_path):
    with pytest.raises(ConfigError, match=r"outputs shape \(3,\) per example, but dataset 'digits' has 10 classes"):
        train.train_and_evaluate(quick(model="mlp(num_classes=3)"), tmp_path)


def test_model_that_does_not_fit_the_inputs(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot take the inputs of dataset 'mnist1d', of shape \(40,\)"):
        train.train_and_evaluate(quick(dataset="mnist1d", model="resnet(depth=8)"), tmp_path)


def test_workdir_of_another_config_is_refused_unless_forced(tmp_path):
    train.train_and_evaluate(quick(), tmp_path)
    with pytest.raises(ConfigError) as info:
        train.train_and_evaluate(quick(seed=1, batch_size=64), tmp_path)
    assert "batch_size: 128 -> 64" in str(info.value) and "seed: 0 -> 1" in str(info.value)
    assert "--force" in str(info.value)
    assert train.train_and_evaluate(quick(seed=1, num_steps=9), tmp_path, force=True)["step"] == 9


def test_finished_run_resumes_instead_of_restarting(tmp_path, capsys):
    first = train.train_and_evaluate(quick(), tmp_path)
    again = train.train_and_evaluate(quick(num_steps=9), tmp_path, force=True)
    assert "resuming" in capsys.readouterr().out
    assert again["step"] == 9 and first["step"] == 6


def test_non_finite_loss_stops_with_the_step(tmp_path):
    cfg = quick(optimizer="sgd(learning_rate=1e30)", num_steps=20, log_every=10, eval_every=100)
    with pytest.raises(train.NonFiniteLossError, match=r"non-finite at step \d+"):
        train.train_and_evaluate(cfg, tmp_path)


def test_skipping_keeps_the_parameters_finite_and_a_diverged_run_stops_with_its_last_good_checkpoint(
        tmp_path, capsys):
    """A rate of 1e6 diverges within a few steps; every later update is skipped (its loss is
    NaN, or it would overflow the parameters): the run stops at the first log interval
    skipped whole, in one line, naming the last good checkpoint, and none saved is NaN."""
    args = ["train", "--workdir", str(tmp_path), "--config.optimizer=skip_nonfinite(sgd(learning_rate=1e6))",
            "--config.num_steps=200", "--config.checkpoint_every=10", "--config.log_every=10",
            "--config.eval_every=100", "--config.progress=false", "--config.keep=100"]
    assert main(args) == 1
    err = capsys.readouterr().out.strip().splitlines()[-1]  # (after the run's own lines)
    assert "Traceback" not in err and err.startswith("tricks train: ")
    assert re.search(r"the last \d+ updates \(to step \d+\) were all skipped as non-finite", err)
    saved = train.Checkpoints(tmp_path, read_only=True).steps()
    assert saved and f"the last good checkpoint is step {saved[-1]}" in err
    run = train.setup(config_lib.apply_overrides(train.complete(quick()), args[3:]))
    for step in saved:
        state, _ = train.Checkpoints(tmp_path, read_only=True).restore(step, run.state)
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state.params)), step
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records and all(r.get("train/loss") is None for r in records[-1:])  # NaN: written as null


def test_a_non_finite_loss_is_one_line_naming_the_step_and_the_last_good_checkpoint(tmp_path, capsys):
    args = ["train", "--workdir", str(tmp_path), "--config.optimizer=sgd(learning_rate=join([0.05, 1e6], "
            "boundaries=[45]))", "--config.num_steps=200", "--config.checkpoint_every=10", "--config.log_every=10",
            "--config.eval_every=100", "--config.progress=false"]
    assert main(args) == 1
    err = capsys.readouterr().out.strip().splitlines()[-1]
    assert "Traceback" not in err and err.startswith("tricks train: ")
    step = int(re.search(r"non-finite at step (\d+)", err).group(1))
    saved = train.Checkpoints(tmp_path, read_only=True).steps()
    assert step > 45 and saved[-1] < step and f"the last good checkpoint is step {saved[-1]}" in err


def test_lbfgs_trains_with_its_line_search(tmp_path):
    # the step hands the optimizer the batch's objective (value, grad, value_fn): lbfgs's zoom search needs it
    cfg = quick(optimizer="lbfgs()", batch_size=1024, num_steps=20, log_every=5, eval_every=20)
    summary = train.train_and_evaluate(cfg, tmp_path)
    losses = [json.loads(line)["train/loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
              if "train/loss" in line]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.5 * losses[0], losses
    assert summary["eval"]["accuracy"] > 0.9


def test_reduce_on_plateau_is_fed_the_validation_loss(tmp_path):
    spec = "on_plateau(sgd(learning_rate=0.05), reduce_on_plateau(factor=0.5, patience=0, threshold=10.0, threshold_mode='abs'))"
    summary = train.train_and_evaluate(quick(optimizer=spec, num_steps=9, eval_every=3), tmp_path)
    # threshold=10 (absolute): the first evaluation improves on +inf, every later one does not, so
    # the rate is halved at steps 6 and 9; the last log (step 9) comes before that step's evaluation.
    assert summary["train"]["plateau_scale"] == pytest.approx(0.5)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["train/plateau_scale"] for r in records if "train/plateau_scale" in r] == [1.0, 1.0, 0.5]


def test_batch_size_not_divisible_by_devices_suggests_sizes(tmp_path):
    code = (
        "import tricks, sys\n"
        "from tricks import train\n"
        "cfg = train.default_config(); cfg.batch_size = 100; cfg.num_steps = 1; cfg.progress = False\n"
        f"train.train_and_evaluate(cfg, {str(tmp_path)!r})\n"
    )
    import os

    env = {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=8".strip(),
           "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"}
    env["TFDS_DATA_DIR"] = os.environ["TFDS_DATA_DIR"]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode != 0
    assert "batch_size 100 is not divisible" in result.stderr and "96, 104" in result.stderr


def test_train_command_without_arguments_uses_a_fresh_runs_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config.num_steps=3", "--config.progress=false", "--config.eval_splits=['test']"]) == 0
    out = capsys.readouterr().out
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.endswith("-digits")
    assert f"workdir: runs/{runs[0].name}" in out and "test accuracy" in out


def test_pmap_refuses_a_batch_norm_model_that_takes_no_axis_name(monkeypatch):
    from tricks.train import _build, _setup

    cfg = quick(model="cnn(channels=(4,), dense=(), batch_norm=True, conv_dropout=(0.0,), dense_dropout=())")
    cfg.parallel = "pmap"
    assert train.setup(cfg).components.model.axis_name == "data"  # the built-in models take one
    monkeypatch.setattr(_setup, "build_components", lambda config, model_axis_name=None:
                        _build.build_components(config))  # a factory without axis_name
    with pytest.raises(ConfigError, match="keeps batch-norm statistics but takes no axis_name.*parallel='sharded'"):
        train.setup(cfg)
    cfg.parallel = "sharded"
    assert train.setup(cfg).state.batch_stats


def test_a_run_that_never_started_does_not_block_its_workdir(tmp_path, capsys):
    with pytest.raises(registry.RegistryError, match="wieght_decay"):
        train.train_and_evaluate(quick(optimizer="adamw(wieght_decay=0.1)"), tmp_path)
    assert not (tmp_path / "config.json").exists()  # a config that cannot be built writes nothing
    (tmp_path / "config.json").write_text(json.dumps({"seed": 5}))  # an earlier run that saved nothing
    (tmp_path / "metrics.jsonl").write_text('{"step": 3}\n')
    summary = train.train_and_evaluate(quick(optimizer="adamw(weight_decay=0.1)"), tmp_path)
    assert summary["step"] == 6 and "starting afresh" in capsys.readouterr().out
    assert (tmp_path / "metrics.jsonl.old").read_text() == '{"step": 3}\n'
    with pytest.raises(ConfigError, match="holds a run of a different config"):  # now it has checkpoints
        train.train_and_evaluate(quick(optimizer="adamw(weight_decay=0.2)"), tmp_path)


def test_eval_skips_the_splits_the_dataset_lacks_as_training_does(tmp_path, capsys):
    cfg = config_lib.load(f"{CONFIGS[0].parent / 'mnist1d_cnn.py'}:smoke", ["--config.progress=false"])
    cfg.dataset = "mnist1d(validation_fraction=0.0)"  # no validation split; eval_splits names it
    cfg.eval_splits = ["validation", "test"]
    train.train_and_evaluate(cfg, tmp_path)
    capsys.readouterr()
    assert main(["eval", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "test" in out and "validation" not in out
    assert main(["eval", "--workdir", str(tmp_path), "--splits", "validation"]) == 2
    assert "tricks eval: dataset mnist1d has no split validation; it has: test, train" in capsys.readouterr().out


def test_a_number_overrides_a_schedule_as_a_constant_rate(tmp_path):
    cfg = config_lib.apply_overrides(quick(), ["--config.optimizer.learning_rate=0.05"])  # the file: a schedule
    assert train.train_and_evaluate(cfg, tmp_path)["train"]["learning_rate"] == pytest.approx(0.05)
    with pytest.raises(registry.RegistryError, match="argument 'optimizer': got 3 \\(int\\); expected"):
        registry.build("optimizer", "clip_by_global_norm(optimizer='3', max_norm=1.0)")  # only where a number fits
