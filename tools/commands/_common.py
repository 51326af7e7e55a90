"""Arguments shared by the commands that take a training config."""

from __future__ import annotations

import argparse

import ml_collections


def add_config_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """``--config FILE[:arg]`` plus any number of ``--config.key=value`` overrides."""
    parser.add_argument(
        "--config",
        required=required,
        metavar="FILE[:arg]",
        help="a Python config (get_config(arg)), YAML or JSON file; ':smoke' shrinks any of ours to a few steps. "
        "Override any field with --config.key=value (e.g. --config.optimizer='adamw(learning_rate=3e-4)').",
    )


def load_training_config(args: argparse.Namespace) -> ml_collections.ConfigDict:
    """The config named by ``--config`` (or the default one), completed, with overrides applied."""
    from tricks import config, train

    base = config.load_file(args.config) if args.config else train.default_config()
    return config.apply_overrides(train.complete(base), args.overrides)
