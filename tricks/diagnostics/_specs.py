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


def override(kind: str, spec: Any, values: Mapping[str, Any], only_given: bool = False) -> registry.Spec:
    """`spec` with arguments replaced, in it and in every nested spec of the same kind.

    An argument is set only where the component's factory has a parameter of that name,
    so ``override("optimizer", spec, {"weight_decay": 0.0})`` reaches the decay of `adamw`
    and of a `weight_decay` wrapper around `adam`, and leaves `adam` itself alone.
    Positional arguments are turned into keywords first.

    Args:
        kind: the registry kind of `spec` (``"optimizer"``, ``"model"``, ``"loss"``...).
        spec: any spec form.
        values: argument name -> new value.
        only_given: change only arguments the spec gives explicitly (the others keep
            their defaults), so the result differs from `spec` exactly where it was changed.

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
        >>> str(override("loss", "cross_entropy", {"label_smoothing": 0.0}, only_given=True))
        'cross_entropy()'
    """
    spec = as_spec(spec)
    description = registry.describe(kind, spec.name)
    names = [p.name for p in description.parameters]
    kwargs = dict(zip(names, spec.args))
    kwargs.update(spec.kwargs)
    for parameter in description.parameters:
        current = kwargs.get(parameter.name)
        if parameter.name in values and (parameter.name in kwargs or not only_given):
            kwargs[parameter.name] = values[parameter.name]
        elif parameter.kind == kind and current is not None:
            kwargs[parameter.name] = override(kind, current, values, only_given)
    ordered = {name: kwargs[name] for name in names if name in kwargs}
    ordered.update({k: v for k, v in kwargs.items() if k not in ordered})
    return registry.Spec(spec.name, (), ordered)
