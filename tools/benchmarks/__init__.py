"""One module per benchmark of `tricks bench`.

A benchmark module has a docstring (its first line is the help line, the rest the
description), ``add_arguments(parser)`` and ``run(args) -> int``. Its name, with ``_``
written as ``-``, is the benchmark's name: ``tricks bench NAME ...``. Adding a benchmark
is adding a module here (``loop.py`` gives ``tricks bench loop``). Benchmarks print
their measurements; tests never time anything.
"""


from tools._modules import discover as _discover


def discover():
    """The benchmark modules of this package, by benchmark name, sorted.

    Examples:
        >>> "optimizers" in discover()
        True
    """
    return _discover(__name__, __path__)
