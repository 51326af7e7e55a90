"""Reduce the rate when a monitored metric stops improving: torch ``ReduceLROnPlateau``, in JAX.

The rate now depends on the metric, not the step, so this is not a step -> value function:
`reduce_on_plateau` (registered as a ``schedule``) builds a `Plateau`, whose `PlateauState`
holds the scale to apply and is advanced by ``Plateau.update(state, metric)``.

In an Optax chain, `scale_by_plateau` multiplies the updates by the current scale; placed
after an optimizer, that is exactly multiplying its learning rate. At each evaluation the
training loop feeds the validation loss to every plateau in its optimizer state with
`feed_plateau`::

    plateau = reduce_on_plateau(factor=0.5, patience=3)
    optimizer = optax.chain(optax.sgd(0.1, momentum=0.9), scale_by_plateau(plateau))
    opt_state = optimizer.init(params)
    ...                                             # train steps use optimizer.update
    opt_state = feed_plateau(opt_state, val_loss)   # after each evaluation (jittable)

The current scale is ``plateau_state.scale`` in the `ScaleByPlateauState` found in the
optimizer state, so it is logged and checkpointed with the rest of the state.

In a config, the registered optimizer ``on_plateau(<optimizer>, reduce_on_plateau(...))``
does the chaining, and the training loop (`tricks.train.train_and_evaluate`) calls
`feed_plateau` with the validation loss after every evaluation (see `reduce_on_plateau`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

import registry
from tricks.schedules import _core
from tricks.schedules._core import as_float


class PlateauState(NamedTuple):
    """What a `Plateau` remembers between evaluations (torch's attributes of the same names).

    Attributes:
        best: the best metric seen so far (+inf, or -inf in ``max`` mode, before any).
        num_bad_epochs: evaluations in a row without a significant improvement (int32).
        cooldown_counter: evaluations left in the cooldown after a reduction (int32).
        scale: the factor on the base rate: 1, then `factor` times less at each reduction.
    """

    best: jax.Array
    num_bad_epochs: jax.Array
    cooldown_counter: jax.Array
    scale: jax.Array


@dataclasses.dataclass(frozen=True)
class Plateau:
    """The rule of torch ``ReduceLROnPlateau``, acting on a scale of the rate (see `reduce_on_plateau`).

    Examples:
        >>> plateau = Plateau(factor=0.5, patience=1)
        >>> state = plateau.init()
        >>> for loss in [1.0, 0.9, 0.95, 0.92, 0.93]:
        ...     state = plateau.update(state, loss)
        >>> float(state.scale), int(state.num_bad_epochs)
        (0.5, 1)
    """

    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: Literal["rel", "abs"] = "rel"
    mode: Literal["min", "max"] = "min"
    cooldown: int = 0
    min_scale: float = 0.0
    eps: float = 1e-8

    def __post_init__(self):
        if not 0.0 < self.factor < 1.0:
            raise registry.RegistryError(f"must be in (0, 1), got {self.factor!r}", argument="factor")
        _core.non_negative(self.patience, "patience")
        _core.one_of(self.threshold_mode, ("rel", "abs"), "threshold_mode")
        _core.one_of(self.mode, ("min", "max"), "mode")
        _core.non_negative(self.threshold, "threshold")
        if self.threshold_mode == "rel" and self.mode == "min" and not self.threshold < 1.0:
            raise registry.RegistryError(
                f"must be < 1 with threshold_mode='rel' and mode='min', got {self.threshold!r}",
                argument="threshold",
            )
        _core.non_negative(self.cooldown, "cooldown")
        if not 0.0 <= self.min_scale <= 1.0:
            raise registry.RegistryError(f"must be in [0, 1], got {self.min_scale!r}", argument="min_scale")
        _core.non_negative(self.eps, "eps")

    def init(self) -> PlateauState:
        """The state before any metric: nothing seen, scale 1."""
        dtype = as_float(0).dtype
        worst = jnp.inf if self.mode == "min" else -jnp.inf
        zero = jnp.zeros((), jnp.int32)
        return PlateauState(jnp.asarray(worst, dtype), zero, zero, jnp.ones((), dtype))

    def improves(self, metric: jax.Array, best: jax.Array) -> jax.Array:
        """Whether `metric` beats `best` by more than the threshold (torch ``is_better``)."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return metric < best * (1.0 - self.threshold)
        if self.mode == "min":
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (1.0 + self.threshold)
        return metric > best + self.threshold

    def update(self, state: PlateauState, metric: Any) -> PlateauState:
        """The state after one more evaluation of the monitored metric (pure, jittable).

        Exactly torch's ``step(metrics)``: an improvement resets the bad count; during a
        cooldown bad evaluations are not counted; once the bad count exceeds `patience`
        the scale is multiplied by `factor` (not below `min_scale`, and only if it moves by
        more than `eps`) and a cooldown starts. A NaN metric counts as no improvement.
        """
        metric = jnp.asarray(metric, dtype=state.best.dtype)
        better = self.improves(metric, state.best)
        best = jnp.where(better, metric, state.best)
        bad = jnp.where(better, 0, state.num_bad_epochs + 1)
        cooling = state.cooldown_counter > 0
        cooldown_counter = jnp.where(cooling, state.cooldown_counter - 1, state.cooldown_counter)
        bad = jnp.where(cooling, 0, bad)
        reduce = bad > self.patience
        lowered = jnp.maximum(state.scale * self.factor, self.min_scale)
        scale = jnp.where(reduce & (state.scale - lowered > self.eps), lowered, state.scale)
        return PlateauState(
            best=best,
            num_bad_epochs=jnp.where(reduce, 0, bad).astype(jnp.int32),
            cooldown_counter=jnp.where(reduce, self.cooldown, cooldown_counter).astype(jnp.int32),
            scale=scale.astype(state.scale.dtype),
        )


@registry.register("schedule", "reduce_on_plateau")
def reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: Literal["rel", "abs"] = "rel",
    mode: Literal["min", "max"] = "min",
    cooldown: int = 0,
    min_scale: float = 0.0,
    eps: float = 1e-8,
) -> Plateau:
    """Multiplies the rate by `factor` when a monitored metric stops improving.

    torch ``ReduceLROnPlateau`` acting on a scale of the rate rather than on the rate:
    the scale starts at 1, and the rate is the base rate times the scale. Stateful, so it
    returns a `Plateau` (``init()`` and a jittable ``update(state, metric)``) rather than a
    step function. torch's ``min_lr`` is ``min_scale * base rate``; torch compares `eps`
    with the change of the rate, here with the change of the scale (the same for a base
    rate of 1).

    In a config, wrap the optimizer with the registered ``on_plateau`` optimizer (any
    optimizer, its rate a number or a schedule)::

        cfg.optimizer = "on_plateau(sgd(learning_rate=0.1), reduce_on_plateau(factor=0.5, patience=3))"

    The training loop (`tricks.train.train_and_evaluate`) then feeds the rule after every
    evaluation (every ``eval_every`` steps): it passes the ``validation`` split's loss, or
    the first evaluated split's when there is no validation split, to
    ``feed_plateau(opt_state, loss)``. So `patience` and `cooldown` count evaluations, not
    steps, and the scale is logged as ``plateau_scale``. In a loop of your own, chain
    `scale_by_plateau` after the optimizer and call `feed_plateau` yourself (module
    docstring).

    Args:
        factor: the multiplier at each reduction, in (0, 1).
        patience: evaluations without improvement tolerated before a reduction (>= 0).
        threshold: how much better a metric must be to count as an improvement (>= 0).
        threshold_mode: ``rel`` (better than ``best * (1 -/+ threshold)``) or ``abs``
            (better than ``best -/+ threshold``).
        mode: ``min`` (a loss) or ``max`` (an accuracy).
        cooldown: evaluations after a reduction during which bad ones are not counted.
        min_scale: the scale never goes below this, in [0, 1].
        eps: a reduction that changes the scale by no more than this is skipped.

    Examples:
        >>> plateau = reduce_on_plateau(factor=0.5, patience=0)
        >>> state = plateau.update(plateau.update(plateau.init(), 1.0), 2.0)
        >>> float(state.scale)
        0.5

        What the training loop does, by hand: two validation losses, the second no better.

        >>> import registry, tricks
        >>> opt = registry.build(
        ...     "optimizer", "on_plateau(sgd(learning_rate=0.1), reduce_on_plateau(factor=0.5, patience=0))"
        ... )
        >>> params = {"w": jnp.ones(2)}
        >>> opt_state = opt.init(params)
        >>> for val_loss in [0.7, 0.8]:  # after each evaluation
        ...     opt_state = feed_plateau(opt_state, val_loss)
        >>> opt.update({"w": jnp.ones(2)}, opt_state, params)[0]["w"]  # rate 0.1 * 0.5
        Array([-0.05, -0.05], dtype=float32)
    """
    return Plateau(factor, patience, threshold, threshold_mode, mode, cooldown, min_scale, eps)


@dataclasses.dataclass(frozen=True)
class ScaleByPlateauState:
    """The state of `scale_by_plateau`: the plateau's rule (static) and its `PlateauState`.

    The rule is pytree metadata, not data, so `feed_plateau` finds it inside any optimizer
    state and checkpoints hold only `plateau_state`.

    Examples:
        >>> state = ScaleByPlateauState(Plateau(), Plateau().init())
        >>> jax.tree_util.tree_leaves(state)[-1]
        Array(1., dtype=float32)
    """

    plateau: Plateau
    plateau_state: PlateauState


jax.tree_util.register_dataclass(ScaleByPlateauState, data_fields=["plateau_state"], meta_fields=["plateau"])


def scale_by_plateau(plateau: Plateau) -> optax.GradientTransformation:
    """An Optax transformation multiplying the updates by the plateau's current scale.

    Chained after an optimizer, it multiplies that optimizer's learning rate by the scale.
    The scale changes only through `feed_plateau`.

    Examples:
        >>> import optax
        >>> opt = optax.chain(optax.sgd(0.1), scale_by_plateau(reduce_on_plateau(factor=0.5, patience=0)))
        >>> params = {"w": jnp.ones(2)}
        >>> state = opt.init(params)
        >>> state = feed_plateau(feed_plateau(state, 1.0), 1.5)   # no improvement: halved
        >>> updates, state = opt.update({"w": jnp.ones(2)}, state, params)
        >>> updates["w"]
        Array([-0.05, -0.05], dtype=float32)
    """
    if not isinstance(plateau, Plateau):
        raise registry.RegistryError(
            f"expected a Plateau (from reduce_on_plateau), got {type(plateau).__name__}", argument="plateau"
        )

    def init(params):
        del params
        return ScaleByPlateauState(plateau, plateau.init())

    def update(updates, state, params=None):
        del params
        scale = state.plateau_state.scale
        return jax.tree_util.tree_map(lambda u: u * scale.astype(u.dtype), updates), state

    return optax.GradientTransformation(init, update)


def feed_plateau(opt_state: Any, metric: Any) -> Any:
    """`opt_state` with every plateau in it advanced by one evaluation of `metric`.

    Walks the whole optimizer state (chains, ``inject_hyperparams``, masks, ...) and
    applies ``Plateau.update`` to each `ScaleByPlateauState`; anything else is returned
    as is, so it is safe to call on a state without any plateau. Pure and jittable.

    Examples:
        >>> state = {"opt": ScaleByPlateauState(Plateau(patience=0), Plateau().init()), "count": 3}
        >>> fed = feed_plateau(feed_plateau(state, 1.0), 1.0)
        >>> round(float(fed["opt"].plateau_state.scale), 6), fed["count"]
        (0.1, 3)
    """

    def feed(node):
        if isinstance(node, ScaleByPlateauState):
            return dataclasses.replace(node, plateau_state=node.plateau.update(node.plateau_state, metric))
        return node

    return jax.tree_util.tree_map(feed, opt_state, is_leaf=lambda node: isinstance(node, ScaleByPlateauState))
