"""Show one component in full: signature, defaults and docstring.

Examples:
  tricks show optimizer adamw
  tricks show schedule one_cycle
"""

from __future__ import annotations

import argparse

import registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", help="the component's kind (see 'tricks list')")
    parser.add_argument("name", help="the component's name")


def run(args: argparse.Namespace) -> int:
    import tricks  # noqa: F401  (registers the built-in components)

    print(registry.describe(args.kind, args.name))
    return 0
