"""Schedules as long as the run: lengths a training config may leave out, filled from the run.

A schedule parameter annotated `RunSteps` counts the steps the schedule spans
(``cosine``'s, ``polynomial``'s, ``rex``'s and ``tanh``'s ``decay_steps``, ``linear``'s
``transition_steps``, ``one_cycle``'s, ``one_cycle_momentum``'s and ``wsd``'s
``total_steps``). In a training config it may be left out: `fit_to_run` fills it with the
steps the schedule spans in the run (the run's length; inside ``warmup``, the length minus
the warmup; inside ``join``, the length of its part; after a ``transition_begin``, the
length minus it), as fastai's ``fit_one_cycle`` and big_vision take the length from the
run. Where one is given and differs, `fit_to_run` says so: a schedule that ends
before the run leaves the rate at its final value (a cosine at 0 trains nothing), one
that runs past it never reaches its end. Cycle lengths (``sgdr``'s ``t0``, ``cyclic``'s
step sizes) describe cycles, not the run, and are left as given.

Examples:
    >>> import registry, tricks
    >>> spec, notes = fit_to_run("optimizer", "sgd(learning_rate=warmup(cosine(init_value=0.1), warmup_steps=100))",
    ...                          1000)
    >>> str(spec), notes
    ('sgd(learning_rate=warmup(cosine(init_value=0.1, decay_steps=900), warmup_steps=100))', [])
    >>> print(*fit_to_run("schedule", "cosine(init_value=0.1, decay_steps=400)", 600)[1])
    cosine(init_value=0.1, decay_steps=400) ends at step 400 of the 600 it spans: the value stays at its final one for the last 200 steps
"""

from __future__ import annotations

import inspect
import typing
from typing import Annotated, Any

import registry
from registry import _types


class _RunSteps:
    """The marker of `RunSteps`."""

    def __repr__(self) -> str:
        return "RunSteps"


RUN_STEPS = _RunSteps()

RunSteps = Annotated[int | None, RUN_STEPS]
"""A schedule parameter counting the steps it spans; None (left out): the run's, filled by `fit_to_run`."""


def required(value: int | None, argument: str) -> int:
    """`value`, or a clear error where a standalone schedule was built without its length."""
    if value is None:
        raise ValueError(
            f"{argument}: the schedule's length is needed; in a training config it may be left out "
            f"and the run's length is used")
    return value


def fit_to_run(kind: str, spec: Any, steps: int) -> tuple[registry.Spec, list[str]]:
    """`spec` with every left-out `RunSteps` argument set to the steps its schedule spans.

    Args:
        kind: the spec's kind (``"optimizer"`` for a config's optimizer).
        spec: a spec (string, mapping or `registry.Spec`).
        steps: the steps `spec` spans (the run's length).

    Returns:
        The filled spec, and one line for each given length that differs from the steps
        its schedule spans.

    Raises:
        registry.RegistryError: a malformed spec or an unknown name (what `registry.build`
            would raise).
    """
    notes: list[str] = []
    return _fit(kind, _as_spec(spec), steps, notes), notes


def _as_spec(value: Any) -> registry.Spec:
    if isinstance(value, registry.Spec):
        return value
    if isinstance(value, str):
        return registry.parse(value)
    value = value.to_dict() if hasattr(value, "to_dict") else value
    return registry.Spec(value["name"], (), {k: v for k, v in value.items() if k != "name"})


def _fit(kind: str, spec: registry.Spec, steps: int | None, notes: list[str]) -> registry.Spec:
    factory = registry.get(kind, spec.name)
    signature = inspect.signature(factory)
    hints = typing.get_type_hints(factory, include_extras=True)
    names = [n for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    given = dict(zip(names, spec.args)) | dict(spec.kwargs)
    inner = _inner_steps(spec.name, given, steps)
    if spec.name == "warmup" and steps and isinstance(given.get("warmup_steps"), int) and given["warmup_steps"] >= steps:
        notes.append(f"{spec} warms up over {given['warmup_steps']} steps, but it spans {steps}: the warmup never ends")

    def fitted(name: str, value: Any) -> Any:
        annotation = hints.get(name)
        child = _types.kind_of(annotation) if annotation is not None else None
        return _fit_value(child, value, inner.get(name, steps), notes) if child else value

    args = tuple(fitted(name, value) for name, value in zip(names, spec.args))
    kwargs = {name: fitted(name, value) for name, value in spec.kwargs.items()}
    begin = given.get("transition_begin", 0)  # linear, polynomial: the length runs after it
    span = max(steps - begin, 1) if steps is not None and isinstance(begin, int) and begin > 0 else steps
    for name in signature.parameters:
        if _is_run_steps(hints.get(name)) and span is not None and span > 0:
            if given.get(name) is None:
                kwargs[name] = span
            elif isinstance(given[name], int) and given[name] != span:
                notes.append(_mismatch(spec, name, given[name], span))
    return registry.Spec(spec.name, args, kwargs)


def _fit_value(kind: str, value: Any, steps: Any, notes: list[str]) -> Any:
    if isinstance(value, (list, tuple)):
        lengths = steps if isinstance(steps, list) else [steps] * len(value)
        return type(value)(_fit_value(kind, v, n, notes) for v, n in zip(value, lengths + [None] * len(value)))
    if isinstance(value, registry.Spec) or (isinstance(value, str) and not _is_number(value)) or (
            isinstance(value, dict) and isinstance(value.get("name"), str)):
        return _fit(kind, _as_spec(value), steps, notes)
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _inner_steps(name: str, given: dict[str, Any], steps: int | None) -> dict[str, Any]:
    """The steps the schedules inside a ``warmup`` or a ``join`` span, where known."""
    if steps is None:
        return {}
    if name == "warmup" and isinstance(given.get("warmup_steps"), int):
        return {"schedule": max(steps - given["warmup_steps"], 1)}  # (a run that ends warming up: any length)
    if name == "join" and isinstance(given.get("boundaries"), (list, tuple)):
        bounds = [0, *given["boundaries"], steps]
        return {"schedules": [b - a for a, b in zip(bounds, bounds[1:])]}
    return {}


def _is_run_steps(annotation: Any) -> bool:
    return typing.get_origin(annotation) is Annotated and RUN_STEPS in annotation.__metadata__


def _mismatch(spec: registry.Spec, name: str, given: int, steps: int) -> str:
    if given < steps:
        return (f"{spec} ends at step {given} of the {steps} it spans: the value stays at its final one "
                f"for the last {steps - given} steps")
    return f"{spec} runs to step {given}, but it spans {steps}: it never reaches its end ({name}={given})"
