"""Annotations shared by factories: which arguments accept a spec of another kind."""

from collections.abc import Callable
from typing import Annotated, Any

import registry

Schedule = Callable[[Any], Any]
"""A function of the step returning a value (learning rate, momentum, ...)."""

ScheduleLike = Annotated[float | Schedule, registry.Kind("schedule")]
"""A number, or a schedule (a spec string or mapping is built as a `schedule`)."""
