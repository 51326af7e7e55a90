"""One module per target of `tricks plot`.

A plot module has a docstring (its first line is the help line, the rest the
description), ``add_arguments(parser)`` and ``run(args) -> int``. Its name, with ``_``
written as ``-``, is the target's name: ``tricks plot NAME ...``. Adding a plot is adding
a module here, exactly as adding a command is adding a module to `tools.commands`.
"""


from tools._modules import discover as _discover


def discover():
    """The plot modules of this package, by target name, sorted.

    Examples:
        >>> "schedule" in discover()
        True
    """
    return _discover(__name__, __path__)
