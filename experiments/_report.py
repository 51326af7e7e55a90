"""An experiment's result saved under ``experiments/results/NAME/``: the table (``table.md``,
``result.json``) and the curves (``curves.png``), with the machine, the commit and the
run time."""

from __future__ import annotations

import json
import math
import os
import pathlib
import platform
import time
import warnings

import numpy as np

from experiments._registry import VERDICTS, Experiment
from experiments._study import Options, Panels, Points, Result

RESULTS = pathlib.Path(__file__).parent / "results"
"""Where full and default runs keep their results (committed with the code)."""


def machine() -> str:
    """The machine in a few words: processor count, platform, JAX backend and devices.

    Examples:
        >>> "cores" in machine()
        True
    """
    import jax

    devices = jax.devices()
    return (f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python "
            f"{platform.python_version()}, jax {jax.__version__} on {len(devices)} {devices[0].device_kind} "
            f"device(s)")


def markdown(experiment: Experiment, options: Options, result: Result, seconds: float, version: str) -> str:
    """The result as a Markdown page: the claim, its source, the command, the table, the
    reading and the verdict, and where and how long it ran."""
    command = f"tricks experiments run {experiment.name}" + ("" if options.mode == "default" else
                                                             f" --{options.mode}")
    if options.seeds:
        command += f" --seeds {options.seeds}"
    widths = [max(len(str(row[i])) for row in [result.columns, *result.rows]) for i in range(len(result.columns))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    table = "\n".join([line(result.columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                       *(line(row) for row in result.rows)])
    return (f"# {experiment.name}: {experiment.claim}\n\n"
            f"Source: {experiment.source}\n\nPublished: {result.published}\n\n"
            f"Command: `{command}`\n\n{table}\n\n{result.reading}\n\n**Verdict: {result.verdict}.**\n\n"
            f"Ran in {seconds / 60:.1f} min{_reused(result)} on {machine()}; {version}; "
            f"{time.strftime('%Y-%m-%d')}.\n")


def _reused(result: Result) -> str:
    reused, total = result.reused
    return f" ({reused} of its {total} runs reused, finished in an earlier run)" if reused else ""


def plot(shown: Panels | Points, path: pathlib.Path) -> bool:
    """The curves, one panel per arm: the seeds' mean and their spread (min to max)
    as a band (`Points`: `plot_points`). Returns whether there was anything to plot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(shown, Points):
        return plot_points(shown, path)
    panels = {name: curve for name, curve in shown.curves.items() if curve[0]}
    if not panels:
        return False
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(3.2 * columns, 2.6 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    for ax, (name, (steps, values)) in zip(axes.flat, panels.items(), strict=False):
        curves = np.array(values, dtype=float)
        with warnings.catch_warnings():  # (steps where every seed is NaN stay NaN, unplotted)
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = np.nanmean(curves, 0), np.nanmin(curves, 0), np.nanmax(curves, 0)
        ax.fill_between(steps, low, high, alpha=0.3, linewidth=0)
        ax.plot(steps, mean, linewidth=1.2)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel(shown.x_label, fontsize=8)
        ax.tick_params(labelsize=7)
        if shown.log_x:
            ax.set_xscale("log", base=2)
        if shown.log_y:
            ax.set_yscale("log")
        elif shown.symlog > 0:
            ax.set_yscale("symlog", linthresh=shown.symlog)
            ax.axhline(0.0, color="0.6", linewidth=0.6)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(shown.label, fontsize=8)
    figure.savefig(path, dpi=110)
    return True


def plot_points(shown: Points, path: pathlib.Path) -> bool:
    """One panel per measure, each arm a labelled point at its x: the seeds' mean with an
    error bar from their min to their max. Returns whether there was anything to plot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = {name: arms for name, arms in shown.points.items() if arms}
    if not panels:
        return False
    figure = Figure(figsize=(5.0 * len(panels), 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, arms) in zip(axes, panels.items(), strict=True):
        for i, (arm, (x, values)) in enumerate(arms.items()):
            kept = np.array([v for v in values if math.isfinite(v)], dtype=float)
            if not kept.size:
                continue
            mean = kept.mean()
            ax.errorbar([x], [mean], yerr=[[mean - kept.min()], [kept.max() - mean]], fmt="o", markersize=4,
                        capsize=2, color=f"C{i % 10}")
            ax.annotate(arm, (x, mean), fontsize=6, xytext=(4, 2), textcoords="offset points")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(shown.x_label, fontsize=8)
        ax.tick_params(labelsize=7)
        if shown.log_x:
            ax.set_xscale("log", base=2)
    figure.savefig(path, dpi=110)
    return True


def save(experiment: Experiment, options: Options, result: Result, seconds: float,
         out: pathlib.Path) -> pathlib.Path:
    """Writes ``out/NAME/{table.md, result.json, curves.png}`` (and a PNG per entry of
    ``result.plots``); returns the folder.

    Raises:
        ValueError: the result's verdict is not one of `VERDICTS`.
    """
    from tricks.train import code_version

    if result.verdict not in VERDICTS:
        raise ValueError(f"experiment {experiment.name}: verdict {result.verdict!r} is not one of {VERDICTS}")
    folder = pathlib.Path(out) / experiment.name
    folder.mkdir(parents=True, exist_ok=True)
    version = code_version()
    (folder / "table.md").write_text(markdown(experiment, options, result, seconds, version))
    plotted = plot(Panels(result.curves, result.curve_label, result.log_y), folder / "curves.png")
    plots = [f"{stem}.png" for stem, panels in result.plots.items() if plot(panels, folder / f"{stem}.png")]
    record = {"name": experiment.name, "claim": experiment.claim, "source": experiment.source,
              "mode": options.mode, "seeds": options.seeds, "verdict": result.verdict, "reading": result.reading,
              "published": result.published, "columns": result.columns, "rows": result.rows,
              "numbers": result.numbers, "seconds": round(seconds, 1), "runs_reused": list(result.reused),
              "machine": machine(),
              "code_version": version, "date": time.strftime("%Y-%m-%d"), "curves": plotted, "plots": plots}
    (folder / "result.json").write_text(json.dumps(record, indent=1, allow_nan=True) + "\n")
    return folder


def saved_verdict(name: str, out: pathlib.Path = RESULTS) -> str:
    """The verdict of the experiment's saved result (``not run yet`` without one)."""
    path = pathlib.Path(out) / name / "result.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return "not run yet"
    return f"{record.get('verdict', '?')} ({record.get('mode', '?')} mode)"
