"""One module per benchmark of `tricks bench`.

A benchmark module has a docstring (its first line is the help line, the rest the
description), ``add_arguments(parser)`` and ``run(args) -> int``. Its name, with ``_``
written as ``-``, is the benchmark's name: ``tricks bench NAME ...``. Adding a benchmark
is adding a module here (``loop.py`` gives ``tricks bench loop``). Benchmarks print
their measurements; tests never time anything.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def discover() -> dict[str, ModuleType]:
    """The benchmark modules of this package, by benchmark name, sorted.

    Examples:
        >>> "optimizers" in discover()
        True
    """
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[info.name.rstrip("_").replace("_", "-")] = module
    return found
