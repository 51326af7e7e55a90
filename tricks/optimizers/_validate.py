"""Checks of hyperparameter values, raising `registry.RegistryError` naming the argument.

Only numbers are checked: a schedule's values are only known once it runs.
"""

from __future__ import annotations

import numbers
from typing import Any

import registry


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def non_negative(**values: Any) -> None:
    """Raises unless every number given is >= 0 (NaN fails).

    Examples:
        >>> non_negative(learning_rate=0.1, weight_decay=lambda step: 0.0)
        >>> non_negative(learning_rate=-1)
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: argument 'learning_rate': must be >= 0, got -1
    """
    for name, value in values.items():
        if _number(value) and not value >= 0:
            raise registry.RegistryError(f"must be >= 0, got {value!r}", argument=name)


def positive(**values: Any) -> None:
    """Raises unless every number given is > 0.

    Examples:
        >>> positive(eps=0.0)
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: argument 'eps': must be > 0, got 0.0
    """
    for name, value in values.items():
        if _number(value) and not value > 0:
            raise registry.RegistryError(f"must be > 0, got {value!r}", argument=name)


def unit_interval(**values: Any) -> None:
    """Raises unless every number given lies in [0, 1) (decay rates, momentum, b1, b2).

    Examples:
        >>> unit_interval(b1=0.9, b2=1.0)
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: argument 'b2': must be in [0, 1), got 1.0
    """
    for name, value in values.items():
        if _number(value) and not 0 <= value < 1:
            raise registry.RegistryError(f"must be in [0, 1), got {value!r}", argument=name)


def at_least(minimum: int, **values: Any) -> None:
    """Raises unless every integer given is >= `minimum` (memory sizes, periods).

    Examples:
        >>> at_least(1, every_k=0)
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: argument 'every_k': must be >= 1, got 0
    """
    for name, value in values.items():
        if not value >= minimum:
            raise registry.RegistryError(f"must be >= {minimum}, got {value!r}", argument=name)


NO_PARAMS = "this optimizer needs the current parameters: call update(updates, state, params)"
"""The error message of an ``update`` called without ``params`` by an optimizer that needs them
(Optax keeps its own ``NO_PARAMS_MSG`` private in current releases)."""
