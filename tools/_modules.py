"""Discovery of one-module-per-entry packages (commands, plot targets, benchmarks)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Iterable
from types import ModuleType


def discover(package: str, path: Iterable[str]) -> dict[str, ModuleType]:
    """The public modules of `package`, by entry name (``_`` written ``-``), sorted.

    Each module has a docstring (first line: help; the rest: description),
    ``add_arguments(parser)`` and ``run(args) -> int``.

    Examples:
        >>> import tools.commands
        >>> "list" in discover("tools.commands", tools.commands.__path__)
        True
    """
    found = {}
    for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        found[info.name.rstrip("_").replace("_", "-")] = module
    return found


def add_subparsers(parser: argparse.ArgumentParser, modules: dict[str, ModuleType], dest: str,
                   metavar: str) -> None:
    """One sub-parser per module, with ``args.run_entry`` set to the module's `run`."""
    sub = parser.add_subparsers(dest=dest, metavar=metavar)
    for name, module in modules.items():
        doc = (module.__doc__ or "").strip()
        entry = sub.add_parser(name, help=doc.partition("\n")[0], description=doc,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(entry)
        entry.set_defaults(run_entry=module.run)
