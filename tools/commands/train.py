"""Train a model from a config into a workdir; resume if the workdir holds a run.

With no arguments, trains the embedded default (an MLP on scikit-learn's digits) into a
fresh folder under ./runs and prints where it went.

Examples:
  tricks train
  tricks train --config experiments/configs/digits.py --workdir runs/digits
  tricks train --config experiments/configs/mnist1d_cnn.py:smoke --workdir /tmp/smoke --config.seed=1
  tricks train --workdir runs/digits --config.optimizer='adamw(learning_rate=3e-3, weight_decay=1e-4)'
"""

from __future__ import annotations

import argparse
import datetime
import logging
import pathlib
import sys

from tools.commands._common import add_config_arguments, load_training_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--workdir", help="where metrics, checkpoints and the summary go (default: ./runs/<time>)")
    parser.add_argument("--force", action="store_true",
                        help="train even if WORKDIR holds a run of a different config (its files are kept)")


def run(args: argparse.Namespace) -> int:
    from tricks import train

    cfg = load_training_config(args)
    workdir = args.workdir
    if workdir is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = str(cfg.dataset).split("(")[0] if isinstance(cfg.dataset, str) else cfg.dataset.name
        workdir = pathlib.Path("runs") / f"{stamp}-{name}"
    print(f"workdir: {workdir}")
    _quiet_failed_saves()
    try:
        summary = train.train_and_evaluate(cfg, workdir, force=args.force)
    except train.WorkdirError as exc:  # another run holds the workdir, or a write failed (a full disk)
        print(f"tricks train: {exc}")
        return 1
    except OSError as exc:
        why = _unwritable(pathlib.Path(workdir), exc)
        if why is None:
            raise
        print(f"tricks train: --workdir {workdir} cannot be written: {why}")
        return 2
    evaluation = ", ".join(f"{split} accuracy {m['accuracy']:.4f}" for split, m in summary["splits"].items())
    print(f"done: step {summary['step']}, {evaluation}, {summary['wall_time_s']:.1f} s; results in {workdir}")
    return 0


def _quiet_failed_saves() -> None:
    """Drops what Orbax and TensorStore print of a failed save (a full disk) as it happens,
    from their threads: absl's log and asyncio's "Task exception was never retrieved",
    with tracebacks, and the "Event loop is closed" of the writes still in flight. The
    run raises the failure as one line (`tricks.train.Checkpoints`)."""
    logging.getLogger("absl").setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    sys.unraisablehook = _unraisable


def _unraisable(unraisable) -> None:
    if not (isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed"):
        sys.__unraisablehook__(unraisable)


def _unwritable(workdir: pathlib.Path, exc: OSError) -> str | None:
    """Why `exc` means that `workdir` cannot be written, or None if it is about another path.

    Examples:
        >>> import errno, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "notes.txt").write_text("")
        >>> _unwritable(folder / "notes.txt" / "run", NotADirectoryError(errno.ENOTDIR, "Not a directory",
        ...                                                              str(folder / "notes.txt" / "run")))
        '.../notes.txt is a file, not a folder'
        >>> _unwritable(folder / "run", OSError(errno.EROFS, "Read-only file system", str(folder / "run")))
        'Read-only file system: .../run'
        >>> _unwritable(folder / "run", OSError(errno.ENOENT, "No such file or directory", "/data/train.npz")) is None
        True
    """
    if exc.filename is None:
        return None
    path, here = pathlib.Path(exc.filename).absolute(), workdir.absolute()
    if path != here and here not in path.parents and path not in here.parents:
        return None
    file = next((p for p in (here, *here.parents) if p.exists() and not p.is_dir()), None)
    if file is not None:
        return f"{file} is a file, not a folder"
    return f"{exc.strerror}: {exc.filename}"
