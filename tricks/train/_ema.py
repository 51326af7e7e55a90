"""The parameters a run is evaluated at, and the exponential moving average of them (EMA).

Two things can set the evaluated parameters apart from those the optimizer moves:

* **schedule-free optimizers** (`tricks.optimizers.schedule_free_sgd`,
  `schedule_free_adamw`): the gradient is taken at y (the state's ``params``), the
  method's answer is x = (y − (1 − β1) z)/β1, read from the `ScheduleFreeState` in the
  optimizer state (`evaluation_params`). Evaluation, `tricks.train.load` (so prediction,
  ensembles and the Hessian) and snapshots all use x; checkpoints keep y and z, so a
  resumed run goes on exactly. Batch-norm statistics are those the training steps
  computed, at y (as Optax's and the paper's reference code leave them).
* **EMA of the weights** (Polyak averaging; Keras' ``use_ema``, timm's ``ModelEmaV3``),
  on with the config's ``ema_decay`` > 0: after each step,
  ``ema ← d·ema + (1 − d)·θ``, θ the evaluated parameters (x under a schedule-free
  optimizer), starting from the initial parameters. As timm's ``ModelEmaV2/V3`` do by
  default (without ``exclude_buffers``), the batch-norm statistics are averaged the
  same way. With ``ema_warmup``, the decay at the update after t steps (t = 0 at the
  first) is ``min(ema_decay, (1 + t)/(10 + t))``, TensorFlow's
  ``tf.train.ExponentialMovingAverage(decay, num_updates=t)``. The average lives in the
  train state (`EmaTrainState.ema`), so checkpoints keep both weight sets and a resumed
  run continues exactly; with ``ema_decay`` 0 the state is a plain `TrainState`, as
  before. Evaluation reports both: ``eval/<split>/...`` and ``eval_ema/<split>/...``.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp

from tricks import optimizers
from tricks.train._state import TrainState


@flax.struct.dataclass
class EmaTrainState(TrainState):
    """A `TrainState` that also carries the moving average of the evaluated parameters.

    ``ema`` is ``{"params": ..., "batch_stats": ...}`` (the statistics averaged too, as timm's).
    """

    ema: Any = None


def with_ema(state: TrainState) -> EmaTrainState:
    """`state` with its moving average started at its evaluated parameters and statistics
    (copies: the state can be donated).

    Examples:
        >>> state = TrainState(step=jnp.int32(0), params={"w": jnp.ones(2)}, batch_stats={}, opt_state=(),
        ...                    rng=jnp.zeros(2, jnp.uint32))
        >>> with_ema(state).ema["params"]["w"]
        Array([1., 1.], dtype=float32)
    """
    copy = lambda tree: jax.tree.map(jnp.array, tree)  # noqa: E731  (jnp.array copies)
    fields = {f.name: getattr(state, f.name) for f in TrainState.__dataclass_fields__.values()}
    return EmaTrainState(**fields, ema={"params": copy(evaluation_params(state)),
                                        "batch_stats": copy(state.batch_stats)})


def ema_decay_at(decay: float, warmup: bool, updates: jax.Array) -> jax.Array:
    """The decay of the update after `updates` steps: `decay`, or with `warmup`
    ``min(decay, (1 + t)/(10 + t))`` (TensorFlow's ``ExponentialMovingAverage(num_updates=t)``).

    Examples:
        >>> [round(float(ema_decay_at(0.999, True, jnp.int32(t))), 4) for t in (0, 90, 10**6)]
        [0.1, 0.91, 0.999]
    """
    if not warmup:
        return jnp.float32(decay)
    t = updates.astype(jnp.float32)
    return jnp.minimum(jnp.float32(decay), (1.0 + t) / (10.0 + t))


def update_ema(state: EmaTrainState, updates: jax.Array, decay: float, warmup: bool) -> EmaTrainState:
    """`state` with its average moved toward its evaluated parameters and statistics:
    ``ema ← d·ema + (1 − d)·θ``, d = `ema_decay_at` (`updates`: the steps before this one)."""
    d = ema_decay_at(decay, warmup, updates)
    target = {"params": evaluation_params(state), "batch_stats": state.batch_stats}
    moved = jax.tree.map(lambda e, x: (d * e + (1 - d) * x).astype(e.dtype), state.ema, target)
    return state.replace(ema=moved)


def evaluation_params(state: TrainState) -> Any:
    """The parameters a run is evaluated at: the schedule-free x when the optimizer state
    holds a `tricks.optimizers.ScheduleFreeState` (wrapped or injected anywhere), else
    ``state.params``.

    Evaluation, `tricks.train.load` (prediction, ensembles, the Hessian) and snapshots
    read them; the EMA averages them.

    Examples:
        >>> import registry, tricks
        >>> opt = registry.build("optimizer", "schedule_free_sgd(learning_rate=0.1)")
        >>> params = {"w": jnp.ones(2)}
        >>> state = TrainState(step=jnp.int32(0), params=params, batch_stats={}, opt_state=opt.init(params),
        ...                    rng=jnp.zeros(2, jnp.uint32))
        >>> evaluation_params(state)["w"]  # x = y at the start
        Array([1., 1.], dtype=float32)
    """
    return optimizers.schedule_free_params(state.opt_state, state.params)


def evaluated(state: TrainState, ema: bool = False) -> TrainState:
    """`state` with the parameters (and statistics) evaluation uses: `evaluation_params`,
    or with `ema` the moving average's.

    Raises:
        ValueError: `ema` for a state without an average (a run with ``ema_decay`` 0).
    """
    if ema:
        if not isinstance(state, EmaTrainState):
            raise ValueError("the run keeps no moving average of its weights (trained with ema_decay=0)")
        return state.replace(params=state.ema["params"], batch_stats=state.ema["batch_stats"])
    if not optimizers.is_schedule_free(state.opt_state):
        return state
    return state.replace(params=evaluation_params(state))


def eval_prefixes(state: Any) -> tuple[str, ...]:
    """The prefixes of a run's evaluation records: ``eval``, and ``eval_ema`` with a moving average."""
    return ("eval", "eval_ema") if has_ema(state) else ("eval",)


def eval_records(results: dict, ema_results: dict) -> dict[str, Any]:
    """``{"eval/<split>/<metric>": value, "eval_ema/<split>/<metric>": value}`` of one
    evaluation, the weights' `results` and the moving average's ({} without one).

    Examples:
        >>> eval_records({"test": {"accuracy": 0.9, "examples": 10}}, {"test": {"accuracy": 0.95, "examples": 10}})
        {'eval/test/accuracy': 0.9, 'eval_ema/test/accuracy': 0.95}
    """
    return {f"{prefix}/{split}/{k}": v for prefix, found in (("eval", results), ("eval_ema", ema_results))
            for split, m in found.items() for k, v in m.items() if k != "examples"}


def has_ema(state: Any) -> bool:
    """Whether `state` carries a moving average of its weights."""
    return isinstance(state, EmaTrainState)
