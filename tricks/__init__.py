"""tricks: every well-known training trick as a named, composable, tested JAX component.

Importing `tricks` registers every built-in component in the default `registry`, then
loads third-party components from the ``tricks.plugins`` entry-point group. First, if no
JAX backend has started, it asks XLA:CPU for its own convolution kernels instead of
YNNPACK's, which are several times slower for 2-D convolutions' gradients (see
`tricks._xla_cpu`; a user's own ``--xla_cpu_experimental_ynn_fusion_type`` stands). It
also has XLA:CPU run JAX's random-number hash written out rather than as a loop: the
same numbers, dropout masks about 1.7x faster (`tricks._threefry_cpu`).

Examples:
    >>> import registry, tricks
    >>> "config" in dir(tricks)
    True
"""

from tricks import _threefry_cpu, _xla_cpu

_xla_cpu.use_xla_convolutions()
_threefry_cpu.write_out_threefry()

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
