"""tricks: every well-known training trick as a named, composable, tested JAX component.

Importing `tricks` registers every built-in component in the default `registry`, then
loads third-party components from the ``tricks.plugins`` entry-point group.

Examples:
    >>> import registry, tricks
    >>> "config" in dir(tricks)
    True
"""

import registry
from tricks import config
from tricks import data
from tricks import init, models, losses, augment, metrics
from tricks import train
from tricks import optimizers
from tricks import schedules
from tricks import diagnostics, lr_finder
from tricks import ensembles

registry.load_plugins("tricks.plugins")

__all__ = ["augment", "config", "data", "init", "losses", "models", "optimizers", "schedules", "train"]
__all__ += ["diagnostics", "lr_finder"]
__all__ += ["ensembles"]
