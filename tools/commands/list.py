"""List registered components: kind, name, signature and summary.

Examples:
  tricks list                   every component of every kind
  tricks list optimizer         the optimizers
  tricks list schedule 'cos*'   schedules whose name matches a pattern
"""

from __future__ import annotations

import argparse
import shutil

import registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", help="a kind (optimizer, schedule, ...); all kinds if omitted")
    parser.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern on names (default: *)")


def run(args: argparse.Namespace) -> int:
    import tricks  # noqa: F401  (registers the built-in components)

    kinds = [args.kind] if args.kind else registry.kinds()
    rows = [
        (kind, name, (d := registry.describe(kind, name)).signature, d.summary)
        for kind in kinds
        for name in registry.names(kind, args.pattern)
    ]
    if not rows:
        print(f"no components match {args.pattern!r}")
        return 1
    print(format_table(("kind", "name", "signature", "summary"), rows))
    return 0


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
