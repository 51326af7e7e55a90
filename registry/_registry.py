"""A registry of named factories, grouped by kind, built from specs."""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from registry import _types
from registry._errors import RegistryError, listing, suggest
from registry._spec import Spec, from_mapping, is_spec_mapping, parse


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One argument of a registered factory, as `describe` reports it.

    Examples:
        >>> str(Parameter("gamma", "float", 0.1, required=False, kind=None))
        'gamma: float = 0.1'
    """

    name: str
    type: str
    default: Any
    required: bool
    kind: str | None

    def __str__(self) -> str:
        text = f"{self.name}: {self.type}"
        return text if self.required else f"{text} = {self.default!r}"


@dataclasses.dataclass(frozen=True)
class Description:
    """What `describe` says about a component: signature, defaults and docstring.

    Examples:
        >>> reg = Registry()
        >>> @reg.register("schedule")
        ... def constant(value: float = 1.0):
        ...     "The same value at every step."
        ...     return lambda step: value
        >>> print(reg.describe("schedule", "constant"))
        schedule constant(value: float = 1.0)
          defined in registry._registry
        <BLANKLINE>
        Arguments:
          value: float = 1.0
        <BLANKLINE>
        The same value at every step.
    """

    kind: str
    name: str
    signature: str
    parameters: tuple[Parameter, ...]
    summary: str
    doc: str
    module: str

    def __str__(self) -> str:
        lines = [f"{self.kind} {self.name}{self.signature}", f"  defined in {self.module}", ""]
        if self.parameters:
            lines.append("Arguments:")
            for p in self.parameters:
                extra = f"  (a spec of kind {p.kind!r} is accepted)" if p.kind else ""
                lines.append(f"  {p}{extra}")
            lines.append("")
        lines.append(self.doc or "(no docstring)")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class _Entry:
    kind: str
    name: str
    factory: Callable[..., Any]

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.factory)

    @property
    def hints(self) -> dict[str, Any]:
        try:
            return typing.get_type_hints(self.factory, include_extras=True)
        except Exception:  # unresolvable annotations: check nothing rather than fail
            return {}


class Registry:
    """Named factories grouped by kind; specs name them and `build` calls them.

    Each instance is independent; the module-level functions of `registry` use one shared
    default instance.

    Examples:
        >>> reg = Registry()
        >>> @reg.register("schedule")
        ... def constant(value: float):
        ...     "The same value at every step."
        ...     return lambda step: value
        >>> reg.build("schedule", "constant(value=0.5)")(10)
        0.5
        >>> reg.build("schedule", "constnat(0.5)")
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: schedule 'constnat': unknown name (did you mean 'constant'?); valid names: constant
    """

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, _Entry]] = {}
        self._alternatives: dict[str, list[Callable[[str], list[str]]]] = {}

    # Registration and lookup ------------------------------------------------------------

    def register(self, kind: str, name: str | None = None) -> Callable[[Callable], Callable]:
        """A decorator registering a factory under `kind` and `name` (default: its own name).

        Raises:
            RegistryError: the name is taken in that kind, or kind/name is not an identifier.

        Examples:
            >>> reg = Registry()
            >>> @reg.register("schedule", "flat")
            ... def constant(value: float):
            ...     "The same value at every step."
            ...     return lambda step: value
            >>> reg.names("schedule")
            ['flat']
            >>> reg.register("schedule", "flat")(lambda value: value)
            Traceback (most recent call last):
            ...
            registry._errors.RegistryError: schedule 'flat': already registered by registry._registry.constant; choose another name
        """
        if not isinstance(kind, str) or not kind.isidentifier():
            raise RegistryError(f"a kind must be an identifier, got {kind!r}")

        def decorator(factory: Callable) -> Callable:
            if not callable(factory):
                raise RegistryError(f"only callables can be registered, got {type(factory).__name__}", kind=kind)
            key = name if name is not None else getattr(factory, "__name__", None)
            if not isinstance(key, str) or not key.isidentifier():
                raise RegistryError(f"a component name must be an identifier, got {key!r}", kind=kind)
            entries = self._entries.setdefault(kind, {})
            if key in entries:
                old = entries[key].factory
                raise RegistryError(
                    f"already registered by {old.__module__}.{old.__qualname__}; choose another name",
                    kind=kind,
                    name=key,
                )
            entries[key] = _Entry(kind, key, factory)
            return factory

        return decorator

    def alternatives(self, kind: str) -> Callable[[Callable[[str], list[str]]], Callable[[str], list[str]]]:
        """A decorator registering where else an unknown name of `kind` may be found.

        The decorated function takes the unknown name and returns specs of registered
        components that reach it (``[]`` for none); the unknown-name error suggests them
        first. For kinds whose factories open a catalogue of their own (the ``tfds``
        dataset and TFDS's datasets). It is called only when a name is unknown.

        Examples:
            >>> reg = Registry()
            >>> @reg.register("dataset")
            ... def catalogue(name: str):
            ...     "A dataset from a catalogue."
            ...     return name
            >>> @reg.alternatives("dataset")
            ... def in_catalogue(name):
            ...     return [f"catalogue(name={name!r})"] if name in ("cifar10", "mnist") else []
            >>> reg.build("dataset", "cifar10")
            Traceback (most recent call last):
            ...
            registry._errors.RegistryError: dataset 'cifar10': unknown name (did you mean catalogue(name='cifar10')?); valid names: catalogue
        """
        if not isinstance(kind, str) or not kind.isidentifier():
            raise RegistryError(f"a kind must be an identifier, got {kind!r}")

        def decorator(find: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
            self._alternatives.setdefault(kind, []).append(find)
            return find

        return decorator

    def get(self, kind: str, name: str) -> Callable[..., Any]:
        """The factory registered as `name` in `kind`.

        Examples:
            >>> reg = Registry()
            >>> _ = reg.register("loss")(abs)
            >>> reg.get("loss", "abs")(-2)
            2
            >>> reg.get("loss", "ab")
            Traceback (most recent call last):
            ...
            registry._errors.RegistryError: loss 'ab': unknown name (did you mean 'abs'?); valid names: abs
        """
        return self._entry(kind, name).factory

    def kinds(self) -> list[str]:
        """The sorted kinds that have at least one component.

        Examples:
            >>> reg = Registry()
            >>> _ = reg.register("schedule")(abs), reg.register("loss")(min)
            >>> reg.kinds()
            ['loss', 'schedule']
        """
        return sorted(k for k, entries in self._entries.items() if entries)

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        """Sorted names in `kind` matching the fnmatch `pattern`.

        Examples:
            >>> reg = Registry()
            >>> for name in ["adam", "adamw", "nadam", "sgd"]:
            ...     _ = reg.register("optimizer", name)(lambda: None)
            >>> reg.names("optimizer", "*adam*"), reg.names("optimizer", "adam?")
            (['adam', 'adamw', 'nadam'], ['adamw'])
        """
        return sorted(n for n in self._kind(kind) if fnmatch.fnmatchcase(n, pattern))

    def describe(self, kind: str, name: str) -> Description:
        """The signature, defaults and docstring of a component.

        Examples:
            >>> reg = Registry()
            >>> @reg.register("schedule")
            ... def step(init_value: float, step_size: int, gamma: float = 0.1):
            ...     "Multiplies by `gamma` every `step_size` steps."
            ...     return lambda t: init_value * gamma ** (t // step_size)
            >>> d = reg.describe("schedule", "step")
            >>> d.signature
            '(init_value: float, step_size: int, gamma: float = 0.1)'
            >>> d.summary
            'Multiplies by `gamma` every `step_size` steps.'
        """
        entry = self._entry(kind, name)
        hints = entry.hints
        params = []
        for p in entry.signature.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            annotation = hints.get(p.name, p.annotation)
            params.append(
                Parameter(
                    name=p.name,
                    type=_types.describe(annotation),
                    default=None if p.default is p.empty else p.default,
                    required=p.default is p.empty,
                    kind=_types.kind_of(annotation),
                )
            )
        doc = inspect.getdoc(entry.factory) or ""
        signature = "(" + ", ".join(str(p) for p in params) + ")"
        return Description(
            kind=kind,
            name=name,
            signature=signature,
            parameters=tuple(params),
            summary=doc.strip().splitlines()[0] if doc.strip() else "",
            doc=doc,
            module=getattr(entry.factory, "__module__", "?"),
        )

    def _kind(self, kind: str) -> dict[str, _Entry]:
        if kind not in self._entries or not self._entries[kind]:
            raise RegistryError(
                f"unknown kind {kind!r}{suggest(kind, self.kinds())}; valid kinds: {listing(self.kinds())}"
            )
        return self._entries[kind]

    def _entry(self, kind: str, name: str) -> _Entry:
        entries = self._kind(kind)
        if name in entries:
            return entries[name]
        elsewhere = [k for k in self.kinds() if name in self._entries[k]]
        hint = f"; {name!r} is of kind {' and '.join(map(repr, elsewhere))}, not {kind!r}" if elsewhere else ""
        first = [spec for find in self._alternatives.get(kind, ()) for spec in find(name)]
        raise RegistryError(
            f"unknown name{suggest(name, entries, first=first)}{hint}; valid names: {listing(entries)}",
            kind=kind,
            name=name,
        )

    # Building ---------------------------------------------------------------------------

    def build(self, kind: str, spec: str | Mapping | Spec) -> Any:
        """Builds the component a spec names, validating every argument first.

        Args:
            kind: the component kind, e.g. ``"optimizer"``.
            spec: a name, a call string ``name(k=v, ...)``, a mapping with ``"name"``
                (an `ml_collections.ConfigDict` too), or a parsed `Spec`.

        Returns:
            Whatever the factory returns.

        Raises:
            RegistryError: unknown name, bad argument name, missing or mistyped argument,
                an invalid value reported by the factory, or specs nested too deeply.

        Examples:
            >>> from typing import Annotated, Callable
            >>> from registry import Kind
            >>> reg = Registry()
            >>> @reg.register("schedule")
            ... def constant(value: float):
            ...     "The same value at every step."
            ...     return lambda step: value
            >>> @reg.register("optimizer")
            ... def sgd(learning_rate: Annotated[float | Callable, Kind("schedule")]):
            ...     "Plain SGD (here: just its rate)."
            ...     return learning_rate
            >>> reg.build("optimizer", "sgd(learning_rate=0.1)")
            0.1
            >>> reg.build("optimizer", {"name": "sgd", "learning_rate": "constant(0.5)"})(7)
            0.5
            >>> reg.build("optimizer", "sgd(learning_rate='fast')")
            Traceback (most recent call last):
            ...
            registry._errors.RegistryError: optimizer 'sgd': argument 'learning_rate': schedule 'fast': unknown name; valid names: constant
        """
        try:
            return self._build(kind, self._as_spec(spec))
        except RecursionError:
            raise RegistryError("the spec is nested too deeply to build", kind=kind) from None

    def _as_spec(self, spec: Any) -> Spec:
        if isinstance(spec, Spec):
            return spec
        if isinstance(spec, str):
            return parse(spec)
        if hasattr(spec, "to_dict") and callable(spec.to_dict):
            spec = spec.to_dict()
        if isinstance(spec, Mapping):
            return from_mapping(spec)
        raise RegistryError(
            f"expected a spec (a name, 'name(key=value, ...)' or a mapping with 'name'), "
            f"got {type(spec).__name__} {spec!r:.80}"
        )

    def _build(self, kind: str, spec: Spec) -> Any:
        entry = self._entry(kind, spec.name)
        values = self._bind(entry, spec)
        hints = entry.hints
        for arg, value in values.items():
            annotation = hints.get(arg, entry.signature.parameters[arg].annotation)
            built = self._resolve(entry, arg, value, _types.kind_of(annotation))
            if not _types.matches(built, annotation):
                raise RegistryError(
                    f"got {built!r:.80} ({type(built).__name__}); expected {_types.describe(annotation)}",
                    kind=kind,
                    name=spec.name,
                    argument=arg,
                )
            values[arg] = built
        positional = [
            values.pop(p.name)
            for p in entry.signature.parameters.values()
            if p.kind is p.POSITIONAL_ONLY and p.name in values
        ]
        try:
            return entry.factory(*positional, **values)
        except RegistryError as exc:
            raise exc.within(kind, spec.name) from None
        except ValueError as exc:
            raise RegistryError(str(exc), kind=kind, name=spec.name) from exc

    def _bind(self, entry: _Entry, spec: Spec) -> dict[str, Any]:
        """Maps a spec's arguments onto the factory's parameters, by name."""
        params = entry.signature.parameters
        valid = [n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        takes_any_keyword = any(p.kind is p.VAR_KEYWORD for p in params.values())
        positional = [n for n, p in params.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        where = dict(kind=entry.kind, name=entry.name)
        if len(spec.args) > len(positional):
            raise RegistryError(
                f"takes at most {len(positional)} positional argument(s) ({listing(positional)}), "
                f"got {len(spec.args)}",
                **where,
            )
        values = dict(zip(positional, spec.args))
        for key, value in spec.kwargs.items():
            if key in values:
                raise RegistryError("given twice (by position and by name)", argument=key, **where)
            if key not in params or params[key].kind is inspect.Parameter.POSITIONAL_ONLY:
                if not takes_any_keyword:
                    raise RegistryError(
                        f"unknown argument{suggest(key, valid)}; valid arguments: {listing(valid, 100)}",
                        argument=key,
                        **where,
                    )
            values[key] = value
        for n, p in params.items():
            if p.default is p.empty and n in valid and n not in values:
                raise RegistryError(
                    f"required but not given; valid arguments: {listing(valid, 100)}", argument=n, **where
                )
        return values

    def _resolve(self, entry: _Entry, arg: str, value: Any, kind: str | None) -> Any:
        """Builds the specs inside one argument value (recursively through containers)."""
        try:
            if isinstance(value, Spec):
                return self._build(kind or self._kind_by_name(value.name), value)
            if kind is not None and isinstance(value, str):
                number = _number(value)  # "0.05" where a schedule may go: a constant, as 0.05 would be
                return number if number is not None else self._build(kind, parse(value))
            if kind is not None and is_spec_mapping(value):
                return self._build(kind, from_mapping(value))
            if isinstance(value, (list, tuple)):
                return type(value)(self._resolve(entry, arg, v, kind) for v in value)
            if isinstance(value, dict):
                return {k: self._resolve(entry, arg, v, None) for k, v in value.items()}
            return value
        except RegistryError as exc:
            if exc.kind == entry.kind and exc.name == entry.name:
                raise
            raise RegistryError(str(exc), kind=entry.kind, name=entry.name, argument=arg) from None

    def _kind_by_name(self, name: str) -> str:
        found = [k for k in self.kinds() if name in self._entries[k]]
        if len(found) == 1:
            return found[0]
        if not found:
            every = {n for k in self.kinds() for n in self._entries[k]}
            raise RegistryError(f"unknown component {name!r}{suggest(name, every)}")
        raise RegistryError(f"{name!r} is ambiguous: it names a {' and a '.join(found)}")


def _number(text: str) -> int | float | None:
    """The int or float literal `text` spells (a command-line override's string), else None.

    Examples:
        >>> _number("0.05"), _number(" 1e-3 "), _number("3"), _number("cosine(decay_steps=9)"), _number("True")
        (0.05, 0.001, 3, None, None)
    """
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
