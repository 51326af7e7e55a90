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


def test_a_left_out_length_is_the_steps_drawn_and_a_config_is_drawn_as_trained(tmp_path, capsys):
    """Issue 14 item 2: `tricks plot schedule` with a config shows the schedule the run fills."""
    assert cli.main(["plot", "schedule", "warmup(cosine(init_value=0.1), warmup_steps=100)", "--steps", "500",
                     "-o", str(tmp_path / "a.png")]) == 0
    assert "max 0.1 at step 100" in capsys.readouterr().out
    cfg = tmp_path / "cfg.py"
    cfg.write_text("from tricks.train import default_config\n\n\ndef get_config(arg=None):\n"
                   "    cfg = default_config()\n    cfg.num_steps = 300\n"
                   "    cfg.optimizer = 'sgd(learning_rate=one_cycle(max_lr=0.4), momentum=one_cycle_momentum())'\n"
                   "    return cfg\n")
    assert cli.main(["plot", "schedule", "--config", str(cfg), "-o", str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out
    assert "max 0.4 at step 89" in out and "at step 299" in out  # one cycle over the config's 300 steps
    assert cli.main(["plot", "schedule", "-o", str(tmp_path / "c.png")]) == 2
