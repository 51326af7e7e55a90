"""List registered components: kind, name, signature and summary.

Examples:
  tricks list                   every component of every kind
  tricks list optimizer         the optimizers
  tricks list optimizer adam    optimizers whose name contains 'adam' (adam, adamw, nadam)
  tricks list schedule 'cos*'   schedules whose name matches an fnmatch pattern
"""

from __future__ import annotations

import argparse
import shutil

import registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", help="a kind (optimizer, schedule, ...); all kinds if omitted")
    parser.add_argument(
        "pattern",
        nargs="?",
        default="*",
        help="a word the names contain, or an fnmatch pattern such as 'cos*' (default: every name)",
    )


def run(args: argparse.Namespace) -> int:
    import tricks  # noqa: F401  (registers the built-in components)

    kinds = [args.kind] if args.kind else registry.kinds()
    pattern = as_pattern(args.pattern)
    rows = [
        (kind, name, (d := registry.describe(kind, name)).signature, d.summary)
        for kind in kinds
        for name in registry.names(kind, pattern)
    ]
    if not rows:
        every = [name for kind in kinds for name in registry.names(kind)]
        where = f" in kind {args.kind!r}" if args.kind else ""
        print(f"no components match {args.pattern!r}{where}{registry.suggest(args.pattern, every)}")
        return 1
    print(format_table(("kind", "name", "signature", "summary"), rows))
    return 0


def as_pattern(text: str) -> str:
    """An fnmatch pattern: `text` itself if it has wildcards, else any name containing it.

    Examples:
        >>> as_pattern("adam"), as_pattern("cos*")
        ('*adam*', 'cos*')
    """
    return text if any(c in text for c in "*?[") else f"*{text}*"


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Aligns rows in columns; the last two columns are cut to fit the terminal width."""
    width = shutil.get_terminal_size((160, 24)).columns
    k = max(len(r[0]) for r in [header, *rows])
    n = max(len(r[1]) for r in [header, *rows])
    rest = max(width - k - n - 6, 40)
    sig_w = min(max(len(r[2]) for r in [header, *rows]), rest * 3 // 5)
    sum_w = max(rest - sig_w, 10)

    def cut(text: str, w: int) -> str:
        return text if len(text) <= w else text[: w - 1] + "…"

    lines = [
        f"{a:<{k}}  {b:<{n}}  {cut(c, sig_w):<{sig_w}}  {cut(d, sum_w)}".rstrip()
        for a, b, c, d in [header, *rows]
    ]
    lines.insert(1, "-" * min(width, len(max(lines, key=len))))
    return "\n".join(lines)
