"""Initialization judged by activations: statistics, the tanh/ReLU claims, every registered init, the CLI."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
from tools.cli import main
from tools.commands.diagnose import split_specs
from tricks import config, diagnostics

INIT_EXAMPLES = {
    "kaiming_normal": "kaiming_normal",
    "kaiming_uniform": "kaiming_uniform",
    "lecun_normal": "lecun_normal",
    "lecun_uniform": "lecun_uniform",
    "normal": "normal(stddev=0.05)",
    "orthogonal": "orthogonal(gain=1.0)",
    "xavier_normal": "xavier_normal",
    "xavier_uniform": "xavier_uniform",
    "zeros": "zeros",
}
"""One spec per registered initializer; a newly registered one must be added here."""


def test_layer_statistics_by_hand():
    relu = jnp.array([[0.0, 2.0, 0.0], [0.0, 1.0, 3.0]])
    stats = diagnostics.layer_statistics(relu, "relu")
    assert stats.mean == pytest.approx(1.0) and stats.std == pytest.approx(float(np.std(relu)))
    assert stats.dead == pytest.approx(1 / 3) and stats.saturated is None
    tanh = jnp.array([0.999, -0.995, 0.5, 0.99])  # 0.99 itself is not beyond the bound
    assert diagnostics.layer_statistics(tanh[None], "tanh").saturated == pytest.approx(0.5)
    sigmoid = jnp.array([[0.005, 0.5, 0.995, 0.01]])
    assert diagnostics.layer_statistics(sigmoid, "sigmoid").saturated == pytest.approx(0.5)
    conv = jnp.zeros((2, 5, 3)).at[0, 1, 2].set(1.0)  # units are the last axis; channel 2 fires once
    assert diagnostics.layer_statistics(conv, "relu").dead == pytest.approx(2 / 3)
    gelu = diagnostics.layer_statistics(relu, "gelu")
    assert gelu.dead is None and gelu.saturated is None


@pytest.fixture(scope="module")
def digits_batch(digits_spec):
    dataset = registry.build("dataset", digits_spec)
    return dataset.arrays("train")[0][:256], dataset.num_classes


def test_kaiming_suits_relu(digits_batch):
    """SPEC §4 on the 10-layer ReLU MLP of experiments/configs (the tanh claim: the command test below)."""
    model = config.load_file("experiments/configs/deep_relu_mlp.py").model
    x, num_classes = digits_batch
    bad = {"xavier_normal": "collapses", "normal(stddev=0.01)": "collapses", "normal(stddev=1.0)": "explodes"}
    reports = diagnostics.compare_inits(model, ["kaiming_normal", *bad], x, num_classes)
    assert len(reports["kaiming_normal"].layers) == 10
    assert reports["kaiming_normal"].verdict() == "healthy"
    assert 0.5 < reports["kaiming_normal"].std_ratio < 2.0
    for init, problem in bad.items():
        assert reports[init].verdict() == problem, init


def test_one_layer_is_judged_by_its_scale(digits_batch):
    """With one hidden layer the last/first ratio is 1: the layer's scale against the input's decides."""
    x, num_classes = digits_batch
    inits = ["kaiming_normal", "normal(stddev=1.0)", "normal(stddev=0.01)"]
    reports = diagnostics.compare_inits("mlp(widths=(256,))", inits, x, num_classes)
    assert reports["normal(stddev=1.0)"].layers["Dense_0_activation"].std > 2  # the case
    verdicts = {init: report.verdict() for init, report in reports.items()}
    assert verdicts == {
        "kaiming_normal": "healthy",
        "normal(stddev=1.0)": "explodes",
        "normal(stddev=0.01)": "collapses",
    }
    assert reports["kaiming_normal"].scales == [pytest.approx(1.0, abs=0.1)]  # He et al.: E[h²] kept
    tanh = diagnostics.compare_inits("mlp(widths=(256,), activation='tanh')", inits[1:2], x, num_classes)
    assert tanh["normal(stddev=1.0)"].verdict() == "saturates"  # bounded: saturation, not explosion


def test_init_histogram_title_fits_a_narrow_figure():
    values = {"Dense_0_activation": np.maximum(np.linspace(-2, 2, 64), 0).reshape(8, 8)}
    stats = {k: diagnostics.layer_statistics(v, "relu") for k, v in values.items()}
    reports = {"normal(stddev=1.0)": diagnostics.InitReport("normal(stddev=1.0)", "relu", stats, values)}
    title = "activations at init: experiments/configs/a_rather_long_config_name.py"
    figure = diagnostics.draw_init_histograms(reports, title)
    figure.canvas.draw()
    box, frame = figure._suptitle.get_window_extent(), figure.bbox
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    assert "".join(figure.get_suptitle().split()) == "".join(title.split())  # wrapped, nothing lost


def test_every_registered_init_can_be_judged():
    """One call for all (one compiled forward pass); a newly registered init needs an example above."""
    assert sorted(INIT_EXAMPLES) == registry.names("init")
    specs = [INIT_EXAMPLES[name] for name in registry.names("init")]
    reports = diagnostics.compare_inits(
        "mlp(widths=(16, 16, 16), activation='tanh')",
        specs,
        jax.random.normal(jax.random.key(0), (32, 10)),
        num_classes=4,
    )
    assert list(reports) == specs
    for report in reports.values():
        assert list(report.layers) == ["Dense_0_activation", "Dense_1_activation", "Dense_2_activation"]
        assert all(np.isfinite(s.std) for s in report.layers.values())
    assert reports["zeros"].verdict() == "collapses"
    assert reports["xavier_normal"].verdict() == "healthy"


def test_conv_models_and_bad_input():
    reports = diagnostics.compare_inits("cnn1d", ["kaiming_normal"], jnp.ones((4, 40)), num_classes=10)
    assert list(reports["kaiming_normal"].layers) == [f"Conv_{i}_activation" for i in range(3)]
    with pytest.raises(registry.RegistryError, match="init"):
        diagnostics.compare_inits("mlp", ["xavier_nrmal"], jnp.ones((4, 3)), num_classes=2)


def test_split_specs_keeps_commas_inside_calls():
    assert split_specs('xavier_normal,"normal(stddev=0.01)"'.replace('"', "")) == [
        "xavier_normal",
        "normal(stddev=0.01)",
    ]
    assert split_specs("orthogonal(gain=1.0), normal(stddev=1.0, mean=0.0)") == [
        "orthogonal(gain=1.0)",
        "normal(stddev=1.0, mean=0.0)",
    ]


def test_diagnose_init_command_and_xavier_suits_tanh(digits_spec, tmp_path, capsys):
    """SPEC §4 on the 10-layer tanh MLP of experiments/configs, through the command."""
    output = tmp_path / "init.png"
    code = main(
        [
            "diagnose",
            "init",
            "--config",
            "experiments/configs/deep_tanh_mlp.py",
            f"--config.dataset={digits_spec}",
            "--init",
            "xavier_normal,normal(stddev=0.01),normal(stddev=1.0)",
            "--examples",
            "256",
            "-o",
            str(output),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "xavier_normal: healthy" in out
    assert "normal(stddev=0.01): collapses" in out and "normal(stddev=1.0): saturates" in out
    assert "Dense_9_activation" in out and output.stat().st_size > 20_000
    assert main(["diagnose"]) == 2
    assert "choose what to diagnose" in capsys.readouterr().out
