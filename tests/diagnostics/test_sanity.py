"""The overfit check: what is stripped, a config that fits, one that cannot, the CLI."""

import ml_collections
import pytest

from tools.cli import main
from tricks import diagnostics
from tricks.train import default_config


def test_strip_regularization_lists_every_change():
    cfg = ml_collections.ConfigDict(
        {
            "model": "cnn(conv_dropout=0.2, dense_dropout=0.5, batch_norm=True)",
            "optimizer": {
                "name": "clip_by_global_norm",
                "max_norm": 1.0,
                "optimizer": "sgdw(learning_rate=0.1, momentum=0.9, weight_decay=5e-4)",
            },
            "loss": "cross_entropy(label_smoothing=0.1)",
            "augment": ["random_flip", "normalize(mean=0.5, std=0.25)"],
            "class_balanced": True,
        }
    )
    new, stripped = diagnostics.strip_regularization(cfg)
    assert new.model == "cnn(batch_norm=True, conv_dropout=0.0, dense_dropout=0.0)"
    assert "weight_decay=0.0" in new.optimizer and "momentum=0.9" in new.optimizer
    assert new.loss == "cross_entropy(label_smoothing=0.0)" and new.class_balanced is False
    assert new.augment == ["random_flip", "normalize(mean=0.5, std=0.25)"]  # kept, run in evaluation form
    assert len(stripped) == 6 and stripped[0] == "augment: random_flip (evaluation form)"
    plain = ml_collections.ConfigDict(
        {
            "model": "mlp(widths=(64,))",
            "optimizer": "adam(learning_rate=1e-3)",
            "loss": "cross_entropy",
            "augment": [],
        }
    )
    clean, none = diagnostics.strip_regularization(plain)
    assert none == [] and clean.model == plain.model and clean.optimizer == plain.optimizer


def test_a_healthy_config_fits(digits_spec):
    cfg = default_config()
    cfg.dataset, cfg.model, cfg.loss = digits_spec, "mlp(widths=(64,), dropout=0.5)", "cross_entropy"
    cfg.optimizer, cfg.augment = "adam(learning_rate=0.003)", []
    result = diagnostics.overfit_check(cfg, examples=32, max_steps=200)
    assert result.reached and result.steps_to_fit <= 200
    assert result.accuracies[result.steps_to_fit - 1] == 1.0
    assert result.accuracies[: result.steps_to_fit - 1].max() < 1.0
    assert len(result.losses) <= result.steps_to_fit + 9  # stops within the group that reached 100%
    assert result.stripped == ["model: mlp(widths=(64,), dropout=0.5) -> mlp(widths=(64,), dropout=0.0)"]
    assert "PASS" in result.summary()


def test_a_broken_setup_fails(digits_spec):
    """A rate of zero cannot learn anything: the check must say FAIL."""
    cfg = default_config()
    cfg.dataset, cfg.optimizer, cfg.model = digits_spec, "sgd(learning_rate=0.0)", "mlp(widths=(32,))"
    result = diagnostics.overfit_check(cfg, examples=32, max_steps=25)
    assert not result.reached and result.steps_to_fit is None and len(result.losses) == 25
    assert "FAIL" in result.summary()


def test_bad_arguments(digits_spec):
    cfg = default_config()
    cfg.dataset = digits_spec
    with pytest.raises(ValueError, match="examples must be in"):
        diagnostics.overfit_check(cfg, examples=100_000)
    with pytest.raises(ValueError, match="max_steps"):
        diagnostics.overfit_check(cfg, max_steps=0)


def test_sanity_command(digits_spec, tmp_path, capsys):
    """The command's exit code is 1 on FAIL (the PASS path is the library's, tested above)."""
    output = tmp_path / "sanity.png"
    code = main(
        [
            "sanity",
            f"--config.dataset={digits_spec}",
            "--config.optimizer=sgd(learning_rate=0.0)",
            "--config.model=mlp(widths=(32,))",
            "--max-steps",
            "10",
            "-o",
            str(output),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1 and "FAIL" in out and "stripped: " in out and output.stat().st_size > 10_000


@pytest.mark.parametrize(
    "optimizer",
    [
        "clip_by_global_norm(sgd(0.1, momentum=0.9), 1.0)",  # positional arguments
        "lookahead(optimizer='adam(learning_rate=0.1)')",  # a nested spec as a string
        {"name": "adamw", "learning_rate": 0.1, "weight_decay": 0},  # no decay, spelled as an int
        "sgd(learning_rate=0.1, weight_decay=0.0, nesterov=False)",  # defaults written out
    ],
)
def test_a_respelled_optimizer_is_not_listed_as_stripped(optimizer):
    model, loss = "mlp(widths=(8,), dropout=0.0)", "cross_entropy"
    cfg = ml_collections.ConfigDict({"model": model, "optimizer": optimizer, "loss": loss, "augment": []})
    new, stripped = diagnostics.strip_regularization(cfg)
    assert stripped == [] and new.optimizer == cfg.optimizer and new.model == cfg.model


def test_a_default_weight_decay_is_stripped_and_listed_spelled_alike():
    optimizer, loss = "clip_by_global_norm(adamw(0.1), 1.0)", "cross_entropy"
    cfg = ml_collections.ConfigDict({"model": "mlp", "optimizer": optimizer, "loss": loss, "augment": []})
    new, stripped = diagnostics.strip_regularization(cfg)  # adamw's default decay is 1e-4
    before = "clip_by_global_norm(optimizer=adamw(learning_rate=0.1), max_norm=1.0)"
    after = "clip_by_global_norm(optimizer=adamw(learning_rate=0.1, weight_decay=0.0), max_norm=1.0)"
    assert stripped == [f"optimizer: {before} -> {after}"] and new.optimizer == after


def test_sanity_command_lists_only_what_changed(digits_spec, tmp_path, capsys):
    argv = [
        "sanity",
        f"--config.dataset={digits_spec}",
        "--config.optimizer=clip_by_global_norm(sgd(0.0), 1.0)",
        "--config.model=mlp(widths=(8,))",
        "--config.loss=cross_entropy(label_smoothing=0.1)",
        "--config.augment=[]",
        "--max-steps",
        "2",
        "-o",
        str(tmp_path / "sanity.png"),
    ]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "stripped: loss: cross_entropy(label_smoothing=0.1) -> cross_entropy(label_smoothing=0.0)\n" in out
