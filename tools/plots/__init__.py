"""One module per target of `tricks plot`.

A plot module has a docstring (its first line is the help line, the rest the
description), ``add_arguments(parser)`` and ``run(args) -> int``. Its name, with ``_``
written as ``-``, is the target's name: ``tricks plot NAME ...``. Adding a plot is adding
a module here, exactly as adding a command is adding a module to `tools.commands`.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def discover() -> dict[str, ModuleType]:
    """The plot modules of this package, by target name, sorted.

    Examples:
        >>> "schedule" in discover()
        True
    """
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[info.name.rstrip("_").replace("_", "-")] = module
    return found
