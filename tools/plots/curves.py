"""Training vs evaluation loss and accuracy, and the learning rate, from a run's metrics.jsonl.

Examples:
  tricks plot curves runs/digits -o curves.png
"""

from __future__ import annotations

import argparse
import json
import pathlib
from collections import defaultdict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workdir", help="a folder written by 'tricks train'")
    parser.add_argument("-o", "--output", default="curves.png", help="the PNG written (default: curves.png)")


def read_metrics(workdir: str | pathlib.Path) -> dict[str, tuple[list[int], list[float]]]:
    """Each metric of ``metrics.jsonl`` as (steps, values), skipping missing values.

    Examples:
        >>> import tempfile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "metrics.jsonl").write_text('{"step": 1, "train/loss": 2.0}\\n{"step": 2, "train/loss": 1.0}\\n')
        >>> read_metrics(d)["train/loss"]
        ([1, 2], [2.0, 1.0])
    """
    path = pathlib.Path(workdir) / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: is {workdir} a training workdir?")
    series: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for line in path.read_text().splitlines():
        record = json.loads(line)
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)):
                series[key][0].append(record["step"])
                series[key][1].append(value)
    return dict(series)


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        series = read_metrics(args.workdir)
    except FileNotFoundError as exc:
        print(f"tricks plot curves: {exc}")
        return 2
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, metric in zip(axes[:2], ("loss", "accuracy")):
        if f"train/{metric}" in series:
            ax.plot(*series[f"train/{metric}"], label="train", color="black", lw=1.2)
        for key in sorted(series):
            if key.startswith("eval/") and key.endswith(f"/{metric}"):
                ax.plot(*series[key], marker="o", ms=3, label=key.split("/")[1])
        ax.set(xlabel="step", ylabel=metric if metric == "accuracy" else "loss (eval: NLL)", title=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_yscale("log")
    rate = [k for k in ("train/learning_rate",) if k in series]
    for key in rate:
        axes[2].plot(*series[key], color="tab:red")
    axes[2].set(xlabel="step", ylabel="learning rate", title="learning rate")
    axes[2].grid(alpha=0.3)
    fig.suptitle(str(args.workdir))
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    plt.close(fig)
    print(f"wrote {args.output}")
    return 0
