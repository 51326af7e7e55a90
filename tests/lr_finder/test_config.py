"""The range test of a training config: several models, the run's own train step, copies only; the CLI."""

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from tools.cli import main
from tricks import data as data_lib
from tricks import lr_finder
from tricks.train import create_state, default_config
from tricks.train._build import build_components


def digits_config(
    digits_spec, model, optimizer="adam(learning_rate='cosine(init_value=0.01, decay_steps=50)')"
):
    cfg = default_config()
    cfg.dataset, cfg.model, cfg.optimizer, cfg.batch_size = digits_spec, model, optimizer, 32
    cfg.augment = ["normalize(mean=0.3, std=0.4)"]
    return cfg


@pytest.mark.parametrize(
    "model",
    [
        "mlp(widths=(32,), batch_norm=True, dropout=0.2)",
        "cnn(channels=(4,), dense=(16,), conv_dropout=0.1)",
    ],
)
def test_models_with_batch_norm_and_dropout(digits_spec, model):
    test = lr_finder.lr_find(digits_config(digits_spec, model), start=1e-5, end=10.0, steps=20)
    assert test.stop in ("diverged", "non-finite", "end") and len(test.lrs) >= 5
    assert all(1e-5 <= v <= 10.0 for v in test.suggestions.values())
    assert np.all(np.isfinite(test.losses))


def test_the_schedule_is_replaced_everywhere():
    cfg = ml_collections.ConfigDict(
        {
            "optimizer": {
                "name": "lookahead",
                "optimizer": "clip_by_global_norm(sgd(learning_rate='cosine(init_value=0.1, "
                "decay_steps=10)', momentum=0.9), max_norm=1.0)",
                "sync_period": 5,
            }
        }
    )
    spec = lr_finder.constant_rate_config(cfg, 1e-3).optimizer
    assert "cosine" not in spec and spec.count("learning_rate=0.001") == 1


def test_a_given_state_is_copied_and_left_alone(digits_spec):
    cfg = lr_finder.constant_rate_config(digits_config(digits_spec, "mlp(widths=(16,))"), 1e-7)
    parts = build_components(cfg)
    example = jnp.asarray(data_lib.make_loader(parts.dataset, "train", 32, 0).batch(0)["image"])
    state = create_state(parts.model, parts.optimizer, example, seed=0)
    state = state.replace(step=jnp.asarray(7, jnp.int32))
    before = jax.tree.map(np.array, state)
    test = lr_finder.lr_find(cfg, start=1e-4, end=1.0, steps=6, state=state)
    assert len(test.lrs) >= 2
    after = jax.tree.map(np.array, state)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))


def test_lr_find_command_writes_plot_and_curve(digits_spec, tmp_path, capsys):
    output = tmp_path / "out" / "lr.png"
    code = main(
        [
            "lr-find",
            f"--config.dataset={digits_spec}",
            "--config.model=mlp(widths=(16,))",
            "--steps",
            "30",
            "--start",
            "1e-5",
            "-o",
            str(output),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "suggested learning rate" in out and "(minimum_over_10)" in out and "valley" in out
    assert output.stat().st_size > 10_000
    curve = json.loads(output.with_suffix(".json").read_text())
    assert len(curve["curve"]) == len(output.with_suffix(".csv").read_text().splitlines()) - 1
    assert "minimum/10" in out and "minimum " not in out  # a tenth of the minimum, named so
    assert curve["suggestions"]["minimum_over_10"] == pytest.approx(curve["minimum_lr"] / 10)


def test_lr_find_command_bad_settings(digits_spec, capsys):
    assert main(["lr-find", f"--config.dataset={digits_spec}", "--start", "1", "--end", "0.1"]) == 2
    assert "0 < start < end" in capsys.readouterr().out
    assert main(["lr-find", f"--config.dataset={digits_spec}", "--stop-factor", "0.5"]) == 2
    assert "stop_factor must be > 1" in capsys.readouterr().out
