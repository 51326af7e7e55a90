"""Per-layer gradient norms of a run against the step, from WORKDIR/metrics.jsonl.

Reads the ``train/grad_norm/<layer>`` entries that the training loop logs at log steps
(`tricks.diagnostics.GRAD_NORM_PREFIX`; one L2 norm per layer, of the log step's gradients)
and draws one line per layer on a log scale, input layers in dark colours, the head in
light ones; the global ``train/grad_norm`` is drawn dashed in black when logged. Small
gradients everywhere: training has converged or stalled; a layer far below the others:
it learns slowly (vanishing gradients), and is named (`tricks.diagnostics.stalled_layers`:
its norm typically below 1e-3 of the largest layer's).

Examples:
  tricks plot grads runs/digits -o grads.png
  tricks plot grads runs/deep_tanh_mlp --layers 'Dense_*' head -o grads.png
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import pathlib

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workdir", help="a training workdir (holds metrics.jsonl)")
    parser.add_argument(
        "--layers",
        nargs="*",
        metavar="PATTERN",
        help="only the layers matching these fnmatch patterns (default: all)",
    )
    parser.add_argument("-o", "--output", default="grads.png", help="the PNG written (default: grads.png)")
    parser.add_argument("--title", help="the title (default: the workdir)")


def read_grad_norms(
    path: str | pathlib.Path,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple | None]:
    """Per-layer gradient norms from a ``metrics.jsonl``: layer -> (steps, norms), and the global norm.

    Lines without a layer's entry are skipped for that layer; a null (non-finite) value
    is kept as NaN. Layers come in the order they first appear.

    Examples:
        >>> import tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
        >>> _ = path.write_text('{"step": 10, "train/grad_norm": 2.0, "train/grad_norm/Dense_0": 1.5}\\n'
        ...                     '{"step": 10, "eval/test/accuracy": 0.9}\\n'
        ...                     '{"step": 20, "train/grad_norm/Dense_0": null}\\n')
        >>> layers, total = read_grad_norms(path)
        >>> layers["Dense_0"][0].tolist(), layers["Dense_0"][1].tolist(), total[1].tolist()
        ([10, 20], [1.5, nan], [2.0])
    """
    from tricks.diagnostics import GRAD_NORM_PREFIX

    series: dict[str, list[tuple[int, float]]] = {}
    total: list[tuple[int, float]] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            for key, value in record.items():
                value = np.nan if value is None else value
                if key.startswith(GRAD_NORM_PREFIX):
                    series.setdefault(key[len(GRAD_NORM_PREFIX) :], []).append((record["step"], value))
                elif key == GRAD_NORM_PREFIX.rstrip("/"):
                    total.append((record["step"], value))

    def arrays(points):
        steps, values = zip(*points)
        return np.array(steps), np.array(values, np.float64)

    return {layer: arrays(points) for layer, points in series.items()}, (arrays(total) if total else None)


def draw(layers: dict[str, tuple[np.ndarray, np.ndarray]], total: tuple | None = None, title: str = ""):
    """A matplotlib `Figure` (Agg canvas): one line per layer, gradient norm (log) against step.

    Examples:
        >>> figure = draw({"Dense_0": (np.array([1, 2]), np.array([1.0, 0.5]))})
        >>> figure.axes[0].get_yscale(), figure.axes[0].get_ylabel()
        ('log', 'gradient norm (L2, per layer)')
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, max(len(layers), 1)))
    for color, (layer, (steps, norms)) in zip(colors, layers.items()):
        axis.plot(steps, norms, color=color, label=layer, linewidth=1.4)
    if total is not None:
        axis.plot(*total, color="black", linestyle="--", linewidth=1.2, label="all layers")
    axis.set_yscale("log")
    axis.set_xlabel("step")
    axis.set_ylabel("gradient norm (L2, per layer)")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=7, ncol=2 if len(layers) > 12 else 1, loc="best")
    axis.set_title(title, fontsize=10)
    return figure


def run(args: argparse.Namespace) -> int:
    path = pathlib.Path(args.workdir) / "metrics.jsonl"
    if not path.exists():
        print(f"tricks plot grads: {path} does not exist (is {args.workdir} a training workdir?)")
        return 2
    layers, total = read_grad_norms(path)
    if not layers:
        print(
            f"tricks plot grads: {path} holds no per-layer gradient norms (train/grad_norm/<layer> entries); "
            "they are logged by training runs with per-layer gradient logging"
        )
        return 2
    if args.layers:
        layers = {k: v for k, v in layers.items() if any(fnmatch.fnmatch(k, p) for p in args.layers)}
        if not layers:
            print(f"tricks plot grads: no layer matches {args.layers}")
            return 2
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    draw(layers, total, args.title or f"per-layer gradient norms: {args.workdir}").savefig(
        output, format="png"
    )
    last = {k: v[1][-1] for k, v in layers.items()}
    print(
        f"wrote {output}: {len(layers)} layers, steps {min(int(v[0][0]) for v in layers.values())} to "
        f"{max(int(v[0][-1]) for v in layers.values())}; last norms: "
        + ", ".join(f"{k} {v:.3g}" for k, v in last.items())
    )
    from tricks import diagnostics

    stalled = stalled_layers_of(layers)
    if stalled:
        print("stalled layers (gradient norm typically below "
              f"{diagnostics.STALL_RATIO:g} of the largest layer's): "
              + ", ".join(f"{k} ({v:.2g})" for k, v in stalled.items()))
    return 0


def stalled_layers_of(layers: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """`tricks.diagnostics.stalled_layers` over the log steps that every layer logged.

    Examples:
        >>> steps = np.array([10, 20])
        >>> stalled_layers_of({"Dense_0": (steps, np.array([1e-6, 1e-6])), "head": (steps, np.array([1.0, 2.0]))})
        {'Dense_0': 7.5e-07}
    """
    from tricks import diagnostics

    common = set.intersection(*(set(steps.tolist()) for steps, _ in layers.values()))
    return diagnostics.stalled_layers({layer: [value for step, value in zip(steps.tolist(), norms, strict=True)
                                               if step in common] for layer, (steps, norms) in layers.items()})
