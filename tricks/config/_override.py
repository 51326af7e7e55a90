"""Applies ``--config.a.b=value`` overrides, typed by the value they replace."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import Any

import ml_collections

import registry
from tricks.config._load import ConfigError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def apply_overrides(config: ml_collections.ConfigDict, overrides: Iterable[str]) -> ml_collections.ConfigDict:
    """Returns a copy of `config` with each ``[--config.]a.b=value`` override applied.

    A value is parsed as the type of the value it replaces (bool, int, float, str, list,
    ...). A component field takes a spec string whatever form the file used, and the
    arguments of a spec (string or mapping) can be set one by one.

    Raises:
        ConfigError: a malformed override, an unknown key (the valid keys are listed), or
            a value that does not parse as the field's type.

    Examples:
        >>> cfg = ml_collections.ConfigDict({"batch_size": 128, "optimizer": "adamw(learning_rate=0.001)"})
        >>> cfg = apply_overrides(cfg, ["--config.batch_size=256", "optimizer.learning_rate=3e-4"])
        >>> cfg.batch_size, cfg.optimizer.learning_rate, cfg.optimizer.name
        (256, 0.0003, 'adamw')
    """
    data = config.to_dict()
    for override in overrides:
        key, sep, text = override.removeprefix("--").removeprefix("config.").partition("=")
        if not sep or not key:
            raise ConfigError(f"override {override!r} must look like --config.key=value")
        _set(data, key.split("."), text, override)
    return ml_collections.ConfigDict(data, type_safe=False)


def _set(data: dict, path: list[str], text: str, override: str) -> None:
    node: Any = data
    for depth, part in enumerate(path):
        where = ".".join(path[:depth]) or "the config"
        is_spec = _as_spec_dict(node) is not None
        if isinstance(node, str):
            raise ConfigError(f"{override}: {where} is the string {node!r}, which has no field {part!r}")
        if not isinstance(node, dict):
            raise ConfigError(f"{override}: {where} is a {type(node).__name__}, which has no field {part!r}")
        last = depth == len(path) - 1
        if part not in node and not is_spec:
            valid = ", ".join(sorted(node)) or "(none)"
            raise ConfigError(
                f"{override}: unknown key {part!r} in {where}{registry.suggest(part, node)}; "
                f"valid keys: {valid}"
            )
        if last:
            node[part] = _parse(text, node.get(part, _NEW), override)
            return
        child = node[part] if part in node else {}
        spec_dict = _as_spec_dict(child)
        if spec_dict is not None:
            child = spec_dict
        node[part] = child
        node = child


_NEW = object()


def _as_spec_dict(value: Any) -> dict | None:
    """A spec string or spec mapping as a mutable ``{"name": ..., **kwargs}`` dict."""
    if isinstance(value, Mapping):
        return value if "name" in value else None
    if not isinstance(value, str):
        return None
    try:
        spec = registry.parse(value)
    except registry.RegistryError:
        return None
    if spec.args:
        return None
    return {"name": spec.name, **{k: _plain(v) for k, v in spec.kwargs.items()}}


def _plain(value: Any) -> Any:
    if isinstance(value, registry.Spec):
        return str(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _parse(text: str, old: Any, override: str) -> Any:
    if old is _NEW or old is None:
        return _literal_or_text(text)
    if isinstance(old, bool):
        lowered = text.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ConfigError(f"{override}: expected a bool (true/false), got {text!r}")
    if isinstance(old, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{override}: expected an int, got {text!r}") from None
    if isinstance(old, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{override}: expected a float, got {text!r}") from None
    if isinstance(old, str):
        return text
    if isinstance(old, (list, tuple)):
        value = _literal_or_text(text)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{override}: expected a list like [1, 2] or ['a', 'b(x=1)'], got {text!r}")
        return list(value)
    if isinstance(old, dict):
        value = _literal_or_text(text)
        if isinstance(value, dict):
            return value
        if "name" in old and isinstance(value, str):
            try:
                registry.parse(value)
            except registry.RegistryError as exc:
                raise ConfigError(f"{override}: {exc}") from None
            return value
        raise ConfigError(f"{override}: expected a mapping or a spec string, got {text!r}")
    return _literal_or_text(text)


def _literal_or_text(text: str) -> Any:
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
