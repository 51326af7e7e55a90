"""`tricks plot schedule` writes a PNG of a schedule (and a momentum schedule)."""

import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the schedules)
from tools import cli, plots
from tools.plots.schedule import draw

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_targets_are_discovered_from_tools_plots():
    assert "schedule" in plots.discover()
    for module in plots.discover().values():
        assert module.__doc__ and callable(module.add_arguments) and callable(module.run)


def test_plot_schedule_writes_a_png(tmp_path, capsys):
    out = tmp_path / "plots" / "sgdr.png"
    code = cli.main(
        [
            "plot",
            "schedule",
            "sgdr(init_value=0.1, t0=20, t_mult=2)",
            "--steps",
            "150",
            "-o",
            str(out),
            "--log",
        ]
    )
    assert code == 0
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000
    assert "max 0.1 at step 0" in capsys.readouterr().out


def test_plot_schedule_with_momentum(tmp_path):
    out = tmp_path / "one_cycle.png"
    code = cli.main(
        [
            "plot",
            "schedule",
            "one_cycle(max_lr=0.4, total_steps=100)",
            "--momentum",
            "one_cycle_momentum(total_steps=100)",
            "--steps",
            "120",
            "-o",
            str(out),
        ]
    )
    assert code == 0 and out.read_bytes().startswith(PNG)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plot"], "choose a target: "),
        (["plot", "schedule", "reduce_on_plateau(patience=3)"], "not a function of the step"),
        (["plot", "schedule", "cosine(init_value=0.1, decay_steps=0)"], "argument 'decay_steps'"),
        (
            ["plot", "schedule", "cosine(init_value=0.1, decay_steps=10)", "--steps", "0"],
            "--steps must be > 0",
        ),
    ],
)
def test_plot_refuses_what_it_cannot_draw(argv, message, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert cli.main([*argv, "-o", str(out)] if len(argv) > 2 else argv) == 2
    assert message in capsys.readouterr().out
    assert not out.exists()


def test_the_figure_draws_the_rate_and_the_momentum_against_the_step():
    rate = registry.build("schedule", "one_cycle(max_lr=0.4, total_steps=100)")
    momentum = registry.build("schedule", "one_cycle_momentum(total_steps=100)")
    figure = draw(rate, 120, momentum=momentum, title="one cycle")
    left, right = figure.axes
    assert (left.get_xlabel(), left.get_ylabel(), right.get_ylabel()) == ("step", "learning rate", "momentum")
    (rate_line,) = [line for line in left.get_lines() if line.get_label() == "learning rate"]
    (momentum_line,) = right.get_lines()
    steps = np.arange(120)
    for line, schedule in [(rate_line, rate), (momentum_line, momentum)]:
        np.testing.assert_array_equal(line.get_xdata(), steps)
        np.testing.assert_allclose(line.get_ydata(), schedule(steps), rtol=1e-6)
    cycle_ends = [line.get_xdata()[0] for line in left.get_lines() if line.get_linestyle() == ":"]
    assert cycle_ends == [100]
    labels = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    assert labels == ["learning rate", "cycle end", "momentum"]
