"""Annotations shared by the optimizer factories."""

from typing import Annotated

import optax

import registry

Optimizer = Annotated[optax.GradientTransformation, registry.Kind("optimizer")]
"""An optimizer argument of a wrapper: a spec string or mapping is built as an `optimizer`."""
