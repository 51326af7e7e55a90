"""Helpers shared by the schedules: float steps, number-or-schedule arguments, checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from registry import RegistryError

Fn = Callable[[Any], jax.Array]


def as_float(count: Any) -> jax.Array:
    """The step as a float array: float32, or float64 when x64 is enabled.

    Converting first keeps every later operation in floating point, so int32 steps never
    overflow (no ``count + 1`` or ``count // k`` in integers) and steps past 2**31 work.

    Examples:
        >>> as_float(2**40)
        Array(1.0995116e+12, dtype=float32)
    """
    return jnp.asarray(count, dtype=jax.dtypes.canonicalize_dtype(jnp.float64))


def divmod_steps(t: jax.Array, k: float) -> tuple[jax.Array, jax.Array]:
    """``(floor(t / k), t mod k)`` for a float step t >= 0, exact for whole numbers.

    ``jnp.floor(t / k)`` is not enough: XLA may divide by multiplying by ``1 / k``, which
    can land just below or above a whole quotient (21 / 7 -> 3.0000002, whose ceiling is
    4). The remainder is exact (fmod), and so is the quotient of ``t - remainder``, a
    multiple of k, once rounded.

    Examples:
        >>> q, r = divmod_steps(jnp.arange(0.0, 30.0, 7.0), 7)
        >>> q.tolist(), r.tolist()
        ([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0, 0.0])
    """
    remainder = jnp.remainder(t, k)
    return jnp.round((t - remainder) / k), remainder


def half_cosine(remaining: jax.Array) -> jax.Array:
    """``(1 + cos(pi * (1 - r))) / 2`` written as ``sin(pi * r / 2) ** 2``.

    ``r`` is the fraction of a cosine phase still to go (1 at its start, 0 at its end).
    The sine form has no cancellation near the end of the phase, where the cosine form
    loses most of its digits in float32.

    Examples:
        >>> float(half_cosine(jnp.asarray(1.0))), float(half_cosine(jnp.asarray(0.0)))
        (1.0, 0.0)
    """
    return jnp.sin(0.5 * jnp.pi * remaining) ** 2


def as_schedule(value: Any, argument: str) -> Fn:
    """A step function from a schedule or a number (a number becomes a constant).

    Examples:
        >>> as_schedule(0.5, "schedule")(jnp.arange(2))
        Array([0.5, 0.5], dtype=float32)
    """
    if callable(value):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return lambda count: jnp.full(jnp.shape(count), number, dtype=as_float(0).dtype)
    raise RegistryError(
        f"expected a number or a step -> value schedule, got {type(value).__name__} {value!r:.60}",
        argument=argument,
    )


# Checks ----------------------------------------------------------------------------------


def positive(value: float, argument: str) -> float:
    """`value` as a Python float; raises `RegistryError` naming `argument` unless it is > 0.

    Step counts are used as floats: a Python int past 2**31 given to a jnp function
    would not fit the int32 it becomes without x64.
    """
    if not value > 0:  # NaN fails too
        raise RegistryError(f"must be > 0, got {value!r}", argument=argument)
    return float(value)


def non_negative(value: float, argument: str) -> float:
    """`value` as a Python float; raises `RegistryError` naming `argument` unless it is >= 0."""
    if not value >= 0:
        raise RegistryError(f"must be >= 0, got {value!r}", argument=argument)
    return float(value)


def finite(value: float, argument: str) -> None:
    """Raises `RegistryError` naming `argument` unless `value` is a finite number."""
    if not math.isfinite(value):
        raise RegistryError(f"must be finite, got {value!r}", argument=argument)


def one_of(value: str, choices: Sequence[str], argument: str) -> None:
    """Raises `RegistryError` naming `argument` unless `value` is one of `choices`."""
    if value not in choices:
        raise RegistryError(
            f"must be one of {', '.join(map(repr, choices))}; got {value!r}", argument=argument
        )


def increasing(values: Sequence[float], argument: str, allow_empty: bool = False) -> None:
    """Raises `RegistryError` naming `argument` unless `values` is > 0 and strictly increasing.

    An empty sequence passes only with `allow_empty`.
    """
    values = list(values)
    if not values:
        if allow_empty:
            return
        raise RegistryError("must not be empty", argument=argument)
    if not values[0] > 0:
        raise RegistryError(f"must be > 0, got {values[0]!r} first", argument=argument)
    for a, b in zip(values, values[1:]):
        if not b > a:
            raise RegistryError(f"must be strictly increasing, got {a!r} then {b!r}", argument=argument)
