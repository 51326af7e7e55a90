"""Checks an argument against a factory's type annotation, and words the expected type."""

from __future__ import annotations

import collections.abc
import inspect
import numbers
import types
import typing
from typing import Annotated, Any, Literal, Union


class Kind:
    """Marks a parameter whose value may be a spec of another kind, built before the call.

    Use it inside `typing.Annotated`. A string, a ``{"name": ...}`` mapping or a nested
    call given for such a parameter is built as a component of that kind; a list or tuple
    of them is built element by element.

    Examples:
        >>> from typing import Annotated, Callable
        >>> LearningRate = Annotated[float | Callable, Kind("schedule")]
        >>> kind_of(LearningRate)
        'schedule'
    """

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return f"Kind({self.kind!r})"


def kind_of(annotation: Any) -> str | None:
    """The kind named by a `Kind` marker in `annotation` (searching unions and sequences)."""
    if typing.get_origin(annotation) is Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, Kind):
                return meta.kind
        annotation = typing.get_args(annotation)[0]
    for arg in typing.get_args(annotation):
        found = kind_of(arg)
        if found is not None:
            return found
    return None


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.Iterable, collections.abc.Collection)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def matches(value: Any, annotation: Any) -> bool:
    """Whether `value` fits `annotation`; unknown typing constructs are accepted.

    An int fits a float; a bool fits neither; a list or tuple fits any sequence type. A
    scalar array (0-d, numpy or JAX, traced too) fits by its dtype: float or integer for
    a float, integer for an int, so a number can be built in as a traced value
    (`tricks.train.train_population` builds its members' optimizers so).

    Examples:
        >>> import numpy as np
        >>> matches(3, float), matches(True, int), matches([1, 2], tuple[int, ...])
        (True, False, True)
        >>> matches(np.float32(0.1), float), matches(np.zeros((), np.float32), int)
        (True, False)
    """
    annotation = _strip(annotation)
    if annotation is Any or annotation is inspect.Parameter.empty:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Union or origin is types.UnionType:
        return any(matches(value, a) for a in args)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) or _scalar_array(value, "iu")
    if annotation is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) or _scalar_array(value, "fiu")
    if annotation is str:
        return isinstance(value, str)
    if annotation in _SEQUENCES or origin in _SEQUENCES:
        if not isinstance(value, (list, tuple)):
            return False
        if not args:
            return True
        if (origin is tuple or annotation is tuple) and not (len(args) == 2 and args[1] is Ellipsis):
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        return all(matches(v, args[0]) for v in value)
    if annotation in _MAPPINGS or origin in _MAPPINGS:
        if not isinstance(value, collections.abc.Mapping):
            return False
        if len(args) != 2:
            return True
        return all(matches(k, args[0]) and matches(v, args[1]) for k, v in value.items())
    if annotation is collections.abc.Callable or origin is collections.abc.Callable:
        return callable(value)
    if isinstance(annotation, type):
        try:
            return isinstance(value, annotation)
        except TypeError:
            return True
    return True


def _scalar_array(value: Any, kinds: str) -> bool:
    """Whether `value` is a 0-d array whose dtype kind is one of `kinds` (numpy's codes)."""
    return getattr(value, "shape", None) == () and getattr(getattr(value, "dtype", None), "kind", None) in kinds


def describe(annotation: Any) -> str:
    """A short readable name for an annotation.

    Examples:
        >>> import collections.abc
        >>> describe(float | collections.abc.Callable)
        'float | Callable'
        >>> describe(Literal["cos", "linear"])
        "'cos' | 'linear'"
    """
    annotation = _strip(annotation)
    if annotation is inspect.Parameter.empty:
        return "any"
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Union or origin is types.UnionType:
        return " | ".join(describe(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is collections.abc.Callable or annotation is collections.abc.Callable:
        return "Callable"
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        if not args:
            return name
        inner = ", ".join("..." if a is Ellipsis else describe(a) for a in args)
        return f"{name}[{inner}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
