"""The arguments of a registered component, as an override addresses them: by name.

A spec may give an argument by position (``clip_by_global_norm(sgd(...), max_norm=1.0)``);
an override names it by the factory's parameter (``optimizer.optimizer``), and the spec
keeps the form it had: a positional argument is replaced where it stands.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from typing import Any

import registry

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

MISSING = object()
"""What `Factory.current` returns for an argument the spec leaves to its default."""


@dataclasses.dataclass(frozen=True)
class Factory:
    """What an override needs of a registered factory: its parameters, in order.

    Examples:
        >>> import tricks
        >>> f = Factory.find("clip_by_global_norm", "optimizer")
        >>> f.parameters, f.positional, f.kinds["optimizer"]
        (('optimizer', 'max_norm'), ('optimizer', 'max_norm'), 'optimizer')
    """

    kind: str
    name: str
    parameters: tuple[str, ...]
    positional: tuple[str, ...]
    kinds: dict[str, str | None]
    defaults: dict[str, Any]
    any_keyword: bool

    @classmethod
    def find(cls, name: Any, kind: str | None = None) -> Factory | None:
        """The factory registered as `name`, in `kind` if it is there, else in its one kind.

        Returns None when no kind has `name` (then nothing can be checked).

        Raises:
            registry.RegistryError: `name` is in several kinds, none of them `kind`.
        """
        if not isinstance(name, str):
            return None
        kinds = [k for k in registry.kinds() if name in registry.names(k)]
        if kind in kinds:
            found = kind
        elif len(kinds) == 1:
            found = kinds[0]
        elif not kinds:
            return None
        else:
            raise registry.RegistryError(f"{name!r} is ambiguous: it names a {' and a '.join(kinds)}")
        signature = inspect.signature(registry.get(found, name))
        described = {p.name: p for p in registry.describe(found, name).parameters}
        params = signature.parameters.values()
        return cls(
            kind=found,
            name=name,
            parameters=tuple(described),
            positional=tuple(p.name for p in params if p.kind in _POSITIONAL),
            kinds={n: p.kind for n, p in described.items()},
            defaults={n: p.default for n, p in described.items() if not p.required},
            any_keyword=any(p.kind is p.VAR_KEYWORD for p in params),
        )

    def accepts(self, argument: str) -> bool:
        """Whether `argument` may be given by name."""
        return argument in self.parameters or self.any_keyword

    def current(self, spec: registry.Spec, argument: str) -> Any:
        """The value `spec` gives `argument` (by name or by position), else `MISSING`.

        Examples:
            >>> import tricks
            >>> spec = registry.parse("clip_by_global_norm(sgd(learning_rate=0.1), max_norm=1.0)")
            >>> f = Factory.find(spec.name)
            >>> str(f.current(spec, "optimizer")), f.current(spec, "max_norm")
            ('sgd(learning_rate=0.1)', 1.0)
        """
        if argument in spec.kwargs:
            return spec.kwargs[argument]
        index = self._index(spec, argument)
        return spec.args[index] if index is not None else MISSING

    def replace(self, spec: registry.Spec, argument: str, value: Any) -> registry.Spec:
        """`spec` with `argument` set to `value`, by position if it was given by position.

        Examples:
            >>> import tricks
            >>> spec = registry.parse("clip_by_global_norm(sgd(learning_rate=0.1), max_norm=1.0)")
            >>> f = Factory.find(spec.name)
            >>> str(f.replace(spec, "optimizer", registry.parse("adam")))
            'clip_by_global_norm(adam(), max_norm=1.0)'
            >>> str(f.replace(spec, "max_norm", 0.5))
            'clip_by_global_norm(sgd(learning_rate=0.1), max_norm=0.5)'
        """
        index = self._index(spec, argument) if argument not in spec.kwargs else None
        if index is not None:
            args = (*spec.args[:index], value, *spec.args[index + 1:])
            return registry.Spec(spec.name, args, dict(spec.kwargs))
        return registry.Spec(spec.name, spec.args, {**spec.kwargs, argument: value})

    def unknown(self, argument: str) -> registry.RegistryError:
        """The registry's own error for an argument the factory does not take."""
        return registry.RegistryError(
            f"unknown argument{registry.suggest(argument, self.parameters)}; "
            f"valid arguments: {', '.join(sorted(self.parameters)) or '(none)'}",
            kind=self.kind,
            name=self.name,
            argument=argument,
        )

    def _index(self, spec: registry.Spec, argument: str) -> int | None:
        if argument in self.positional and self.positional.index(argument) < len(spec.args):
            return self.positional.index(argument)
        return None


def closest(word: str, choices: Any) -> str | None:
    """The choice `registry.suggest` would name first, or None.

    Examples:
        >>> closest("max_nrom", ["optimizer", "max_norm"]), closest("zzz", ["a"])
        ('max_norm', None)
    """
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[c] for c in difflib.get_close_matches(word.lower(), lowered, n=1, cutoff=0.6)]
    return close[0] if close else None
