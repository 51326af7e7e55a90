"""A schedule's value against the step, with a momentum schedule on a second axis.

Cycle ends (sgdr, cyclic, one_cycle: the snapshot points) are marked with dotted lines.

Examples:
  tricks plot schedule "warmup(cosine(init_value=0.1, decay_steps=900), warmup_steps=100)" -o lr.png
  tricks plot schedule "one_cycle(max_lr=0.4, total_steps=1000)" \\
      --momentum "one_cycle_momentum(total_steps=1000)" --steps 1200 -o 1cycle.png
  tricks plot schedule "sgdr(init_value=0.1, t0=100, t_mult=2)" --steps 1500 --log -o sgdr.png
"""

from __future__ import annotations

import argparse
import pathlib
import textwrap
from collections.abc import Callable

import numpy as np

import registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="the schedule, e.g. 'cosine(init_value=0.1, decay_steps=1000)'")
    parser.add_argument("--steps", type=int, default=1000, help="steps drawn, from 0 (default: 1000)")
    parser.add_argument(
        "--momentum", metavar="SPEC", help="a momentum schedule, drawn against the right axis"
    )
    parser.add_argument(
        "-o", "--output", default="schedule.png", help="the PNG written (default: schedule.png)"
    )
    parser.add_argument("--log", action="store_true", help="a logarithmic axis for the rate")
    parser.add_argument("--title", help="the title (default: the spec)")


def run(args: argparse.Namespace) -> int:
    import tricks  # noqa: F401  (registers the built-in components)

    if args.steps <= 0:
        print(f"tricks plot schedule: --steps must be > 0, got {args.steps}")
        return 2
    rate = _step_function(args.spec)
    momentum = _step_function(args.momentum) if args.momentum else None
    if rate is None or (args.momentum and momentum is None):
        return 2
    title = args.title or (f"{args.spec}; momentum: {args.momentum}" if args.momentum else args.spec)
    figure = draw(rate, args.steps, momentum=momentum, log=args.log, title=title)
    path = pathlib.Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    v = _values(rate, args.steps)
    print(
        f"wrote {path}: rate {v[0]:.4g} at step 0, max {v.max():.4g} at step {int(v.argmax())}, "
        f"min {v.min():.4g} at step {int(v.argmin())}, {v[-1]:.4g} at step {args.steps - 1}"
    )
    return 0


def draw(
    rate: Callable,
    steps: int,
    momentum: Callable | None = None,
    log: bool = False,
    title: str = "",
):
    """A matplotlib `Figure` (Agg canvas) of `rate` over steps 0..steps-1, and `momentum` if given.

    Examples:
        >>> from tricks import schedules
        >>> figure = draw(schedules.sgdr(0.1, t0=10), 30, momentum=schedules.constant(0.9))
        >>> [axis.get_ylabel() for axis in figure.axes]
        ['learning rate', 'momentum']
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4.8), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    x = np.arange(steps)
    lines = axis.plot(x, _values(rate, steps), color="tab:blue", label="learning rate")
    axis.set_xlabel("step")
    axis.set_ylabel("learning rate")
    axis.set_xlim(0, max(steps - 1, 1))
    if log:
        axis.set_yscale("log")
    axis.grid(alpha=0.3)
    ends = rate.cycle_ends(steps) if hasattr(rate, "cycle_ends") else []
    for i, end in enumerate(ends):
        marker = axis.axvline(
            end, color="gray", linestyle=":", linewidth=1, label="cycle end" if i == 0 else None
        )
        if i == 0:
            lines.append(marker)
    if momentum is not None:
        right = axis.twinx()
        lines += right.plot(x, _values(momentum, steps), color="tab:orange", label="momentum")
        right.set_ylabel("momentum")
    # Below the axes: inside, "best" still covers a curve when two of them fill the box.
    figure.legend(lines, [line.get_label() for line in lines], loc="outside lower center", ncols=len(lines))
    axis.set_title("\n".join(textwrap.wrap(title, 100)), fontsize=10)
    return figure


def _values(schedule: Callable, steps: int) -> np.ndarray:
    import jax
    import jax.numpy as jnp

    return np.asarray(jax.jit(schedule)(jnp.arange(steps)), dtype=np.float64)


def _step_function(spec: str) -> Callable | None:
    built = registry.build("schedule", spec)
    if not callable(built):
        print(
            f"tricks plot schedule: {spec!r} is not a function of the step ({type(built).__name__}); "
            "a reduce_on_plateau rate depends on the metric fed to it during training"
        )
        return None
    return built
