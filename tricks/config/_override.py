"""Applies ``--config.a.b=value`` overrides, typed by the value they replace."""

from __future__ import annotations

import ast
import dataclasses
import math
import shlex
from collections.abc import Iterable
from typing import Any

import ml_collections

import registry
from tricks.config._arguments import MISSING, Factory, closest
from tricks.config._load import ConfigError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def apply_overrides(config: ml_collections.ConfigDict, overrides: Iterable[str]) -> ml_collections.ConfigDict:
    """Returns a copy of `config` with each ``[--config.]a.b=value`` override applied.

    A value is parsed as the type of the value it replaces (bool, int, float, str, list,
    ...). A component field takes a spec string whatever form the file used. The
    arguments of a spec are reached by further dots, by the parameter names of the
    registered factory, whether the spec gives them by name or by position, and through
    nested specs; the spec is parsed (never run), checked against the factory's signature
    and written back in the form the config held (a string stays a string, a mapping a
    mapping). Where a component may go, a number or a spec string is accepted.

    Raises:
        ConfigError: a malformed override, an unknown key or argument (the valid ones
            are listed), or a value that does not parse as the field's type; the message
            names the override and shows one that would work.

    Examples:
        >>> cfg = ml_collections.ConfigDict({"batch_size": 128, "optimizer": "adamw(learning_rate=0.001)"})
        >>> cfg = apply_overrides(cfg, ["--config.batch_size=256", "optimizer.learning_rate=3e-4"])
        >>> cfg.batch_size, cfg.optimizer
        (256, 'adamw(learning_rate=0.0003)')
        >>> cfg.optimizer = "clip_by_global_norm(sgd(learning_rate=0.1), max_norm=1.0)"
        >>> overrides = ["optimizer.max_norm=0.5", "optimizer.optimizer.learning_rate=0.05"]
        >>> apply_overrides(cfg, overrides).optimizer
        'clip_by_global_norm(sgd(learning_rate=0.05), max_norm=0.5)'
        >>> apply_overrides(cfg, ["optimizer.max_nrom=0.5"])
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: optimizer.max_nrom=0.5: optimizer 'clip_by_global_norm': argument 'max_nrom': unknown argument (did you mean 'max_norm'?); valid arguments: max_norm, optimizer; for example --config.optimizer.max_norm=0.5
    """
    data = config.to_dict()
    for override in overrides:
        key, sep, text = override.removeprefix("--").removeprefix("config.").partition("=")
        if not sep or not key:
            raise ConfigError(f"override {_shown(override)!r} must look like --config.key=value")
        _set_in_mapping(data, 0, _Target(override, tuple(key.split(".")), text))
    return ml_collections.ConfigDict(data, type_safe=False)


@dataclasses.dataclass(frozen=True)
class _Target:
    """One override: as given (for messages), its key path and its value text."""

    override: str
    path: tuple[str, ...]
    text: str

    def where(self, depth: int) -> str:
        return ".".join(self.path[:depth]) or "the config"

    def error(self, message: str, path: tuple[str, ...] | None = None, value: Any = MISSING) -> ConfigError:
        """The error for this override, showing ``--config.<path>=<value>`` as one that works."""
        if path is None or value is MISSING:
            return ConfigError(f"{_shown(self.override)}: {message}")
        return ConfigError(f"{_shown(self.override)}: {message}; for example {_command(path, value)}")


def _set(node: Any, depth: int, t: _Target, kind: str | None) -> Any:
    """`node`, the value at ``t.path[:depth]``, with the override applied inside it."""
    if isinstance(node, dict):
        return _set_in_mapping(node, depth, t, kind)
    part, where, whole = t.path[depth], t.where(depth), t.path[:depth]
    if isinstance(node, (str, registry.Spec)):
        spec = node
        if isinstance(node, str):
            try:
                spec = registry.parse(node)
            except registry.RegistryError:
                spec = None
        factory = _factory(spec.name if spec is not None else None, depth, t, kind)
        if factory is not None:
            return _set_in_spec(node, spec, factory, depth, t)
        what = f"the string {node!r}" if isinstance(node, str) else f"the spec {str(node)!r}"
        why = ""
        if spec is not None:
            every = {n for k in registry.kinds() for n in registry.names(k)}
            why = f" (no component is registered as {spec.name!r}{registry.suggest(spec.name, every)})"
        raise t.error(f"{where} is {what}, which has no field {part!r}{why}", whole, _whole_example(node, t))
    what = type(node).__name__
    what = f"an {what}" if what[0] in "aeiou" else f"a {what}"
    raise t.error(f"{where} is {what}, which has no field {part!r}", whole, _whole_example(node, t))


def _set_in_mapping(node: dict, depth: int, t: _Target, kind: str | None = None) -> dict:
    part, where = t.path[depth], t.where(depth)
    factory = _factory(node.get("name"), depth, t, kind) if depth > 0 and "name" in node else None
    if part in node:
        old = node[part]
    elif factory is not None:
        if not factory.accepts(part):
            given = {k: v for k, v in node.items() if k != "name"}
            raise _unknown_argument(factory, given, depth, t)
        old = factory.defaults.get(part, MISSING)
    elif depth > 0 and "name" in node:  # an unregistered component: its arguments cannot be checked here
        old = MISSING
    else:
        best = closest(part, node)
        example = (_swap(t, depth, best), t.text) if best else _first(node, t.path[:depth])
        known = f"{registry.suggest(part, node)}; valid keys: {', '.join(sorted(node)) or '(none)'}"
        raise t.error(f"unknown key {part!r} in {where}{known}", *example)
    node[part] = _step(old, depth, t, factory.kinds.get(part) if factory else None, in_spec=False)
    return node


def _set_in_spec(node: str | registry.Spec, spec: registry.Spec, factory: Factory, depth: int, t: _Target):
    part = t.path[depth]
    if not factory.accepts(part):
        given = {p: factory.current(spec, p) for p in factory.parameters}
        raise _unknown_argument(factory, {k: v for k, v in given.items() if v is not MISSING}, depth, t)
    old = factory.current(spec, part)
    if old is MISSING:
        old = factory.defaults.get(part, MISSING)
    new = factory.replace(spec, part, _step(old, depth, t, factory.kinds.get(part), in_spec=True))
    return str(new) if isinstance(node, str) else new


def _step(old: Any, depth: int, t: _Target, kind: str | None, in_spec: bool) -> Any:
    """The new value of ``t.path[:depth + 1]``: the override's value, or `old` changed inside."""
    if depth + 1 == len(t.path):
        value = _value(t, old, kind, in_spec)
        if isinstance(value, float) and not math.isfinite(value):
            shown = old if old is not MISSING and old is not None else MISSING
            raise t.error(f"expected a finite number, got {t.text!r}", t.path, shown)
        return value
    if old is MISSING or old is None:
        where, part = t.where(depth + 1), t.path[depth + 1]
        message = f"{where} is not set, so it has no field {part!r}; set it whole"
        taker = _taking(kind, part) if depth + 2 == len(t.path) else None
        if taker is None:
            raise t.error(f"{message}, like --config.{where}={'NAME(...)' if kind else 'VALUE'}")
        raise t.error(message, t.path[:depth + 1], registry.Spec(taker, (), {part: _literal_or_text(t.text)}))
    return _set(old, depth + 1, t, kind)


def _taking(kind: str | None, argument: str) -> str | None:
    """A component of `kind` that `argument` alone builds, for an example; None if there is none."""
    if kind is None or kind not in registry.kinds():
        return None
    for name in registry.names(kind):
        parameters = registry.describe(kind, name).parameters
        required = {p.name for p in parameters if p.required}
        if argument in {p.name for p in parameters} and required <= {argument}:
            return name
    return None


def _factory(name: Any, depth: int, t: _Target, kind: str | None) -> Factory | None:
    """The factory of the spec at ``t.path[:depth]``; a top-level field's key hints its kind."""
    try:
        return Factory.find(name, kind or (t.path[0] if depth == 1 else None))
    except registry.RegistryError as exc:
        raise t.error(f"{t.where(depth)}: {exc}") from None


def _unknown_argument(factory: Factory, given: dict, depth: int, t: _Target) -> ConfigError:
    part = t.path[depth]
    best = closest(part, factory.parameters)
    if best is not None:
        example = (_swap(t, depth, best), t.text)
    elif given:
        example = _first(given, t.path[:depth])
    elif factory.defaults:
        example = _first(factory.defaults, t.path[:depth])
    else:
        example = (None, MISSING)
    return t.error(str(factory.unknown(part)), *example)


def _swap(t: _Target, depth: int, part: str) -> tuple[str, ...]:
    return (*t.path[:depth], part, *t.path[depth + 1:])


def _first(values: dict, prefix: tuple[str, ...]) -> tuple[tuple[str, ...] | None, Any]:
    """An override setting the first of `values` to what it is (the form, when no guess is close)."""
    for key, value in values.items():
        if isinstance(key, str) and key.isidentifier() and value is not None:
            return (*prefix, key), value
    return None, MISSING


def _whole_example(node: Any, t: _Target) -> Any:
    """What to set a field that has no subfields to: the override's value if it fits, else its own."""
    if isinstance(node, str):
        return node
    try:
        _parse(t.text, node, t)
    except ConfigError:
        return node
    return t.text


def _value(t: _Target, old: Any, kind: str | None, in_spec: bool) -> Any:
    """The override's value for a field that held `old` (`kind`: a component of it may go there).

    Where a component may go, a number stays a number (a constant schedule) and a spec
    string is checked, and kept a `Spec` inside a spec so that it is written unquoted.
    """
    if (kind is not None or isinstance(old, registry.Spec)) and not isinstance(old, (list, tuple)):
        value = _literal_or_text(t.text)
        if not isinstance(value, str):
            return value
        shown = old if old is not MISSING and old is not None else MISSING
        try:
            spec = registry.parse(value)
        except registry.RegistryError as exc:
            raise t.error(str(exc), t.path, shown) from None
        if kind is not None:
            try:
                registry.get(kind, spec.name)
            except registry.RegistryError as exc:
                best = closest(spec.name, registry.names(kind)) if kind in registry.kinds() else None
                if best is not None:
                    shown = registry.Spec(best, spec.args, spec.kwargs)
                raise t.error(str(exc), t.path, shown) from None
        return spec if in_spec else value
    return _parse(t.text, old, t)


def _parse(text: str, old: Any, t: _Target) -> Any:
    if old is MISSING or old is None:
        return _literal_or_text(text)
    if isinstance(old, bool):
        lowered = text.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise t.error(f"expected a bool (true/false), got {text!r}", t.path, old)
    if isinstance(old, int):
        try:
            return int(text)
        except ValueError:
            raise t.error(f"expected an int, got {text!r}", t.path, old) from None
    if isinstance(old, float):
        try:
            return float(text)
        except ValueError:
            raise t.error(f"expected a float, got {text!r}", t.path, old) from None
    if isinstance(old, str):
        return text
    if isinstance(old, (list, tuple)):
        value = _literal_or_text(text)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise t.error(f"expected a list like [1, 2] or ['a', 'b(x=1)'], got {text!r}", t.path, old)
        return tuple(value) if isinstance(old, tuple) else list(value)
    if isinstance(old, dict):
        value = _literal_or_text(text)
        if isinstance(value, dict):
            return value
        if "name" in old and isinstance(value, str):
            try:
                registry.parse(value)
            except registry.RegistryError as exc:
                raise t.error(str(exc), t.path, old) from None
            return value
        raise t.error(f"expected a mapping or a spec string, got {text!r}", t.path, old)
    return _literal_or_text(text)


def _literal_or_text(text: str) -> Any:
    """`text` as a Python literal, ``inf`` and ``nan`` as floats (not names), else as it is.

    Examples:
        >>> _literal_or_text("[1, 'a']"), _literal_or_text("-inf"), _literal_or_text("sgd(momentum=0.9)")
        ([1, 'a'], -inf, 'sgd(momentum=0.9)')
    """
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    if text.strip().lower().lstrip("+-") in ("inf", "infinity", "nan"):
        return float(text)
    return text


def _shown(text: str, limit: int = 80) -> str:
    """`text` for a message: its first `limit` characters, then "..." if it goes on.

    Examples:
        >>> _shown("--config.seed=1"), _shown("x" * 100, limit=5)
        ('--config.seed=1', 'xxxxx...')
    """
    return text if len(text) <= limit else f"{text[:limit]}..."


def _command(path: tuple[str, ...], value: Any) -> str:
    """The override ``--config.<path>=<value>`` as one types it in a shell.

    Examples:
        >>> _command(("optimizer",), registry.parse("sgd(learning_rate=0.1)")), _command(("use_bn",), True)
        ("--config.optimizer='sgd(learning_rate=0.1)'", '--config.use_bn=true')
    """
    return f"--config.{'.'.join(path)}={shlex.quote(_text(value))}"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, registry.Spec):
        return str(value)
    if isinstance(value, bool):
        return str(value).lower()
    return repr(_plain(value))


def _plain(value: Any) -> Any:
    if isinstance(value, registry.Spec):
        return str(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
