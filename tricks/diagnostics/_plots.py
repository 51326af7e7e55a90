"""Pictures of the diagnostics: activation histograms per init, the Hessian spectrum, the overfit curve.

Each function returns a matplotlib `Figure` on an Agg canvas (no global pyplot state);
save it with ``figure.savefig(path)``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import numpy as np

from tricks.diagnostics._activations import InitReport
from tricks.diagnostics._hessian import HessianReport
from tricks.diagnostics._sanity import SanityResult


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def draw_init_histograms(reports: Mapping[str, InitReport], title: str = ""):
    """A grid of activation histograms: one row per init scheme, one column per layer.

    The layers of a row share their x range (the activation's range for tanh and sigmoid,
    else the row's 0.1–99.9 percentiles), so a collapse or an explosion shows as the
    histograms shrinking or growing along the row. For ReLU the exact zeros are left out
    of the histogram (their share is written in the panel). Each panel's title gives the
    layer's std and its saturated or dead share; the row's label gives the scheme and its
    verdict (red: not healthy).

    Examples:
        >>> from tricks.diagnostics import LayerStats, layer_statistics
        >>> values = {"Dense_0_activation": np.tanh(np.linspace(-2, 2, 64)).reshape(8, 8)}
        >>> stats = {k: layer_statistics(v, "tanh") for k, v in values.items()}
        >>> reports = {name: InitReport(name, "tanh", stats, values) for name in ("xavier_normal", "zeros")}
        >>> len(draw_init_histograms(reports).axes)
        2
    """
    rows = list(reports.values())
    columns = max(len(r.layers) for r in rows)
    figure = _figure(1.7 * columns + 1.2, 1.45 * len(rows) + 0.8)
    grid = figure.subplots(len(rows), columns, squeeze=False)
    for i, report in enumerate(rows):
        bins = _row_bins(report)
        for j in range(columns):
            axis = grid[i, j]
            axis.tick_params(labelsize=6)
            axis.set_yticks([])
            if j >= len(report.layers):
                axis.set_axis_off()
                continue
            layer = list(report.layers)[j]
            stats, values = report.layers[layer], np.asarray(report.values[layer], np.float64).ravel()
            extra = ""
            if stats.saturated is not None:
                extra = f" sat {100 * stats.saturated:.0f}%"
            elif stats.dead is not None:
                extra = f" dead {100 * stats.dead:.0f}%"
                axis.text(
                    0.97,
                    0.9,
                    f"{100 * np.mean(values == 0):.0f}% zeros (not drawn)",
                    ha="right",
                    transform=axis.transAxes,
                    fontsize=6,
                )
                values = values[values != 0]
            axis.hist(values, bins=bins, color="tab:red" if report.verdict() != "healthy" else "tab:blue")
            axis.set_xlim(bins[0], bins[-1])
            axis.set_title(f"std {stats.std:.2g}{extra}", fontsize=7)
            if i == 0:
                axis.annotate(
                    layer.removesuffix("_activation"),
                    (0.5, 1.35),
                    xycoords="axes fraction",
                    ha="center",
                    fontsize=7,
                    weight="bold",
                )
            if j == 0:
                axis.set_ylabel(f"{report.init}\n{report.verdict()}", fontsize=7)
    _fitted_suptitle(figure, title or "activations at initialization, per layer", fontsize=10)
    return figure


def _fitted_suptitle(figure, text: str, fontsize: float):
    """Sets the figure's title, wrapped onto as many lines as it takes to fit the figure's width.

    A grid of one or two columns is narrower than a title naming a config file.
    """
    renderer = figure.canvas.get_renderer()
    limit = 0.95 * figure.bbox.width
    characters = len(text)
    while True:
        title = figure.suptitle(textwrap.fill(text, characters), fontsize=fontsize)
        width = title.get_window_extent(renderer).width
        if width <= limit or characters <= 8:
            return title
        characters = min(characters - 1, int(characters * limit / width))


def _row_bins(report: InitReport) -> np.ndarray:
    """Histogram bins shared by a scheme's layers: the activation's range, or the row's."""
    if report.activation == "tanh":
        return np.linspace(-1.0, 1.0, 41)
    if report.activation == "sigmoid":
        return np.linspace(0.0, 1.0, 41)
    values = np.concatenate([np.asarray(v, np.float64).ravel() for v in report.values.values()])
    low, high = np.percentile(values, [0.1, 99.9])
    low, high = min(low, 0.0), max(high, 0.0)
    return np.linspace(low, high if high > low else low + 1.0, 41)


def draw_hessian(report: HessianReport, title: str = ""):
    """The Hessian's spectrum: a histogram of every eigenvalue (small models) and the SLQ density.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from tricks.diagnostics import analyze_hessian
        >>> report = analyze_hessian(lambda p: jnp.sum(jnp.arange(8.0) * p ** 2) - p[0] ** 2, jnp.ones(8),
        ...                          k=3, key=jax.random.key(0))
        >>> [axis.get_xlabel() for axis in draw_hessian(report).axes]
        ['eigenvalue', 'eigenvalue']
    """
    panels = 2 if report.spectrum is not None else 1
    figure = _figure(6 * panels, 4.2)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    low = min(float(report.density.nodes.min()), report.top.smallest)
    high = max(float(report.density.nodes.max()), report.sharpness)
    span = max(high - low, 1e-6)
    grid = np.linspace(low - 0.05 * span, high + 0.05 * span, 800)
    sigma = span / 200
    density = report.density.evaluate(grid, sigma)
    axis = axes[-1]
    axis.semilogy(grid, np.maximum(density, 1e-12), color="tab:blue", label="SLQ density")
    axis.set_ylim(max(float(density.max()) * 1e-7, 1e-12), float(density.max()) * 3)
    for value in report.top.values:
        axis.axvline(value, color="tab:red", alpha=0.4, linewidth=0.8)
    axis.axvline(0.0, color="black", linewidth=0.6)
    axis.set_xlabel("eigenvalue")
    axis.set_ylabel("density (log)")
    axis.set_title(
        f"density (stochastic Lanczos quadrature, {report.density.nodes.shape[0]} probes); "
        f"red: top {len(report.top.values)}",
        fontsize=9,
    )
    if report.spectrum is not None:
        axis = axes[0]
        axis.hist(report.spectrum, bins=100, color="tab:gray", log=True)
        axis.axvline(0.0, color="black", linewidth=0.6)
        axis.set_xlabel("eigenvalue")
        axis.set_ylabel("count (log)")
        axis.set_title(
            f"full spectrum: {report.num_params} eigenvalues, {100 * report.minimum_ratio:.1f}% positive",
            fontsize=9,
        )
    figure.suptitle(
        title or f"Hessian: sharpness {report.sharpness:.4g}, minimum ratio {report.minimum_ratio:.3f}",
        fontsize=10,
    )
    return figure


def draw_sanity(result: SanityResult, title: str = ""):
    """The overfit check: training loss (log scale) and accuracy against the step.

    Examples:
        >>> import numpy as np, ml_collections
        >>> result = SanityResult(True, 3, np.array([2.0, 1.0, 0.5]), np.array([0.2, 0.6, 1.0]), 1.0, 8, [],
        ...                       ml_collections.ConfigDict())
        >>> [axis.get_ylabel() for axis in draw_sanity(result).axes]
        ['training loss', 'training accuracy']
    """
    figure = _figure(8, 4.5)
    axis = figure.add_subplot()
    steps = np.arange(1, len(result.losses) + 1)
    lines = axis.semilogy(steps, result.losses, color="tab:blue", label="loss")
    axis.set_xlabel("step")
    axis.set_ylabel("training loss")
    axis.grid(alpha=0.3)
    right = axis.twinx()
    lines += right.plot(steps, result.accuracies, color="tab:orange", label="accuracy")
    right.set_ylabel("training accuracy")
    right.set_ylim(0, 1.05)
    if result.steps_to_fit is not None:
        lines.append(
            axis.axvline(
                result.steps_to_fit,
                color="tab:green",
                linestyle="--",
                label=f"100% at step {result.steps_to_fit}",
            )
        )
    axis.legend(lines, [line.get_label() for line in lines], loc="center right")
    axis.set_title(title or result.summary(), fontsize=9)
    return figure
