"""A schedule's value against the step, with a momentum schedule on a second axis.

Cycle ends (sgdr, cyclic, one_cycle: the snapshot points) are marked with dotted lines.
A length the spec leaves out (``cosine``'s ``decay_steps``, ``one_cycle``'s
``total_steps``, ...) is ``--steps``, as a training run fills it with its own length
(`tricks.schedules.fit_to_run`). With ``--config``, the rate and momentum of that
config's optimizer are drawn over its whole run, filled as training fills them.

Examples:
  tricks plot schedule "warmup(cosine(init_value=0.1, decay_steps=900), warmup_steps=100)" -o lr.png
  tricks plot schedule "one_cycle(max_lr=0.4, total_steps=1000)" \\
      --momentum "one_cycle_momentum(total_steps=1000)" --steps 1200 -o 1cycle.png
  tricks plot schedule "sgdr(init_value=0.1, t0=100, t_mult=2)" --steps 1500 --log -o sgdr.png
  tricks plot schedule "warmup(cosine(init_value=0.1), warmup_steps=100)" --steps 2000
  tricks plot schedule --config experiments/configs/fashion_mnist_cnn.py -o fcnn_lr.png
"""

from __future__ import annotations

import argparse
import pathlib
import textwrap
from collections.abc import Callable

import numpy as np

import registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", help="the schedule, e.g. 'cosine(init_value=0.1, decay_steps=1000)'")
    parser.add_argument("--config", metavar="FILE[:ARG]",
                        help="draw this training config's learning rate (and momentum) over its run instead")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps drawn, from 0, and the length of a schedule that leaves it out "
                             "(default: 1000, or the config's run)")
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

    if (args.spec is None) == (args.config is None):
        print("tricks plot schedule: give a schedule spec or --config FILE (one of them)")
        return 2
    if args.config is not None:
        found = _from_config(args.config)
        if found is None:
            return 2
        args.spec, momentum_spec, run_steps = found
        args.momentum = args.momentum or momentum_spec
        args.steps = args.steps or run_steps
    args.steps = 1000 if args.steps is None else args.steps
    if args.steps <= 0:
        print(f"tricks plot schedule: --steps must be > 0, got {args.steps}")
        return 2
    args.spec = _filled(args.spec, args.steps)
    args.momentum = _filled(args.momentum, args.steps) if args.momentum else None
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


def _filled(spec: str, steps: int) -> str:
    """`spec` with the lengths it leaves out set to `steps` (as a training run does)."""
    from tricks import schedules

    return str(schedules.fit_to_run("schedule", spec, steps)[0])


def _from_config(path_arg: str) -> tuple[str, str | None, int] | None:
    """The learning rate and momentum specs of a config's optimizer, filled, and its run length."""
    from tricks import config as config_lib
    from tricks import schedules, train
    from tricks.train._build import build_components
    from tricks.train._snapshots import find_argument

    cfg = train.complete(config_lib.load(path_arg))
    parts = build_components(cfg)
    optimizer, _ = schedules.fit_to_run("optimizer", cfg.optimizer, parts.num_steps)
    rate = find_argument(optimizer, "learning_rate")
    momentum = find_argument(optimizer, "momentum") or find_argument(optimizer, "b1")
    if rate is None or isinstance(rate, (int, float)):
        print(f"tricks plot schedule: {path_arg}'s optimizer has no learning-rate schedule (learning_rate={rate!r})")
        return None
    momentum = str(momentum) if isinstance(momentum, (str, registry.Spec)) else None
    return str(rate), momentum, parts.num_steps


def _step_function(spec: str) -> Callable | None:
    built = registry.build("schedule", spec)
    if not callable(built):
        print(
            f"tricks plot schedule: {spec!r} is not a function of the step ({type(built).__name__}); "
            "a reduce_on_plateau rate depends on the metric fed to it during training"
        )
        return None
    return built
