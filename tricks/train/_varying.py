"""The numbers in which the members of a population differ, found in their component specs
and built back in as traced values.

Two members' optimizers (or losses) can share one compiled program when their specs
differ only in numbers: a learning rate, a schedule's peak, a weight decay, label
smoothing. `spec_tree` spells each spec one way (every argument by keyword, defaults
written out, nested specs of every kind alike), `numbers_that_differ` walks the members'
trees side by side, and `build_with` builds a component from one tree with those numbers
replaced by arrays (traced ones inside a vmapped step; `registry` accepts a 0-d array
wherever a number goes). A factory that needs a concrete number (a Python ``if`` on it,
a length that sets a shape) fails to trace: `traced_refusals` names those numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

import registry

Path = tuple[Any, ...]
"""Where a number sits in a spec tree: argument names (and list positions), outermost first."""


def spec_tree(kind: str, spec: Any) -> registry.Spec:
    """`spec` spelled one way: keywords only, defaults written out, nested specs alike.

    Examples:
        >>> import tricks
        >>> tree = spec_tree("optimizer", "adam(0.1)")
        >>> tree.name, tree.kwargs["learning_rate"], tree.kwargs["b1"]
        ('adam', 0.1, 0.9)
        >>> spec_tree("optimizer", {"name": "adam", "learning_rate": "cosine(0.01)"}).kwargs["learning_rate"].name
        'cosine'
    """
    if hasattr(spec, "to_dict") and callable(spec.to_dict):
        spec = spec.to_dict()
    if isinstance(spec, str):
        spec = registry.parse(spec)
    elif isinstance(spec, Mapping):
        spec = registry.Spec(spec["name"], (), {k: v for k, v in spec.items() if k != "name"})
    parameters = registry.describe(kind, spec.name).parameters
    given = dict(zip((p.name for p in parameters), spec.args, strict=False)) | spec.kwargs
    kwargs = {p.name: given.get(p.name, p.default) for p in parameters if p.name in given or not p.required}
    kwargs.update({k: v for k, v in given.items() if k not in kwargs})
    for parameter in parameters:
        if parameter.kind is not None and parameter.name in kwargs:
            kwargs[parameter.name] = _nested(parameter.kind, kwargs[parameter.name])
    return registry.Spec(spec.name, (), kwargs)


def _nested(kind: str, value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return type(value)(_nested(kind, v) for v in value)
    if isinstance(value, str):
        try:
            return float(value)  # "0.05" where a schedule may go: a constant
        except ValueError:
            return spec_tree(kind, value)
    if isinstance(value, registry.Spec) or (isinstance(value, Mapping) and "name" in value):
        return spec_tree(kind, value)
    return value


def numbers_that_differ(trees: Sequence[Any]) -> tuple[dict[Path, list], list[Path]]:
    """Where the members' spec trees differ: in numbers, and otherwise.

    Returns:
        ``({path: [each member's number]}, [paths where they differ in anything else:
        a component's name, a string, a number against a spec, a list's length])``.

    Examples:
        >>> import tricks
        >>> trees = [spec_tree("optimizer", s) for s in ("adam(0.1)", "adam(0.3, b1=0.8)", "sgd(0.1)")]
        >>> numbers_that_differ(trees[:2])
        ({('learning_rate',): [0.1, 0.3], ('b1',): [0.9, 0.8]}, [])
        >>> numbers_that_differ(trees[1:])[1]
        [()]
    """
    numbers: dict[Path, list] = {}
    other: list[Path] = []
    _walk(list(trees), (), numbers, other)
    return numbers, other


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _walk(values: list, path: Path, numbers: dict[Path, list], other: list[Path]) -> None:
    first = values[0]
    if all(isinstance(v, registry.Spec) for v in values):
        if any(v.name != first.name or set(v.kwargs) != set(first.kwargs) for v in values):
            other.append(path)
            return
        for key in first.kwargs:
            _walk([v.kwargs[key] for v in values], (*path, key), numbers, other)
    elif all(isinstance(v, (list, tuple)) for v in values) and len({len(v) for v in values}) == 1:
        for i in range(len(first)):
            _walk([v[i] for v in values], (*path, i), numbers, other)
    elif all(_number(v) for v in values) and len({isinstance(v, int) for v in values}) == 1:
        if any(v != first for v in values):
            numbers[path] = list(values)
    elif any(v != first for v in values):
        other.append(path)


def skeleton(tree: Any) -> Any:
    """`tree` with every number replaced by its type's name: equal for trees that differ
    only in numbers.

    Examples:
        >>> import tricks
        >>> skeleton(spec_tree("optimizer", "sgd(0.1)")) == skeleton(spec_tree("optimizer", "sgd(0.3)"))
        True
    """
    if isinstance(tree, registry.Spec):
        return registry.Spec(tree.name, (), {k: skeleton(v) for k, v in tree.kwargs.items()})
    if isinstance(tree, (list, tuple)):
        return type(tree)(skeleton(v) for v in tree)
    return type(tree).__name__ if _number(tree) else tree


def with_numbers(tree: Any, values: Mapping[Path, Any]) -> Any:
    """`tree` with the number at each path of `values` replaced by its value.

    Examples:
        >>> import tricks
        >>> str(with_numbers(spec_tree("optimizer", "adam(0.1)"), {("learning_rate",): 0.5}))[:30]
        'adam(learning_rate=0.5, b1=0.9'
    """
    if not values:
        return tree
    if () in values:
        return values[()]
    heads: dict[Any, dict[Path, Any]] = {}
    for path, value in values.items():
        heads.setdefault(path[0], {})[path[1:]] = value
    if isinstance(tree, registry.Spec):
        return registry.Spec(tree.name, (), {k: with_numbers(v, heads.get(k, {})) for k, v in tree.kwargs.items()})
    return type(tree)(with_numbers(v, heads.get(i, {})) for i, v in enumerate(tree))


def dotted(field: str, path: Path) -> str:
    """A path shown as the config field it is in, dotted: ``optimizer.learning_rate.init_value``."""
    return ".".join([field, *(str(p) for p in path)])


def as_arrays(numbers: Mapping[Path, list]) -> dict[str, np.ndarray]:
    """The members' numbers stacked per path (float32, or int32 for integers), keyed by
    the path's text (a pytree `jax.vmap` maps over)."""
    return {repr(path): np.asarray(values, np.int32 if isinstance(values[0], int) else np.float32)
            for path, values in numbers.items()}


def of_arrays(numbers: Mapping[Path, list], arrays: Mapping[str, Any]) -> dict[Path, Any]:
    """`as_arrays`'s keys back to paths (`arrays` holding one member's values)."""
    return {path: arrays[repr(path)] for path in numbers}


def traced_refusals(build: Any, numbers: Mapping[Path, list]) -> list[Path]:
    """The paths whose number `build` (``{path: value} -> anything``) cannot take traced.

    Each path is tried alone, traced, the others as the first member's numbers.

    Examples:
        >>> import jax.numpy as jnp
        >>> def build(values):  # the rate may be traced; the length sets a shape
        ...     return jnp.zeros(int(values[("length",)])) * values[("rate",)]
        >>> traced_refusals(build, {("rate",): [0.1, 0.2], ("length",): [2, 3]})
        [('length',)]
    """
    refused = []
    for path, values in numbers.items():
        first = {p: v[0] for p, v in numbers.items()}
        try:
            jax.eval_shape(lambda x: build(first | {path: x}), np.asarray(values[0]))  # noqa: B023
        except (jax.errors.ConcretizationTypeError, TypeError, ValueError, registry.RegistryError):
            refused.append(path)
    return refused
