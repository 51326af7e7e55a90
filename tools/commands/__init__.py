"""One module per sub-command of `tricks`.

A command module has a docstring (its first line is the help line, the rest the
description), ``add_arguments(parser)`` and ``run(args) -> int``. Its name, with ``_``
written as ``-``, is the sub-command's name. Adding a command is adding a module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def discover() -> dict[str, ModuleType]:
    """The command modules of this package, by sub-command name, sorted."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[info.name.rstrip("_").replace("_", "-")] = module
    return found
