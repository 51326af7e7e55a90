"""Diagnose a model before training: 'tricks diagnose init' judges initializations by activations.

init: pushes one batch of training data through the untrained model once per init
scheme (the model spec's init argument is replaced by each) and reports per hidden
layer the mean and std of the activations, their scale (RMS over the input's), the
share saturated (|tanh| > 0.99; sigmoid < 0.01 or > 0.99) and the share of dead ReLUs
(0 on every example), then a verdict per scheme (collapses, explodes, saturates, dead
units, or healthy; every layer is judged, a single one too, see
`tricks.diagnostics.InitReport.verdict`); writes a grid of per-layer activation
histograms, one row per scheme.

Examples:
  tricks diagnose init --config experiments/configs/deep_tanh_mlp.py \\
      --init xavier_normal,kaiming_normal,orthogonal,"normal(stddev=0.01)","normal(stddev=1.0)"
  tricks diagnose init --config experiments/configs/deep_relu_mlp.py \\
      --init xavier_normal,kaiming_normal -o relu.png
"""

from __future__ import annotations

import argparse
import pathlib

from tools.commands._common import add_config_arguments, load_training_config

DEFAULT_INITS = "xavier_normal,kaiming_normal,orthogonal,normal(stddev=0.01),normal(stddev=1.0)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_subparsers(dest="target", metavar="WHAT")
    init = targets.add_parser(
        "init",
        help="initializations judged by the activations they produce",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(init)
    init.add_argument(
        "--init",
        default=DEFAULT_INITS,
        help=f"comma-separated init specs (commas inside parentheses are kept; default: {DEFAULT_INITS})",
    )
    init.add_argument(
        "--examples", type=int, default=256, help="size of the batch pushed through (default: 256)"
    )
    init.add_argument("-o", "--output", default="init.png", help="the histogram grid PNG (default: init.png)")


def split_specs(text: str) -> list[str]:
    """Splits a comma-separated list of specs at the commas outside parentheses and brackets.

    Examples:
        >>> split_specs("xavier_normal, normal(stddev=0.01, mean=0.0),orthogonal")
        ['xavier_normal', 'normal(stddev=0.01, mean=0.0)', 'orthogonal']
    """
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def run(args: argparse.Namespace) -> int:
    if getattr(args, "target", None) != "init":
        print("tricks diagnose: choose what to diagnose: init (see 'tricks diagnose init --help')")
        return 2
    import registry
    from tricks import diagnostics

    config = load_training_config(args)
    dataset = registry.build("dataset", config.dataset)
    images, _ = dataset.arrays("train")
    if not 1 <= args.examples <= len(images):
        print(f"tricks diagnose: --examples must be in [1, {len(images)}], got {args.examples}")
        return 2
    reports = diagnostics.compare_inits(
        config.model, split_specs(args.init), images[: args.examples], dataset.num_classes, seed=config.seed
    )
    print(f"model: {diagnostics.as_spec(config.model)}; {args.examples} training examples of {dataset.name}")
    print(diagnostics.init_table(reports))
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    diagnostics.draw_init_histograms(
        reports, f"activations at init: {args.config or 'default config'}"
    ).savefig(output, format="png")
    print(f"wrote {output}")
    return 0
