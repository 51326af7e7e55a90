"""Class probabilities of a trained run for the inputs in a .npy file, written to another .npy.

The inputs are as the run's dataset stores its features (one example or a batch, e.g.
digits' 8x8x1 pixel counts); the run's own preprocessing is applied (`tricks.train.load`).
With --labels, also prints the run's evaluation metrics on them.

Examples:
  tricks predict --workdir runs/digits inputs.npy -o probabilities.npy
  tricks predict --workdir runs/digits inputs.npy -o probabilities.npy --labels labels.npy --step 200
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", required=True, help="a folder written by 'tricks train'")
    parser.add_argument("inputs", help="a .npy file of inputs: one example or a batch")
    parser.add_argument("-o", "--output", required=True, help="the .npy file written: (N, classes) probabilities")
    parser.add_argument("--step", type=int, help="which checkpoint (default: the newest)")
    parser.add_argument("--labels", help="a .npy file of integer labels: print the evaluation metrics too")
    parser.add_argument("--ema", action="store_true",
                        help="the moving average of the weights instead of the weights "
                        "(a run trained with ema_decay > 0)")


def run(args: argparse.Namespace) -> int:
    from tricks import train

    try:
        inputs = _read(args.inputs)
        labels = _read(args.labels) if args.labels else None
        trained = train.load(args.workdir, args.step, ema=args.ema)
        probabilities = trained.predict(inputs)
        metrics = trained.evaluate(inputs, labels) if labels is not None else None
    except (FileNotFoundError, ValueError) as exc:
        print(f"tricks predict: {exc}")
        return 2
    path = pathlib.Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, probabilities)
    predicted = probabilities.argmax(-1)
    shown = predicted.tolist() if predicted.ndim == 0 else predicted[:10].tolist()
    print(f"wrote {path}: class probabilities {probabilities.shape} from step {trained.step}; "
          f"predicted classes {shown}{' ...' if predicted.size > 10 else ''}")
    if metrics is not None:
        print(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
                        if not isinstance(v, list)))
    return 0


def _read(path: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path} is not a .npy array file ({exc})") from None
