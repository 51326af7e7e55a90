"""Loads third-party components advertised through a Python entry-point group."""

from __future__ import annotations

import importlib.metadata
import types
import warnings

_loaded: dict[str, list[str]] = {}


def load_plugins(group: str) -> list[str]:
    """Imports every entry point of `group` once; returns the names that loaded.

    An entry point may name a module (importing it registers its components through
    `registry.register`) or a function taking no arguments (called once). A plugin that
    fails is skipped with a `RuntimeWarning` naming it, so the built-ins keep working.

    Examples:
        >>> load_plugins("no.such.group")
        []
    """
    if group in _loaded:
        return list(_loaded[group])
    loaded: list[str] = []
    for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, (type, types.ModuleType)):
                obj()
        except Exception as exc:  # a broken plugin must not break the toolkit
            warnings.warn(
                f"plugin {ep.name!r} ({ep.value}) from entry-point group {group!r} failed to load "
                f"and was skipped: {type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        loaded.append(ep.name)
    _loaded[group] = loaded
    return list(loaded)
