"""docs/config.md: every field of the training config, its default, type and meaning.

The meanings are the comments beside each field in `tricks.train.default_config`
(tricks/train/_defaults.py), read from its source with `ast` and `tokenize`; the few
fields without one take theirs from `UNCOMMENTED` until they get one.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import tokenize
from typing import Any

from tools.docs._text import HEADER, anchor, cell, paragraphs

DEFAULTS = "tricks/train/_defaults.py"

UNCOMMENTED = {
    "loss": "the loss that training minimizes",
    "optimizer": "the optimizer; its learning_rate, momentum, b1 and weight_decay take numbers or "
                 "schedule specs",
    "eval_batch_size": "the global batch of evaluation, over all devices and hosts",
    "log_every": "steps between log records (training metrics fetched and written)",
    "eval_metrics": "metric specs (kind `metric`) of each evaluation, summed over the whole split",
    "seed": "the run's seed: initial parameters, data order, dropout and augmentation",
    "distributed.coordinator": "process 0's `host:port`; '': `TRICKS_COORDINATOR` from the environment",
    "distributed.num_processes": "the number of processes; 0: `TRICKS_NUM_PROCESSES` from the environment",
    "distributed.process_id": "this process's id, in [0, num_processes); -1: `TRICKS_PROCESS_ID` from the "
                              "environment",
    "distributed.auto": "let JAX detect the cluster itself (TPU pods, SLURM, ...)",
    "distributed.timeout_s": "seconds to wait for the coordinator before stopping with its address",
}
"""Meanings of the fields that have no comment in tricks/train/_defaults.py (tests/test_docs.py
checks that each entry is still needed: once a field has its comment there, its entry goes)."""

SPEC_LISTS = {"train_metrics": "metric", "eval_metrics": "metric"}
"""List fields of specs whose kind is not the field's own name (``augment``'s is)."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One config field: dotted name, default, type and meaning ('' when undocumented).

    Examples:
        >>> print(Field("seed", 0, "int", "the run's seed").row())
        | `seed` | `0` | int | the run's seed |
    """

    name: str
    default: Any
    type: str
    meaning: str

    def row(self) -> str:
        """The field's row of a Markdown table: field, default, type, meaning."""
        meaning = self.meaning or f"**undocumented**: add a comment beside it in {DEFAULTS}"
        return f"| `{self.name}` | `{cell(_literal(self.default))}` | {self.type} | {cell(meaning)} |"


def source_fields() -> dict[str, str]:
    """Field -> its comment, for every field `default_config`'s source assigns, in source order.

    A field's comment is the full-line comments just above its assignment and the one ending
    its first line ('' for none). In a mapping written over several lines, a comment ending a
    line that holds one key is that key's: ``"optimizer.learning_rate"``; the keys of a
    group of fields are listed in their order too (``"distributed.coordinator"``).

    Examples:
        >>> fields = source_fields()
        >>> fields["dataset"], list(fields)[:3]
        ('a dataset spec', ['dataset', 'model', 'loss'])
    """
    from tricks.train import _defaults

    source = inspect.getsource(_defaults)
    function = next(n for n in ast.parse(source).body
                    if isinstance(n, ast.FunctionDef) and n.name == "default_config")
    lines = source.splitlines()
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    found: dict[str, str] = {}
    for stmt in function.body:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
        if not isinstance(target, ast.Attribute) or not isinstance(target.value, ast.Name):
            continue
        above, line = [], stmt.lineno - 1
        while line >= 1 and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments.get(line, ""))
            line -= 1
        found[target.attr] = " ".join(filter(None, above + [comments.get(stmt.lineno, "")]))
        keys = [k for d in ast.walk(stmt.value) if isinstance(d, ast.Dict) for k in d.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str)]
        for key in keys:
            alone = key.lineno > stmt.lineno and [k.lineno for k in keys].count(key.lineno) == 1
            found[f"{target.attr}.{key.value}"] = comments.get(key.lineno, "") if alone else ""
    return found


def config_fields() -> list[Field]:
    """Every field of `tricks.train.default_config` in its source order; a group gives one per key.

    Examples:
        >>> fields = {f.name: f for f in config_fields()}
        >>> fields["batch_size"].default, fields["batch_size"].type
        (128, 'int in [1, 2**31 - 1]')
        >>> fields["distributed.auto"].type, fields["distributed.timeout_s"].type
        ('bool', 'int')
        >>> fields["optimizer"].meaning.endswith("; `learning_rate`: cosine over the rest of the run")
        True
    """
    import registry
    from tricks.train import _defaults

    comments = source_fields()
    order = {name: i for i, name in enumerate(comments)}
    defaults = _defaults.default_config().to_dict()
    fields = []
    for name in sorted(defaults, key=lambda n: (order.get(n, len(order)), n)):
        value = defaults[name]
        if _is_group(value):
            for key in sorted(value, key=lambda k: (order.get(f"{name}.{k}", len(order)), k)):
                dotted = f"{name}.{key}"
                meaning = _meaning(dotted, comments)
                fields.append(Field(dotted, value[key], type(value[key]).__name__, meaning))
            continue
        inner = [f"`{key.partition('.')[2]}`: {text}"
                 for key, text in comments.items() if key.startswith(f"{name}.") and text]
        meaning = "; ".join(filter(None, [_meaning(name, comments)] + inner))
        least = getattr(_defaults, "_COUNTS", {})  # the integer fields' ranges, which `complete` checks
        fields.append(Field(name, value, _type(name, value, registry.kinds(), least), meaning))
    return fields


def undocumented() -> list[str]:
    """The fields without a meaning: no comment in tricks/train/_defaults.py, no `UNCOMMENTED` entry.

    Examples:
        >>> undocumented()
        []
    """
    return [f.name for f in config_fields() if not f.meaning]


def config_page() -> str:
    """The text of docs/config.md.

    Examples:
        >>> print(config_page()[len(HEADER):].split("\\n")[1])
        # Training config fields
    """
    from tricks.train import default_config

    comments = source_fields()
    rows, groups = [], {}
    for f in config_fields():
        group, dot, _ = f.name.partition(".")
        if not dot:
            rows.append(f.row())
            continue
        if group not in groups:
            meaning = "; ".join(filter(None, [comments.get(group, ""), f"see [below](#{anchor(group)})"]))
            rows.append(f"| `{group}.*` | | group | {cell(meaning)} |")
        groups.setdefault(group, []).append(f.row())
    table = ["| field | default | type | meaning |", "|---|---|---|---|"]
    out = [
        HEADER,
        "# Training config fields",
        "",
        f"Every field of a training config, as `tricks.train.default_config()` defines it ({DEFAULTS}); "
        "together, their defaults make the default run. "
        + " ".join(paragraphs(inspect.getdoc(default_config))[1:]),
        "",
        "A config sets any of them; a field it leaves out takes its default "
        "(`tricks.train.complete`), and an unknown one is refused, naming the closest. "
        "On the command line `--config.FIELD=VALUE` overrides one, and `--config.GROUP.FIELD=VALUE` "
        "a field of a group. A *spec* is a registry spec: a name, a call string `name(key=value, ...)` "
        "or a mapping with `name`; `tricks list KIND` lists a kind's names, and "
        "[api.md](api.md#registered-components) their arguments.",
        "",
        *table,
    ]
    out += rows
    for group, members in groups.items():
        out += ["", f"## `{group}.*`", "", *table, *members]
    return "\n".join(out) + "\n"


def _is_group(value: Any) -> bool:
    """A mapping of fields (merged key by key by `complete`), not a spec (which has ``name``)."""
    return isinstance(value, dict) and "name" not in value


def _meaning(name: str, comments: dict[str, str]) -> str:
    return comments.get(name) or UNCOMMENTED.get(name, "")


def _type(name: str, value: Any, kinds: list[str], least: dict[str, tuple[int, int]]) -> str:
    kind = SPEC_LISTS.get(name) or (name if name in kinds else None)
    if kind and isinstance(value, list):
        return f"list of `{kind}` specs"
    if kind:
        return f"`{kind}` spec"
    text = type(value).__name__
    if name not in least:
        return text
    from tricks.train import _defaults

    low, high = least[name]
    return f"{text} in [{low}, {_defaults._BOUND_TEXT.get(high, high)}]"


def _literal(value: Any) -> str:
    """`value` as Python source; a spec mapping shows ``name`` first, as one writes it."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (k != "name", k))
        return "{" + ", ".join(f"{k!r}: {_literal(value[k])}" for k in keys) + "}"
    return repr(value)
