"""Baselines: each config of experiments/configs over several seeds, next to published figures.

Claim: the toolkit's standard recipes reach the published accuracy of each dataset's
reference models (MNIST-1D: Greydanus & Kobak 2020, logistic 32%, MLP 68%, CNN 94%;
Fashion-MNIST benchmark: MLP 88.3%, two-conv net 91.6%).

Command:
  python -m experiments.baselines --seeds 3 [--configs digits mnist1d_cnn ...] [--workdir runs/baselines]

Result (2 CPU cores, 3 seeds, test accuracy mean ± std): see the table printed at the end,
and each config's docstring.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics

from tricks import config as config_lib
from tricks import train

CONFIGS = pathlib.Path(__file__).parent / "configs"
PUBLISHED = {
    "digits": "(none; goal >= 97%)",
    "mnist1d_mlp": "68% (Greydanus & Kobak 2020)",
    "mnist1d_cnn": "94% (Greydanus & Kobak 2020)",
    "fashion_mnist_mlp": "88.3% (Fashion-MNIST benchmark, MLPClassifier)",
    "fashion_mnist_cnn": "91.6% (Fashion-MNIST benchmark, 2 conv + pooling)",
}


def run(names: list[str], seeds: int, workdir: pathlib.Path, smoke: bool) -> list[dict]:
    """Trains every named config for each seed, the seeds side by side
    (`tricks.train.train_population`); returns one row per config (``seconds``: the wall
    time of the config's seeds together)."""
    rows = []
    for name in names:
        configs = [config_lib.load(f"{CONFIGS / name}.py" + (":smoke" if smoke else ""),
                                   [f"--config.seed={seed}", "--config.progress=false"]) for seed in range(seeds)]
        summaries = train.train_population(configs, [workdir / name / f"seed{seed}" for seed in range(seeds)],
                                           force=True)
        accuracies = [100 * summary["eval"]["accuracy"] for summary in summaries]
        times = [summary["wall_time_s"] for summary in summaries]
        for seed, accuracy in enumerate(accuracies):
            print(f"{name} seed {seed}: test accuracy {accuracy:.2f}%", flush=True)
        rows.append({
            "config": name,
            "mean": statistics.mean(accuracies),
            "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "runs": accuracies,
            "seconds": statistics.mean(times),
            "published": PUBLISHED.get(name, "?"),
        })
    return rows


def table(rows: list[dict]) -> str:
    """The results as an aligned text table."""
    lines = [f"{'config':<20} {'test accuracy (%)':<20} {'s/seeds':>7}  published",
             "-" * 90]
    for r in rows:
        ours = f"{r['mean']:.2f} ± {r['std']:.2f}"
        lines.append(f"{r['config']:<20} {ours:<20} {r['seconds']:>7.0f}  {r['published']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="*", default=list(PUBLISHED))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("runs/baselines"))
    parser.add_argument("--smoke", action="store_true", help="a few steps per config, for tests")
    args = parser.parse_args(argv)
    rows = run(args.configs, args.seeds, args.workdir, args.smoke)
    print(table(rows))
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "baselines.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
