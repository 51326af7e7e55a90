"""The one exception the registry raises, and the helpers that word its messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RegistryError(ValueError):
    """A spec, a registration or an argument that the registry cannot accept.

    It subclasses `ValueError`, so code that already catches bad values keeps working.
    The attributes say where the problem is: `kind` and `name` the component (when
    known), `argument` the offending argument (when there is one).

    Factories validate their own values by raising it with `argument=` set; when they
    run under `build`, the registry adds the kind and component to the message.

    Examples:
        >>> err = RegistryError("must be positive, got -1", argument="learning_rate")
        >>> str(err.within("optimizer", "sgd"))
        "optimizer 'sgd': argument 'learning_rate': must be positive, got -1"
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        argument: str | None = None,
    ):
        self.message = message
        self.kind = kind
        self.name = name
        self.argument = argument
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.kind is not None and self.name is not None:
            where.append(f"{self.kind} {self.name!r}")
        elif self.kind is not None:
            where.append(f"kind {self.kind!r}")
        if self.argument is not None:
            where.append(f"argument {self.argument!r}")
        return ": ".join([*where, self.message])

    def within(self, kind: str, name: str) -> RegistryError:
        """The same error placed inside component `name` of `kind`, if not already placed."""
        if self.kind is not None:
            return self
        return RegistryError(self.message, kind=kind, name=name, argument=self.argument)


def suggest(word: str, choices: Iterable[str], n: int = 3, first: Iterable[str] = ()) -> str:
    """A ' (did you mean ...?)' hint naming the closest choices, or '' if none is close.

    `first` are alternatives already chosen (specs, shown as they are), named before them.

    Examples:
        >>> suggest("adamww", ["adam", "adamw", "sgd"])
        " (did you mean 'adamw' or 'adam'?)"
        >>> suggest("zzz", ["adam"])
        ''
        >>> suggest("mnist", ["mnist1d"], first=["tfds(name='mnist')"])
        " (did you mean tfds(name='mnist') or 'mnist1d'?)"
        >>> suggest("adma", ["adamax", "adan", "adam"])  # a swap of two letters is one edit
        " (did you mean 'adam' or 'adamax' or 'adan'?)"
    """
    choices = list(choices)
    close = _closest(word, choices, n)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[c] for c in _closest(word.lower(), lowered, n)]
    named = [*first, *(repr(c) for c in close)]
    if not named:
        return ""
    return " (did you mean " + " or ".join(named) + "?)"


def _closest(word: str, choices: Iterable[str], n: int) -> list[str]:
    """Up to `n` of difflib's close matches, fewest edits first (`edits`); difflib's order
    breaks ties. difflib alone ranks by common substrings: 'adma' came out closer to
    'adamax' and 'adan' than to 'adam'."""
    close = difflib.get_close_matches(word, list(choices), n=max(n, 10), cutoff=0.6)
    return sorted(close, key=lambda c: edits(word, c))[:n]


def edits(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of adjacent letters that turn `a` into
    `b` (the optimal-string-alignment distance).

    Examples:
        >>> edits("adma", "adam"), edits("adma", "adamax"), edits("sgd", "sgd")
        (1, 2, 0)
    """
    rows = [list(range(len(b) + 1))]
    for i, x in enumerate(a, 1):
        row = [i]
        for j, y in enumerate(b, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (x != y)))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def listing(choices: Iterable[str], limit: int = 40) -> str:
    """Choices as a short comma-separated list, elided past `limit`.

    Examples:
        >>> listing(["b", "a"])
        'a, b'
    """
    choices = sorted(choices)
    if not choices:
        return "(none)"
    shown = ", ".join(choices[:limit])
    return shown + (f", ... ({len(choices) - limit} more)" if len(choices) > limit else "")
