"""One module per sub-command of `tricks`.

A command module has a docstring (its first line is the help line, the rest the
description), ``add_arguments(parser)`` and ``run(args) -> int``. Its name, with ``_``
written as ``-``, is the sub-command's name. Adding a command is adding a module here.
"""


from tools._modules import discover as _discover


def discover():
    """The command modules of this package, by sub-command name, sorted.

    Examples:
        >>> "list" in discover()
        True
    """
    return _discover(__name__, __path__)
