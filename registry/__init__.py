"""A generic registry of named factories, built from spec strings, mappings or names.

It knows nothing of JAX or of tricks: any package registers factories by kind and name,
and configs refer to them by spec. `import tricks` fills the default registry.

Examples:
    >>> import registry
    >>> reg = registry.Registry()
    >>> @reg.register("schedule")
    ... def linear(init_value: float, end_value: float, transition_steps: int):
    ...     "Straight line from init_value to end_value."
    ...     return lambda t: init_value + (end_value - init_value) * min(t, transition_steps) / transition_steps
    >>> reg.build("schedule", "linear(1.0, 0.0, transition_steps=4)")(2)
    0.5
    >>> reg.build("schedule", {"name": "linear", "init_value": 1, "end_value": 0, "transitions_steps": 4})
    Traceback (most recent call last):
    ...
    registry._errors.RegistryError: schedule 'linear': argument 'transitions_steps': unknown argument (did you mean 'transition_steps'?); valid arguments: end_value, init_value, transition_steps
"""

from registry._errors import RegistryError, suggest
from registry._plugins import load_plugins
from registry._registry import Description, Parameter, Registry
from registry._spec import Spec, parse
from registry._types import Kind

default = Registry()
"""The shared registry that the module-level functions below use."""

register = default.register
alternatives = default.alternatives
get = default.get
build = default.build
names = default.names
kinds = default.kinds
describe = default.describe

__all__ = [
    "Description",
    "Kind",
    "Parameter",
    "Registry",
    "RegistryError",
    "Spec",
    "alternatives",
    "build",
    "default",
    "describe",
    "get",
    "kinds",
    "load_plugins",
    "names",
    "parse",
    "register",
    "suggest",
]
