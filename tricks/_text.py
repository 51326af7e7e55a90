"""Text tables whose columns are as wide as their longest cell, so long names keep them aligned
(the ensemble, sweep and init tables)."""

from __future__ import annotations

from collections.abc import Sequence


def aligned(rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """The rows as lines, two spaces between columns, each column as wide as its longest cell.

    Args:
        rows: the cells, a header first if any; every row as long as `align`.
        align: one character per column: ``<`` flush left, ``>`` flush right.

    Examples:
        >>> print("\\n".join(aligned([["run", "acc (%)"], ["a_rather_long_run_name", "9.50"]], "<>")))
        run                     acc (%)
        a_rather_long_run_name     9.50
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(align))]
    return [
        "  ".join(
            f"{cell:{side}{width}}" for cell, side, width in zip(row, align, widths, strict=True)
        ).rstrip()
        for row in rows
    ]
