"""Find a learning rate: the LR range test on a training config, with a plot and the curve.

The rate rises from --start to --end over --steps training steps (exponentially by
default) on the config's own model, data, loss and optimizer (its learning rate, a
schedule included, is replaced by the rising rate); the smoothed loss is recorded until
it exceeds 4x its best. Suggested rates: minimum/10 (the default: a tenth of the rate at
the lowest smoothed loss; in the JSON, suggestions.minimum_over_10 beside that rate,
minimum_lr; see tricks.lr_finder for why), steepest, valley (fastai's default).
Writes OUTPUT (a PNG with the suggestions marked) and the curve beside it as .csv and
.json. Nothing of a run is changed: the test starts from a fresh initialization.

Examples:
  tricks lr-find
  tricks lr-find --config experiments/configs/digits.py -o runs/lr/digits.png
  tricks lr-find --config experiments/configs/digits.py \\
      --config.optimizer='momentum(learning_rate=0.1, momentum=0.9)'
  tricks lr-find --config experiments/configs/mnist1d_cnn.py --start 1e-5 --end 1 --steps 200 --mode linear
"""

from __future__ import annotations

import argparse
import pathlib

from tools.commands._common import add_config_arguments, load_training_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--start", type=float, default=1e-7, help="the first rate (default: 1e-7)")
    parser.add_argument("--end", type=float, default=10.0, help="the last rate (default: 10)")
    parser.add_argument("--steps", type=int, default=100, help="training steps at most (default: 100)")
    parser.add_argument(
        "--mode", choices=("exp", "linear"), default="exp", help="how the rate rises (default: exp)"
    )
    parser.add_argument("--beta", type=float, default=0.98, help="smoothing of the loss (default: 0.98)")
    parser.add_argument(
        "--stop-factor",
        type=float,
        default=4.0,
        help="stop once the smoothed loss exceeds this many times its best (default: 4)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="lr_find.png",
        help="the PNG written; the curve goes beside it as .csv and .json (default: lr_find.png)",
    )


def run(args: argparse.Namespace) -> int:
    from tricks import lr_finder

    config = load_training_config(args)
    try:
        test = lr_finder.lr_find(
            config,
            start=args.start,
            end=args.end,
            steps=args.steps,
            mode=args.mode,
            beta=args.beta,
            stop_factor=args.stop_factor,
        )
    except ValueError as exc:
        print(f"tricks lr-find: {exc}")
        return 2
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    lr_finder.draw(test, f"LR range test: {args.config or 'default config'}").savefig(output, format="png")
    written = [output, *test.save(output.with_suffix(""))]
    print(test.summary())
    if test.stop == "non-finite":
        print(f"the loss became non-finite at rate {test.stop_lr:.3g}")
    print(f"suggested learning rate: {test.suggestion:.3g} ({lr_finder.DEFAULT_SUGGESTION})")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
