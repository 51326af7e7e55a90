"""Entry point of the `tricks` command.

Examples:
    >>> main(["show", "no_such_kind", "adam"])
    tricks show: unknown kind 'no_such_kind'; valid kinds: ...
    2
"""

from __future__ import annotations

import argparse
import logging
import sys

import registry
from tools import commands


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser, with one sub-parser per module in `tools.commands`."""
    parser = argparse.ArgumentParser(
        prog="tricks",
        description="Training tricks for JAX: registered optimizers, schedules, models and datasets, "
        "and the runs, checks and experiments built from them.",
        epilog="Run 'tricks COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in commands.discover().items():
        doc = (module.__doc__ or "").strip()
        summary, _, details = doc.partition("\n")
        command = sub.add_parser(
            name,
            help=summary,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parses `argv` and runs the chosen command; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if extra and "config" not in vars(args):  # only commands that load a config take overrides
        parser.error(f"{args.command}: unrecognized argument {extra[0]!r} (this command takes no config)")
    args.overrides = _overrides(parser, args.command, extra)
    logging.getLogger("absl").setLevel(logging.ERROR)  # Orbax's routine notices are not for users
    from tricks.config import ConfigError
    from tricks.train import NonFiniteLossError, WorkdirError

    try:
        return args.run(args) or 0
    except (registry.RegistryError, ConfigError) as exc:
        print(f"tricks {args.command}: {exc}")
        return 2
    except (NonFiniteLossError, WorkdirError) as exc:  # a diverged run; a busy workdir, a full disk
        print(f"tricks {args.command}: {exc}")
        return 1


def _overrides(parser: argparse.ArgumentParser, command: str, extra: list[str]) -> list[str]:
    """Collects ``--config.key=value`` (or ``--config.key value``) arguments."""
    overrides, i = [], 0
    while i < len(extra):
        arg = extra[i]
        if not arg.startswith("--config."):
            parser.error(f"{command}: unrecognized argument {arg!r}")
        if "=" not in arg:
            if i + 1 >= len(extra):
                parser.error(f"{command}: {arg} needs a value")
            arg, i = f"{arg}={extra[i + 1]}", i + 1
        overrides.append(arg)
        i += 1
    return overrides


if __name__ == "__main__":
    sys.exit(main())
