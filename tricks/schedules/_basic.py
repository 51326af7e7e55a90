"""Constant, linear and piecewise-constant schedules: constant, linear, piecewise, step, multistep."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

import registry
from tricks.schedules import _core
from tricks.schedules._core import Fn, as_float
from tricks.schedules._length import RunSteps, required


@registry.register("schedule", "constant")
def constant(value: float) -> Fn:
    """The same value at every step.

    Args:
        value: the value.

    Examples:
        >>> constant(0.1)(jnp.arange(3))
        Array([0.1, 0.1, 0.1], dtype=float32)
    """
    _core.finite(value, "value")
    return _core.as_schedule(float(value), "value")


@registry.register("schedule", "linear")
def linear(
    init_value: float, end_value: float, transition_steps: RunSteps = None, transition_begin: int = 0
) -> Fn:
    """A straight line from `init_value` to `end_value`, then `end_value` for ever.

    ``value(t) = init + (end - init) * min(t, T) / T`` (as ``optax.linear_schedule``), on
    ``t - b`` after ``b = transition_begin`` steps at `init_value` (a run's length fills T
    as the run minus b). torch ``LinearLR(start_factor, end_factor, total_iters)`` on a
    rate ``lr`` is ``linear(lr * start_factor, lr * end_factor, total_iters)``.

    Args:
        init_value: the value at step 0.
        end_value: the value from step ``b + T`` on.
        transition_steps: T, the length of the ramp (> 0).
        transition_begin: b, the steps held at `init_value` first (>= 0).

    Examples:
        >>> linear(1.0, 0.0, transition_steps=4)(jnp.arange(6))
        Array([1.  , 0.75, 0.5 , 0.25, 0.  , 0.  ], dtype=float32)
        >>> linear(1.0, 0.0, transition_steps=2, transition_begin=2)(jnp.arange(6))
        Array([1. , 1. , 1. , 0.5, 0. , 0. ], dtype=float32)
    """
    transition_steps = _core.positive(required(transition_steps, "transition_steps"), "transition_steps")
    begin = _core.non_negative(transition_begin, "transition_begin")

    def schedule(count):
        frac = jnp.clip((as_float(count) - begin) / transition_steps, 0.0, 1.0)
        return init_value + (end_value - init_value) * frac

    return schedule


@registry.register("schedule", "piecewise")
def piecewise(boundaries: Sequence[int], values: Sequence[float]) -> Fn:
    """Constant pieces: ``values[i]`` while ``boundaries[i-1] < t <= boundaries[i]``.

    Keras ``PiecewiseConstantDecay``: note the ``<=``, the step equal to a boundary still
    gets the earlier value. ``values[0]`` for ``t <= boundaries[0]``, ``values[-1]`` after
    the last boundary.

    Args:
        boundaries: strictly increasing steps (> 0).
        values: one more value than boundaries.

    Examples:
        >>> piecewise([2, 4], [1.0, 0.5, 0.1])(jnp.arange(6))
        Array([1. , 1. , 1. , 0.5, 0.5, 0.1], dtype=float32)
    """
    _core.increasing(boundaries, "boundaries")
    if len(values) != len(boundaries) + 1:
        raise registry.RegistryError(
            f"needs one more value than boundaries ({len(boundaries)} boundaries, {len(values)} values)",
            argument="values",
        )
    bounds = tuple(float(b) for b in boundaries)
    table = tuple(float(v) for v in values)

    def schedule(count):
        t = as_float(count)
        out = jnp.full(t.shape, table[-1], dtype=t.dtype)
        for bound, value in zip(reversed(bounds), reversed(table[:-1])):
            out = jnp.where(t <= bound, value, out)
        return out

    return schedule


@registry.register("schedule", "step")
def step(init_value: float, step_size: int, gamma: float = 0.1) -> Fn:
    """Multiplies by `gamma` every `step_size` steps: torch ``StepLR``.

    ``value(t) = init_value * gamma ** floor(t / step_size)``.

    Args:
        init_value: the value before the first decay.
        step_size: steps between two decays (> 0).
        gamma: the factor applied at each decay.

    Examples:
        >>> step(1.0, step_size=2, gamma=0.5)(jnp.arange(6))
        Array([1.  , 1.  , 0.5 , 0.5 , 0.25, 0.25], dtype=float32)
    """
    step_size = _core.positive(step_size, "step_size")
    _core.non_negative(gamma, "gamma")

    def schedule(count):
        decays, _ = _core.divmod_steps(as_float(count), step_size)
        return init_value * jnp.power(gamma, decays)

    return schedule


@registry.register("schedule", "multistep")
def multistep(init_value: float, milestones: Sequence[int], gamma: float = 0.1) -> Fn:
    """Multiplies by `gamma` at each milestone: torch ``MultiStepLR``.

    ``value(t) = init_value * gamma ** (number of milestones <= t)``.

    Args:
        init_value: the value before the first milestone.
        milestones: strictly increasing steps (> 0) at which the value drops.
        gamma: the factor applied at each milestone.

    Examples:
        >>> multistep(1.0, milestones=[2, 3], gamma=0.1)(jnp.arange(5))
        Array([1.  , 1.  , 0.1 , 0.01, 0.01], dtype=float32)
    """
    _core.increasing(milestones, "milestones")
    _core.non_negative(gamma, "gamma")
    marks = tuple(float(m) for m in milestones)

    def schedule(count):
        t = as_float(count)
        passed = sum((t >= m).astype(t.dtype) for m in marks)
        return init_value * jnp.power(gamma, passed)

    return schedule
