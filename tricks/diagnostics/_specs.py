"""Rewriting component specs: set an argument wherever a (possibly nested) factory takes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import registry


def as_spec(spec: Any) -> registry.Spec:
    """`spec` (a name, a call string, a mapping or ConfigDict with ``name``, a `Spec`) as a `Spec`.

    Examples:
        >>> as_spec({"name": "sgd", "learning_rate": 0.1})
        Spec(name='sgd', args=(), kwargs={'learning_rate': 0.1})
    """
    if isinstance(spec, registry.Spec):
        return spec
    if hasattr(spec, "to_dict") and callable(spec.to_dict):
        spec = spec.to_dict()
    if isinstance(spec, str):
        return registry.parse(spec)
    if isinstance(spec, Mapping) and "name" in spec:
        return registry.Spec(spec["name"], (), {k: v for k, v in spec.items() if k != "name"})
    raise registry.RegistryError(
        f"expected a spec (a name, a call string or a mapping with 'name'), got {spec!r:.80}"
    )


def _keywords(kind: str, spec: Any) -> tuple[registry.Spec, tuple[registry.Parameter, ...], dict[str, Any]]:
    """`spec` as a `Spec`, its factory's parameters, and its arguments all by keyword."""
    spec = as_spec(spec)
    parameters = registry.describe(kind, spec.name).parameters
    kwargs = dict(zip((p.name for p in parameters), spec.args))
    kwargs.update(spec.kwargs)
    return spec, parameters, kwargs


def override(kind: str, spec: Any, values: Mapping[str, Any], only_changes: bool = False) -> registry.Spec:
    """`spec` with arguments replaced, in it and in every nested spec of the same kind.

    An argument is set only where the component's factory has a parameter of that name,
    so ``override("optimizer", spec, {"weight_decay": 0.0})`` reaches the decay of `adamw`
    and of a `weight_decay` wrapper around `adam`, and leaves `adam` itself alone.
    Positional arguments are turned into keywords first.

    Args:
        kind: the registry kind of `spec` (``"optimizer"``, ``"model"``, ``"loss"``...).
        spec: any spec form.
        values: argument name -> new value.
        only_changes: set an argument only where that changes the component: where the
            spec gives it, or where its default differs from the new value (``adamw``'s
            decay of 1e-4 is set to 0, ``mlp``'s dropout of 0 is left out). The result
            then differs from `spec` in `canonical` form exactly where it was changed.

    Returns:
        The rewritten `registry.Spec` (``str(result)`` is a spec string for a config).

    Raises:
        registry.RegistryError: an unknown component (with suggestions).

    Examples:
        >>> import tricks
        >>> str(override("optimizer", "clip_by_global_norm(adamw(learning_rate=0.1), max_norm=1.0)",
        ...              {"weight_decay": 0.0, "learning_rate": 1e-3}))
        'clip_by_global_norm(optimizer=adamw(learning_rate=0.001, weight_decay=0.0), max_norm=1.0)'
        >>> str(override("model", "mlp(widths=(8,))", {"init": "orthogonal", "dropout": 0.0}))
        "mlp(widths=(8,), dropout=0.0, init='orthogonal')"
        >>> str(override("model", "mlp(widths=(8,))", {"dropout": 0.0}, only_changes=True))
        'mlp(widths=(8,))'
        >>> str(override("optimizer", "adamw(0.1)", {"weight_decay": 0.0}, only_changes=True))
        'adamw(learning_rate=0.1, weight_decay=0.0)'
    """
    spec, parameters, kwargs = _keywords(kind, spec)
    for parameter in parameters:
        current = kwargs.get(parameter.name)
        if parameter.name in values:
            value = values[parameter.name]
            if not only_changes or parameter.name in kwargs or parameter.default != value:
                kwargs[parameter.name] = value
        elif parameter.kind == kind and current is not None:
            kwargs[parameter.name] = override(kind, current, values, only_changes)
    names = [p.name for p in parameters]
    ordered = {name: kwargs[name] for name in names if name in kwargs}
    ordered.update({k: v for k, v in kwargs.items() if k not in ordered})
    return registry.Spec(spec.name, (), ordered)


def canonical(kind: str, spec: Any) -> registry.Spec:
    """`spec` spelled one way: every argument by keyword, defaults written out, nested specs alike.

    Two spellings of one component (arguments by position or by keyword, a default
    written or left out, a nested spec of the same kind as a string or a mapping) have
    equal canonical forms, so comparing them tells a real change from a re-spelling.

    Raises:
        registry.RegistryError: an unknown component (with suggestions).

    Examples:
        >>> import tricks
        >>> written = "clip_by_global_norm('sgd(0.1)', 1.0)"
        >>> respelled = {"name": "clip_by_global_norm", "max_norm": 1.0,
        ...              "optimizer": "sgd(learning_rate=0.1, nesterov=False)"}
        >>> canonical("optimizer", written) == canonical("optimizer", respelled)
        True
        >>> canonical("optimizer", "adamw") == canonical("optimizer", "adamw(weight_decay=0.0)")
        False
    """
    spec, parameters, given = _keywords(kind, spec)
    kwargs = {p.name: p.default for p in parameters if not p.required}
    kwargs.update(given)
    for parameter in parameters:
        if parameter.kind == kind and kwargs.get(parameter.name) is not None:
            kwargs[parameter.name] = canonical(kind, kwargs[parameter.name])
    return registry.Spec(spec.name, (), kwargs)
