"""Learning-rate and momentum schedules (SPEC §2), each registered as a ``schedule``.

Every schedule but `reduce_on_plateau` is a factory returning a pure, jittable function
``step -> value``. The step may be a Python int, an int32/int64 array or a float; it is
converted to float first (float32, or float64 with x64), so nothing overflows at steps
past 2**31, and the function broadcasts over arrays and works under `jax.vmap`.

Registered names: ``constant``, ``linear``, ``step``, ``multistep``, ``piecewise``,
``exponential``, ``natural_exp``, ``inverse_time``, ``inverse_sqrt``, ``noam``,
``polynomial``, ``cosine``, ``warmup``, ``scaled``, ``cyclic``, ``cyclic_momentum``,
``one_cycle``, ``one_cycle_momentum``, ``sgdr``, ``join``, ``reduce_on_plateau``,
``wsd``, ``rex``, ``tanh``, ``noisy``.
Each matches its reference (torch ``lr_scheduler``, Keras ``schedules``, Optax, timm or
the paper, named in its docstring) at every step, as the fixture and formula tests check.

Schedules compose by spec: ``warmup``, ``scaled``, ``noisy`` and ``join`` take schedules (or numbers)::

    registry.build("schedule", "warmup(cosine(init_value=0.1, decay_steps=900), warmup_steps=100)")

Lengths from the run: in a training config, a schedule's length that is the run's
(``cosine``/``polynomial``/``rex``/``tanh`` ``decay_steps``, ``linear`` ``transition_steps``,
``one_cycle``/``one_cycle_momentum``/``wsd`` ``total_steps``) may be left out; the engine fills it
(`fit_to_run`; inside ``warmup`` the length minus the warmup, inside ``join`` the part's
length) and warns at the start where a given length differs from the run's.

Momentum schedules (`cyclic_momentum`, `one_cycle_momentum`) go to an optimizer's
``momentum`` or ``b1``, next to the matching rate schedule.

Cycle ends: `sgdr`, `cyclic` and `one_cycle` return a `Cyclical`, a step function with a
``cycle_ends(total_steps)`` method giving the step counts at which each cycle is over, the
snapshot points of a snapshot ensemble; `warmup`, `scaled`, `noisy` and `join` keep it, shifted.
The function `cycle_ends(schedule_or_spec, total_steps)` does the same from a spec.

Reduce on plateau: `reduce_on_plateau` builds a `Plateau` (a rule with ``init()`` and a
jittable ``update(state, metric)``) whose `PlateauState` holds a scale of the rate. Chain
`scale_by_plateau` after an optimizer, and after each evaluation call
``opt_state = feed_plateau(opt_state, val_loss)``, which advances every plateau found in
the optimizer state::

    optimizer = optax.chain(optax.adam(1e-3), scale_by_plateau(reduce_on_plateau(patience=5)))
    opt_state = feed_plateau(opt_state, val_loss)

In a config, ``cfg.optimizer = "on_plateau(adam(learning_rate=1e-3), reduce_on_plateau(patience=5))"``
does the chaining, and the training loop feeds the validation loss after each evaluation.

Examples:
    >>> import registry, tricks
    >>> s = registry.build("schedule", "warmup(cosine(init_value=0.1, decay_steps=900), warmup_steps=100)")
    >>> [round(float(s(t)), 4) for t in (0, 50, 100, 550, 1000, 10**12)]
    [0.0, 0.05, 0.1, 0.05, 0.0, 0.0]
"""

from tricks.schedules._anneal import rex, tanh
from tricks.schedules._basic import constant, linear, multistep, piecewise, step
from tricks.schedules._cycles import Cyclical, cycle_ends
from tricks.schedules._cyclic import cyclic, cyclic_momentum
from tricks.schedules._decay import (
    cosine,
    exponential,
    inverse_sqrt,
    inverse_time,
    natural_exp,
    noam,
    polynomial,
)
from tricks.schedules._join import join
from tricks.schedules._length import RunSteps, fit_to_run
from tricks.schedules._noise import noisy
from tricks.schedules._one_cycle import one_cycle, one_cycle_momentum
from tricks.schedules._plateau import (
    Plateau,
    PlateauState,
    ScaleByPlateauState,
    feed_plateau,
    reduce_on_plateau,
    scale_by_plateau,
)
from tricks.schedules._sgdr import sgdr
from tricks.schedules._warmup import scaled, warmup
from tricks.schedules._wsd import wsd

__all__ = [
    "Cyclical",
    "Plateau",
    "PlateauState",
    "RunSteps",
    "ScaleByPlateauState",
    "constant",
    "cosine",
    "cycle_ends",
    "cyclic",
    "cyclic_momentum",
    "exponential",
    "feed_plateau",
    "fit_to_run",
    "inverse_sqrt",
    "inverse_time",
    "join",
    "linear",
    "multistep",
    "natural_exp",
    "noam",
    "noisy",
    "one_cycle",
    "one_cycle_momentum",
    "piecewise",
    "polynomial",
    "reduce_on_plateau",
    "rex",
    "scale_by_plateau",
    "scaled",
    "sgdr",
    "step",
    "tanh",
    "warmup",
    "wsd",
]
