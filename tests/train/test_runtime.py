"""What a run asks of the process: mixed precision, deterministic kernels, the compilation cache."""

import json
import os
import pathlib
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import pytest

from tricks import train
from tricks.config import ConfigError
from tricks.train import _runtime
from tests.train.test_engine import quick

ROOT = pathlib.Path(__file__).parents[2]


def test_bfloat16_trains_and_keeps_parameters_and_optimizer_state_in_float32(tmp_path):
    cfg = quick(precision="bfloat16", model="cnn(channels=(4,), dense=(8,), batch_norm=True)")
    summary = train.train_and_evaluate(cfg, tmp_path)
    assert summary["step"] == 6 and jnp.isfinite(summary["eval"]["loss"])
    trained = train.load(tmp_path)
    leaves = jax.tree.leaves((trained.state.params, trained.state.batch_stats, trained.state.opt_state))
    assert {leaf.dtype for leaf in leaves if jnp.issubdtype(leaf.dtype, jnp.floating)} == {jnp.dtype(jnp.float32)}
    assert trained.components.model.dtype == jnp.bfloat16


def test_bfloat16_changes_the_numbers_only_by_rounding(tmp_path):
    full = train.train_and_evaluate(quick(), tmp_path / "f32")
    low = train.train_and_evaluate(quick(precision="bfloat16"), tmp_path / "bf16")
    assert full["train"]["loss"] != low["train"]["loss"]
    assert low["train"]["loss"] == pytest.approx(full["train"]["loss"], rel=0.05)


@pytest.mark.parametrize("value", ["bf16", "float64", 16])
def test_a_wrong_precision_lists_the_valid_ones(value):
    with pytest.raises(ConfigError, match="'precision' must be one of float32, bfloat16"):
        train.setup(quick(precision=value))


def test_a_model_spec_whose_dtype_contradicts_precision_is_refused():
    with pytest.raises(ConfigError, match="precision='bfloat16', but the model spec .* dtype='float32'"):
        train.setup(quick(precision="bfloat16", model="mlp(widths=(8,), dtype='float32')"))


def test_a_wrong_deterministic_is_refused():
    with pytest.raises(ConfigError, match="'deterministic' must be true or false, got 'yes'"):
        train.setup(quick(deterministic="yes"))


def records(workdir: pathlib.Path) -> tuple[dict, list[dict]]:
    """summary.json and metrics.jsonl without their clock readings."""
    timeless = lambda row: {k: v for k, v in row.items() if "time" not in k and k != "steps_per_s"}  # noqa: E731
    summary = timeless(json.loads((workdir / "summary.json").read_text()))
    rows = [timeless(json.loads(line)) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return summary, rows


def test_two_runs_of_one_config_are_bit_identical(tmp_path):
    cfg = quick(model="mlp(widths=(32,), dropout=0.2)", augment=["random_crop(padding=1)", "mixup(alpha=0.2)"])
    train.train_and_evaluate(cfg, tmp_path / "a")
    train.train_and_evaluate(cfg, tmp_path / "b")
    assert records(tmp_path / "a") == records(tmp_path / "b")


def run_python(code: str, env: dict | None = None) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return result.stdout


SETUP_AND_PRINT_FLAGS = """
import os
from tricks import train
cfg = train.default_config()
cfg.deterministic = {deterministic}
train.setup(cfg)
print(os.environ.get("XLA_FLAGS", ""))
"""


@pytest.mark.parametrize("deterministic", [True, False])
def test_setup_asks_for_deterministic_kernels_before_the_backend_starts(deterministic):
    flags = run_python(SETUP_AND_PRINT_FLAGS.format(deterministic=deterministic), {"XLA_FLAGS": ""})
    assert (_runtime.DETERMINISTIC_FLAG in flags) == deterministic


def test_deterministic_kernels_after_the_backend_started_on_cpu_need_nothing(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "")
    jax.devices()  # the backend is started
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _runtime.use_deterministic_kernels()
    assert _runtime.DETERMINISTIC_FLAG not in os.environ["XLA_FLAGS"]  # too late to matter, so left out


def test_deterministic_kernels_after_the_backend_started_on_a_gpu_warn(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    jax.devices()
    with pytest.warns(UserWarning, match="results may differ from run to run"):
        assert not _runtime.use_deterministic_kernels()


def test_the_default_cache_folder_follows_tricks_cache(monkeypatch, tmp_path):
    assert train.default_config().compilation_cache == "auto"  # the same in every environment's config.json
    monkeypatch.setenv("TRICKS_CACHE", str(tmp_path))
    assert _runtime.use_compilation_cache("auto") == tmp_path / "xla"
    monkeypatch.delenv("TRICKS_CACHE")
    assert _runtime.cache_root() == pathlib.Path.home() / ".cache" / "tricks"


def test_a_run_fills_its_compilation_cache_and_a_second_run_reads_it(tmp_path):
    cache = tmp_path / "cache"
    jax.clear_caches()  # both runs as new processes: nothing compiled in memory
    train.train_and_evaluate(quick(compilation_cache=str(cache)), tmp_path / "a")
    entries = sorted(p.name for p in cache.iterdir())
    assert entries, "the run's programs were written to the cache"
    jax.clear_caches()
    hits = []
    listener = lambda event, **_: hits.append(event) if event.endswith("/cache_hits") else None  # noqa: E731
    jax.monitoring.register_event_listener(listener)
    try:
        train.train_and_evaluate(quick(compilation_cache=str(cache)), tmp_path / "b")
    finally:
        jax.monitoring.unregister_event_listener(listener)
    assert len(hits) >= len(entries), "every cached program was read back"
    assert sorted(p.name for p in cache.iterdir()) == entries, "the second run compiled nothing new"
    assert records(tmp_path / "a") == records(tmp_path / "b")


def test_an_unwritable_cache_folder_warns_and_training_goes_on(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="compilation_cache .* cannot be written.*compiles everything afresh"):
        summary = train.train_and_evaluate(quick(compilation_cache=str(blocker / "cache")), tmp_path / "run")
    assert summary["step"] == 6
    assert not jax.config.jax_enable_compilation_cache


def test_an_empty_cache_folder_turns_the_cache_off():
    train.setup(quick(compilation_cache=""))
    assert not jax.config.jax_enable_compilation_cache
    train.setup(quick())
    assert jax.config.jax_enable_compilation_cache


def test_the_cache_folder_may_change_between_runs_and_is_not_part_of_the_run(tmp_path):
    train.train_and_evaluate(quick(compilation_cache=str(tmp_path / "one")), tmp_path / "run")
    cfg = quick(compilation_cache=str(tmp_path / "two"))
    cfg.num_steps = 12
    with pytest.raises(ConfigError, match="num_steps"):  # another config: refused, but not for the cache
        train.train_and_evaluate(cfg, tmp_path / "run")
    cfg.num_steps = 6
    summary = train.train_and_evaluate(cfg, tmp_path / "run")  # the same run: nothing to resume or redo
    assert summary["step"] == 6
