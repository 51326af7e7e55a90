"""Specs: what a config writes to name a component, parsed without ever running code.

A spec is one of
  * a name: ``"adam"``;
  * a call string: ``"warmup(cosine(init_value=0.1, decay_steps=900), warmup_steps=100)"``;
  * a mapping with a ``"name"`` key: ``{"name": "sgd", "learning_rate": 0.1}``.

Call strings are parsed with `ast` and converted node by node: only literals (numbers,
strings, booleans, None, lists, tuples, dicts), negated numbers, bare names and calls of
names are accepted. Anything else (attribute access, subscripts, lambdas, comprehensions,
f-strings, operators, starred arguments) raises `RegistryError`, and nothing is executed.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping
from typing import Any

from registry._errors import RegistryError

_FORBIDDEN = {
    ast.Attribute: "attribute access is",
    ast.Subscript: "subscripts are",
    ast.Lambda: "lambdas are",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "comprehensions are",
    ast.JoinedStr: "f-strings are",
    ast.Starred: "starred arguments are",
    ast.BinOp: "arithmetic is",
    ast.BoolOp: "boolean operators are",
    ast.Compare: "comparisons are",
    ast.IfExp: "conditional expressions are",
    ast.NamedExpr: "assignment expressions are",
    ast.Await: "await is",
    ast.Yield: "yield is",
    ast.YieldFrom: "yield is",
    ast.Set: "sets are",
}


@dataclasses.dataclass(frozen=True)
class Spec:
    """A parsed component reference: a name with positional and keyword arguments.

    Argument values are plain Python literals, lists, tuples, dicts, or nested `Spec`s.

    Examples:
        >>> parse("warmup(cosine(init_value=0.1, decay_steps=90), warmup_steps=10)")
        Spec(name='warmup', args=(Spec(name='cosine', args=(), kwargs={'init_value': 0.1, 'decay_steps': 90}),), kwargs={'warmup_steps': 10})
    """

    name: str
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        parts = [_format_value(a) for a in self.args]
        parts += [f"{k}={_format_value(v)}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"


def _format_value(value: Any) -> str:
    if isinstance(value, Spec):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_format_value(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_format_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def parse(text: str) -> Spec:
    """Parses a name or call string into a `Spec`, refusing anything but literals and calls.

    Args:
        text: ``"name"`` or ``"name(arg, key=value, ...)"``.

    Returns:
        The parsed `Spec`.

    Raises:
        RegistryError: the text is not a valid spec; the message says what is not allowed.

    Examples:
        >>> parse("adamw(learning_rate=3e-4, weight_decay=0.05)")
        Spec(name='adamw', args=(), kwargs={'learning_rate': 0.0003, 'weight_decay': 0.05})
        >>> parse("__import__('os').system('ls')")
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: invalid spec "__import__('os').system('ls')": attribute access is not allowed; a spec is a name or name(key=value, ...) with literal values
    """
    if not isinstance(text, str):
        raise RegistryError(f"a spec string must be a str, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise RegistryError("empty spec: expected a name or name(key=value, ...)")
    try:
        tree = ast.parse(stripped, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        detail = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise RegistryError(f"invalid spec {_quoted(text)}: not a name or call ({detail})") from None
    try:
        node = tree.body
        if isinstance(node, ast.Name):
            return Spec(node.id)
        if isinstance(node, ast.Call):
            return _call(node)
        raise _refuse(node, "the spec must be a name or a call name(...)")
    except _Refused as refused:
        raise RegistryError(f"invalid spec {_quoted(text)}: {refused.reason}") from None
    except RecursionError:
        raise RegistryError(f"invalid spec {_quoted(text)}: nested too deeply") from None


def _quoted(text: str, limit: int = 120) -> str:
    """`text` quoted for a message, its middle elided past `limit` characters.

    Examples:
        >>> _quoted("adam"), _quoted("a" * 10 + "b" * 10, limit=11)
        ("'adam'", "'aaaa … bbbb'")
    """
    if len(text) <= limit:
        return repr(text)
    half = (limit - 3) // 2
    return repr(f"{text[:half]} … {text[-half:]}")


def from_mapping(mapping: Mapping) -> Spec:
    """Turns ``{"name": ..., **kwargs}`` into a `Spec` (values are left as they are).

    Examples:
        >>> from_mapping({"name": "sgd", "learning_rate": 0.1})
        Spec(name='sgd', args=(), kwargs={'learning_rate': 0.1})
    """
    if "name" not in mapping:
        keys = ", ".join(repr(k) for k in mapping) or "none"
        raise RegistryError(f"a spec mapping needs a 'name' key (keys given: {keys})")
    name = mapping["name"]
    if not isinstance(name, str) or not name.isidentifier():
        raise RegistryError(f"a spec mapping's 'name' must be a component name, got {name!r}")
    kwargs = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise RegistryError(f"spec {name!r}: argument names must be identifiers, got {key!r}")
        if key != "name":
            kwargs[key] = value
    return Spec(name, (), kwargs)


def is_spec_mapping(value: Any) -> bool:
    """Whether `value` is a mapping that names a component (has a ``"name"`` key)."""
    return isinstance(value, Mapping) and "name" in value


class _Refused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _refuse(node: ast.AST, why: str | None = None) -> _Refused:
    what = _FORBIDDEN.get(type(node))
    if what is not None:
        return _Refused(
            f"{what} not allowed; a spec is a name or name(key=value, ...) with literal values"
        )
    return _Refused(why or f"{type(node).__name__} expressions are not allowed in a spec")


def _call(node: ast.Call) -> Spec:
    if not isinstance(node.func, ast.Name):
        raise _refuse(node.func, "only calls of plain names are allowed, like cosine(...)")
    args = tuple(_value(a) for a in node.args)
    kwargs: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise _Refused("'**' arguments are not allowed; write each key=value")
        if kw.arg in kwargs:
            raise _Refused(f"argument {kw.arg!r} given twice to {node.func.id!r}")
        kwargs[kw.arg] = _value(kw.value)
    return Spec(node.func.id, args, kwargs)


def _value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (bool, int, float, str)) or node.value is None:
            return node.value
        raise _Refused(f"constant {node.value!r} of type {type(node.value).__name__} is not allowed")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
            return -operand.value if isinstance(node.op, ast.USub) else operand.value
        raise _Refused("a sign is allowed only before a number")
    if isinstance(node, ast.List):
        return [_value(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        out = {}
        for key, val in zip(node.keys, node.values):
            if key is None:
                raise _Refused("'**' unpacking is not allowed in a dict")
            k = _value(key)
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise _Refused("dict keys must be literals")
            out[k] = _value(val)
        return out
    if isinstance(node, ast.Name):
        return Spec(node.id)
    if isinstance(node, ast.Call):
        return _call(node)
    raise _refuse(node)
